import { createHash } from 'node:crypto';
import { MutualError } from '@mutual/sdk';
import type { CaCertificateRecord, CaStore, Clock } from './ports.js';

/** The profile of operator certificates: a client certificate whose inventory record says `admin`. */
export const ADMIN_PROFILE = 'admin';

/** Why a presented client certificate was not accepted (for the audit record; the client sees a code). */
export type ClientRefusal =
  'none' | 'unknown' | 'foreign-issuer' | 'not-issued' | 'revoked' | 'expired' | 'not-yet-valid';

export type ClientVerdict =
  | { readonly ok: true; readonly record: CaCertificateRecord; readonly fingerprint: string; readonly admin: boolean }
  | { readonly ok: false; readonly reason: ClientRefusal; readonly fingerprint: string | null };

export interface ClientAuthenticatorDeps {
  readonly store: Pick<CaStore, 'findByFingerprint'>;
  /** SHA-256 fingerprints of the CA certificates whose leaves this CA recognizes (the issuing intermediate). */
  readonly issuerFingerprints: ReadonlySet<string>;
  readonly clock: Clock;
}

export interface ClientAuthenticator {
  /**
   * Identifies the TLS client by the exact DER it presented (the handshake proved it holds the key):
   * the certificate must be in this CA's inventory by SHA-256 fingerprint, issued by this CA,
   * unrevoked and inside its validity (`graceAfterExpiryMs` past notAfter for renewal).
   */
  identify(leafDer: Uint8Array | undefined, options?: { graceAfterExpiryMs?: number }): Promise<ClientVerdict>;
}

export function createClientAuthenticator(deps: ClientAuthenticatorDeps): ClientAuthenticator {
  async function identify(
    leafDer: Uint8Array | undefined,
    options: { graceAfterExpiryMs?: number } = {},
  ): Promise<ClientVerdict> {
    if (leafDer === undefined || leafDer.length === 0) return { ok: false, reason: 'none', fingerprint: null };
    const fingerprint = createHash('sha256').update(leafDer).digest('hex');
    const record = await deps.store.findByFingerprint(fingerprint);
    if (record === undefined) return { ok: false, reason: 'unknown', fingerprint };
    if (!deps.issuerFingerprints.has(record.issuerFingerprint))
      return { ok: false, reason: 'foreign-issuer', fingerprint };
    if (record.status === 'revoked') return { ok: false, reason: 'revoked', fingerprint };
    if (record.status !== 'issued') return { ok: false, reason: 'not-issued', fingerprint };
    const now = deps.clock.now().getTime();
    if (now < record.notBefore.getTime()) return { ok: false, reason: 'not-yet-valid', fingerprint };
    if (now > record.notAfter.getTime() + (options.graceAfterExpiryMs ?? 0)) {
      return { ok: false, reason: 'expired', fingerprint };
    }
    const admin = record.profile === ADMIN_PROFILE && now <= record.notAfter.getTime();
    return { ok: true, record, fingerprint, admin };
  }
  return { identify };
}

/** An admin or a refusal as the catalog error the client sees. */
export function requireAdmin(verdict: ClientVerdict): CaCertificateRecord {
  if (!verdict.ok) {
    // The reason goes to the audit record (the caller writes it), not to the client.
    throw new MutualError(verdict.reason === 'none' ? 'ERR_AUTH_CLIENT_CERT_REQUIRED' : 'ERR_AUTH_CLIENT_CERT_INVALID');
  }
  if (!verdict.admin) throw new MutualError('ERR_AUTH_NOT_ADMIN');
  return verdict.record;
}
