import { MutualError } from '@mutual/sdk';
import { spkiSha256Hex } from '../pki/index.js';
import { ADMIN_PROFILE, type ClientAuthenticator } from './clients.js';
import { identityOf, type IssuanceService, type IssuedCertificate } from './issue.js';
import { inlinePkiWork } from './pki-work.js';
import { LEAF_PROFILES, type LeafProfile, type RequestedNames } from './policy.js';
import type { PkiWork } from './ports.js';

export interface RenewalDeps {
  readonly clients: ClientAuthenticator;
  readonly issuance: IssuanceService;
  /** How long after notAfter a certificate may still renew itself (0: never). */
  readonly graceAfterExpiryMs: number;
  /** Accept a CSR carrying the current key. Off by default: renewal rotates the key. */
  readonly allowSameKey: boolean;
  /** Lifetime of renewed admin certificates (they are outside the requesters' name policy). */
  readonly adminLifetimeMs: number;
  readonly maxCsrBytes: number;
  /** Where CSRs are parsed and checked; default in this thread. */
  readonly pki?: PkiWork;
}

export interface RenewRequest {
  /** DER of the certificate the client presented in the TLS handshake. */
  readonly clientCertificate: Uint8Array | undefined;
  readonly csr: string;
  readonly lifetimeMs?: number;
  readonly origin?: string;
}

export interface RenewalService {
  renew(request: RenewRequest): Promise<IssuedCertificate & { renewed: string }>;
}

const isLeafProfile = (p: string): p is LeafProfile => (LEAF_PROFILES as readonly string[]).includes(p);

function subsetOf(asked: RequestedNames, current: RequestedNames): boolean {
  const within = (a: readonly string[], c: readonly string[]): boolean => a.every((x) => c.includes(x));
  return (
    within(asked.dns, current.dns) &&
    within(asked.ip, current.ip) &&
    within(asked.uri, current.uri) &&
    within(asked.email, current.email)
  );
}

/**
 * Renewal by the holder of a certificate this CA issued, proven over mTLS: same identity and
 * profile, never more names, never longer than the policy, a new key unless allowed otherwise.
 * The names are checked against today's policy again, so a tightened policy stops renewals too.
 */
export function createRenewalService(deps: RenewalDeps): RenewalService {
  async function renew(request: RenewRequest): Promise<IssuedCertificate & { renewed: string }> {
    const verdict = await deps.clients.identify(request.clientCertificate, {
      graceAfterExpiryMs: deps.graceAfterExpiryMs,
    });
    if (!verdict.ok) {
      const reason = verdict.reason;
      const cause = new Error(`renewal refused: client certificate ${reason}`);
      if (reason === 'none') throw new MutualError('ERR_RENEW_CERT_REQUIRED', { cause });
      if (reason === 'revoked') throw new MutualError('ERR_RENEW_CERT_REVOKED', { cause });
      if (reason === 'expired') throw new MutualError('ERR_RENEW_CERT_EXPIRED', { cause });
      throw new MutualError('ERR_RENEW_CERT_UNKNOWN', { cause });
    }
    const current = verdict.record;
    const profile = current.profile;
    if (!isLeafProfile(profile) && profile !== ADMIN_PROFILE) {
      throw new MutualError('ERR_RENEW_CERT_NOT_RENEWABLE', { details: { profile } });
    }

    const csr = await (deps.pki ?? inlinePkiWork).parseCsr(request.csr, { maxBytes: deps.maxCsrBytes });
    if (!deps.allowSameKey && current.spkiSha256 !== null && spkiSha256Hex(csr.publicKey) === current.spkiSha256) {
      throw new MutualError('ERR_RENEW_SAME_KEY');
    }
    const currentNames: RequestedNames = {
      dns: [...current.sans.dns],
      ip: [...current.sans.ip],
      uri: [...current.sans.uri],
      email: [...current.sans.email],
    };
    const asked = csr.requestedNames;
    const askedAny = asked.dns.length + asked.ip.length + asked.uri.length + asked.email.length > 0;
    const names: RequestedNames = askedAny
      ? { dns: [...asked.dns], ip: [...asked.ip], uri: [...asked.uri], email: [...asked.email] }
      : currentNames;
    if (!subsetOf(names, currentNames) || identityOf(names).identity !== current.identity) {
      throw new MutualError('ERR_RENEW_NAMES_CHANGED', { details: { current: currentNames, asked: names } });
    }

    const actor = `cert:${current.serial}`;
    const audit = {
      actor,
      action: 'certificate.renew',
      details: {
        via: 'renew',
        renewed: current.serial,
        ...(request.origin === undefined ? {} : { origin: request.origin }),
      },
    };
    const issued = isLeafProfile(profile)
      ? await deps.issuance.issue({
          profile,
          names,
          publicKey: csr.publicKey,
          ...(request.lifetimeMs === undefined ? {} : { lifetimeMs: request.lifetimeMs }),
          requester: `renew:${current.serial}`,
          audit,
        })
      : await deps.issuance.issueTrusted({
          pkiProfile: 'client',
          recordProfile: ADMIN_PROFILE,
          names,
          publicKey: csr.publicKey,
          lifetimeMs: Math.min(request.lifetimeMs ?? deps.adminLifetimeMs, deps.adminLifetimeMs),
          requester: `renew:${current.serial}`,
          audit,
        });
    return { ...issued, renewed: current.serial };
  }
  return { renew };
}
