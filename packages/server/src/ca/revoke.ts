import { MutualError } from '@mutual/sdk';
import type { CaCertificateRecord, CaStore, Clock } from './ports.js';

/** RFC 5280 §5.3.1 CRLReason names (as on the wire) and their codes. */
export const REASON_CODES = {
  unspecified: 0,
  keyCompromise: 1,
  caCompromise: 2,
  affiliationChanged: 3,
  superseded: 4,
  cessationOfOperation: 5,
  certificateHold: 6,
  privilegeWithdrawn: 9,
} as const;
export type RevocationReasonName = keyof typeof REASON_CODES;

export const isRevocationReason = (r: string): r is RevocationReasonName => Object.hasOwn(REASON_CODES, r);

/** A committed revocation, as pushed to subscribers and listed in CRLs. */
export interface RevokedEntry {
  readonly serial: string;
  readonly issuerFingerprint: string;
  readonly revokedAt: Date;
  readonly reason: RevocationReasonName;
  /** Until when the entry must stay on the CRL (the certificate's notAfter). */
  readonly notAfter: Date;
}

export type Revoker =
  | { readonly kind: 'admin'; readonly serial: string }
  /** An admin signed in to the dashboard by a one-time login link (no certificate): `session` names the session. */
  | { readonly kind: 'admin-session'; readonly session: string }
  | { readonly kind: 'holder'; readonly serial: string; readonly fingerprint: string };

export interface RevocationDeps {
  readonly store: CaStore;
  readonly clock: Clock;
  /** Certificates that are never revoked through the API (the root and the issuing intermediate). */
  readonly protectedFingerprints: ReadonlySet<string>;
}

export interface RevocationService {
  /** Revokes and audits in one transaction, then tells every listener (CRL, OCSP, feed). */
  revoke(input: { serial: string; reason: RevocationReasonName; by: Revoker; origin?: string }): Promise<RevokedEntry>;
  /** Called after each committed revocation, in order; a listener's failure never undoes the revocation. */
  onRevoked(listener: (entry: RevokedEntry) => void | Promise<void>): () => void;
}

export const entryOf = (record: CaCertificateRecord): RevokedEntry | undefined =>
  record.status === 'revoked' && record.revokedAt !== null
    ? {
        serial: record.serial,
        issuerFingerprint: record.issuerFingerprint,
        revokedAt: record.revokedAt,
        reason:
          record.revocationReason !== null && isRevocationReason(record.revocationReason)
            ? record.revocationReason
            : 'unspecified',
        notAfter: record.notAfter,
      }
    : undefined;

export function createRevocationService(deps: RevocationDeps): RevocationService {
  const listeners = new Set<(entry: RevokedEntry) => void | Promise<void>>();

  async function revoke(input: {
    serial: string;
    reason: RevocationReasonName;
    by: Revoker;
    origin?: string;
  }): Promise<RevokedEntry> {
    const serial = input.serial.toLowerCase();
    if (!isRevocationReason(input.reason)) {
      throw new MutualError('ERR_HTTP_INVALID_REQUEST', { details: { field: 'reason' } });
    }
    const entry = await deps.store.transaction(async (tx) => {
      const record = await tx.getCertificate(serial);
      if (record === undefined) throw new MutualError('ERR_REVOKE_NOT_FOUND', { details: { serial } });
      if (input.by.kind === 'holder') {
        if (record.fingerprintSha256 !== input.by.fingerprint) throw new MutualError('ERR_REVOKE_FORBIDDEN');
        if (input.reason === 'caCompromise') {
          throw new MutualError('ERR_REVOKE_NOT_ALLOWED', { details: { reason: input.reason } });
        }
      }
      if (record.status === 'revoked') throw new MutualError('ERR_REVOKE_ALREADY_REVOKED', { details: { serial } });
      if (record.status !== 'issued') throw new MutualError('ERR_REVOKE_NOT_ISSUED', { details: { serial } });
      if (
        record.profile === 'root' ||
        record.profile === 'intermediate' ||
        (record.fingerprintSha256 !== null && deps.protectedFingerprints.has(record.fingerprintSha256))
      ) {
        throw new MutualError('ERR_REVOKE_NOT_ALLOWED', { details: { serial, profile: record.profile } });
      }
      const revokedAt = deps.clock.now();
      await tx.markRevoked(serial, { reason: input.reason, revokedAt });
      await tx.appendAudit({
        at: revokedAt,
        actor:
          input.by.kind === 'admin'
            ? `admin:${input.by.serial}`
            : input.by.kind === 'admin-session'
              ? `admin-session:${input.by.session}`
              : `cert:${input.by.serial}`,
        action: 'certificate.revoke',
        subject: serial,
        details: {
          reason: input.reason,
          reasonCode: REASON_CODES[input.reason],
          by: input.by.kind === 'holder' ? 'holder' : 'admin',
          profile: record.profile,
          identity: record.identity,
          ...(input.origin === undefined ? {} : { origin: input.origin }),
        },
      });
      const result: RevokedEntry = {
        serial,
        issuerFingerprint: record.issuerFingerprint,
        revokedAt,
        reason: input.reason,
        notAfter: record.notAfter,
      };
      return result;
    });
    for (const listener of listeners) {
      try {
        await listener(entry);
      } catch {
        // A listener (CRL rebuild, feed) failing must not turn a committed revocation into an error;
        // the periodic refresh repairs it and the listener logs its own failure.
      }
    }
    return entry;
  }

  return {
    revoke,
    onRevoked(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}
