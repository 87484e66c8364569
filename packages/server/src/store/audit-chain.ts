import { createHash } from 'node:crypto';

/** The `prev_hash` of the first audit record. */
export const AUDIT_GENESIS_HASH = '0'.repeat(64);

const isPlainObject = (value: unknown): value is Record<string, unknown> => {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
};

/**
 * JSON with object keys sorted at every level and bigints written as decimal strings, so the same
 * details always give the same stored text. Throws TypeError on cycles.
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (typeof v === 'bigint') return v.toString();
    if (isPlainObject(v)) {
      const sorted: Record<string, unknown> = {};
      for (const k of Object.keys(v).sort()) sorted[k] = v[k];
      return sorted;
    }
    return v;
  });
}

export interface ChainedFields {
  readonly seq: number;
  readonly at: number;
  readonly actor: string;
  readonly action: string;
  readonly subject: string;
  readonly detailsJson: string;
}

/** SHA-256 over the previous hash and this record's stored fields; any edit changes it. */
export function auditRecordHash(prevHash: string, r: ChainedFields): string {
  const body = JSON.stringify(['mutual-audit-v1', r.seq, r.at, r.actor, r.action, r.subject, r.detailsJson]);
  return createHash('sha256').update(prevHash).update('\n').update(body).digest('hex');
}
