import type { AuditSink, Clock } from './ports.js';

/** A certificate record removed from the inventory (see Store.pruneExpiredCertificates). */
export interface PrunedRecord {
  readonly serial: string;
  readonly status: 'issued' | 'revoked' | 'failed';
  readonly notAfter: Date;
}

/** Port: what the retention pass needs of the store. */
export interface RetentionStore {
  pruneExpiredCertificates(before: Date, limit?: number): Promise<readonly PrunedRecord[]>;
  transaction<T>(fn: (tx: RetentionStore & AuditSink) => Promise<T>): Promise<T>;
}

export interface RetentionDeps {
  readonly store: RetentionStore;
  readonly clock: Clock;
  /** How long a certificate's record is kept after its notAfter (the `inventory.keepExpired` setting). */
  readonly keepExpiredMs: number;
  /** Records deleted per transaction (and named in one audit record). */
  readonly batch?: number;
  /** Who runs the pass, as the audit records name it. */
  readonly actor?: string;
}

export interface RetentionResult {
  /** Records deleted, by status at deletion. */
  readonly pruned: { readonly issued: number; readonly revoked: number; readonly failed: number };
  /** Certificates whose notAfter is before this instant were eligible. */
  readonly before: Date;
  /** Audit records written (one per batch that deleted anything). */
  readonly batches: number;
}

/**
 * Records per batch. Each batch's DELETE runs on the event loop (SQLite's driver is synchronous):
 * on a 1,000,000-record inventory 500 records cost ~140 ms, so batches are kept at 250.
 */
export const DEFAULT_RETENTION_BATCH = 250;

/**
 * Deletes the inventory records of certificates that expired more than `keepExpiredMs` ago, in
 * batches: each batch is one transaction that deletes at most `batch` records and appends one audit
 * record naming every serial it removed, so the deletion and its evidence commit together (no
 * deletion without a record; a failed audit append leaves the records in place). Issuance and
 * revocation run between batches. The audit log itself is never pruned: what each certificate
 * was, and when it was issued and revoked, stays in its own records there.
 */
export async function pruneExpiredCertificates(deps: RetentionDeps): Promise<RetentionResult> {
  const batch = deps.batch ?? DEFAULT_RETENTION_BATCH;
  const before = new Date(deps.clock.now().getTime() - deps.keepExpiredMs);
  const pruned = { issued: 0, revoked: 0, failed: 0 };
  let batches = 0;
  for (;;) {
    const removed = await deps.store.transaction(async (tx) => {
      const rows = await tx.pruneExpiredCertificates(before, batch);
      if (rows.length === 0) return rows;
      const counts = { issued: 0, revoked: 0, failed: 0 };
      for (const row of rows) counts[row.status] += 1;
      await tx.appendAudit({
        at: deps.clock.now(),
        actor: deps.actor ?? 'ca-server',
        action: 'certificates.prune',
        subject: `expired-before:${before.toISOString()}`,
        details: {
          before: before.toISOString(),
          keepExpiredMs: deps.keepExpiredMs,
          count: rows.length,
          ...counts,
          serials: rows.map((r) => r.serial),
        },
      });
      return rows;
    });
    if (removed.length === 0) break;
    batches += 1;
    for (const row of removed) pruned[row.status] += 1;
    if (removed.length < batch) break;
  }
  return { pruned, before, batches };
}
