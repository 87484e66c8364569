import { isMutualError } from '@mutual/sdk';
import {
  buildOcspResponse,
  ocspCertIdMatches,
  ocspErrorResponse,
  parseOcspRequest,
  type OcspRequestInfo,
  type OcspSingleResponseInput,
  type SigningKey,
} from '../pki/index.js';
import type { CaStore, Clock } from './ports.js';
import { isRevocationReason } from './revoke.js';

/** A CA level the responder answers for, with who signs its answers. */
export interface OcspLevel {
  /** The CA certificate whose certificates' status is asked (CertID issuer). */
  readonly issuerDer: Uint8Array;
  readonly issuerFingerprint: string;
  /** Signs the answers: a delegated responder certificate issued by this CA (profile `ocsp`), or the CA itself. */
  readonly signer: () => { readonly certificateDer: Uint8Array; readonly privateKey: SigningKey };
}

export interface OcspResponderDeps {
  readonly store: Pick<CaStore, 'getCertificate'>;
  readonly clock: Clock;
  /** The issuing intermediate first (leaves), then the root (the intermediate's own status). */
  readonly levels: readonly OcspLevel[];
  /** nextUpdate − thisUpdate of each answer. */
  readonly validityMs: number;
}

export interface OcspResponder {
  /** DER OCSPRequest → DER OCSPResponse (RFC 6960). Malformed requests get a `malformedRequest` response, never a throw. */
  respond(requestDer: Uint8Array): Promise<Uint8Array>;
}

/**
 * OCSP from the inventory: each CertID is matched to the CA level that issued it (issuer name and
 * key hashes), then looked up by serial — `good` for an issued certificate of that issuer, `revoked`
 * with time and reason, `unknown` for anything else (never issued here, pending, failed, another
 * CA). The store is read per request, so an answer reflects a revocation as soon as it commits.
 */
export function createOcspResponder(deps: OcspResponderDeps): OcspResponder {
  async function respond(requestDer: Uint8Array): Promise<Uint8Array> {
    let request: OcspRequestInfo;
    try {
      request = parseOcspRequest(requestDer);
    } catch (err) {
      if (isMutualError(err)) return ocspErrorResponse('malformedRequest');
      throw err;
    }
    if (request.certIds.length === 0) return ocspErrorResponse('malformedRequest');
    const now = deps.clock.now();
    const thisUpdate = new Date(Math.floor(now.getTime() / 1000) * 1000);
    const nextUpdate = new Date(thisUpdate.getTime() + deps.validityMs);

    // All CertIDs are answered by one signer: the level of the first CertID that matches one.
    let level: OcspLevel | undefined;
    const responses: OcspSingleResponseInput[] = [];
    for (const certId of request.certIds) {
      const matched = deps.levels.find((l) => ocspCertIdMatches(certId, l.issuerDer));
      level ??= matched;
      const base = { certId, thisUpdate, nextUpdate };
      if (matched === undefined || matched !== level) {
        responses.push({ ...base, status: 'unknown' });
        continue;
      }
      const record = /^[0-9a-f]{1,128}$/.test(certId.serialHex)
        ? await deps.store.getCertificate(certId.serialHex)
        : undefined;
      if (record === undefined || record.issuerFingerprint !== matched.issuerFingerprint) {
        responses.push({ ...base, status: 'unknown' });
      } else if (record.status === 'revoked' && record.revokedAt !== null) {
        const reason = record.revocationReason;
        responses.push({
          ...base,
          status: 'revoked',
          revokedAt: record.revokedAt,
          reason: reason !== null && isRevocationReason(reason) ? reason : 'unspecified',
        });
      } else if (record.status === 'issued') {
        responses.push({ ...base, status: 'good' });
      } else {
        responses.push({ ...base, status: 'unknown' });
      }
    }
    const signer = (level ?? deps.levels[0])?.signer();
    if (signer === undefined) return ocspErrorResponse('unauthorized');
    return buildOcspResponse({
      responder: signer,
      responses,
      producedAt: thisUpdate,
      ...(request.nonce === undefined ? {} : { nonce: request.nonce }),
    });
  }
  return { respond };
}
