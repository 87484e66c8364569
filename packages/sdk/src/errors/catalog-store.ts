import type { ErrorSpec } from './types.js';

/** Error codes of storage (server/store). */
export const storeErrors = {
  ERR_STORE_SERIAL_CONFLICT: {
    kind: 'conflict',
    status: 409,
    message: 'A certificate with this serial number is already recorded.',
    doc: 'Two issuances drew the same serial, or a request was replayed. Nothing was written; issue again with a fresh serial.',
  },
  ERR_STORE_STATE_CONFLICT: {
    kind: 'conflict',
    status: 409,
    message: 'The certificate is not in a state that allows this change.',
    doc: 'For example completing an issuance that already completed or failed, or revoking a certificate twice. Nothing was changed; read the record again.',
  },
  ERR_STORE_FINGERPRINT_CONFLICT: {
    kind: 'conflict',
    status: 409,
    message: 'A certificate with this fingerprint is already recorded.',
    doc: 'The same certificate bytes were recorded under another serial. Nothing was changed; this points to a bug in the issuer.',
  },
  ERR_STORE_NOT_FOUND: {
    kind: 'not-found',
    status: 404,
    message: 'No certificate with this serial number is recorded.',
    doc: 'The serial is unknown to this CA. Check the serial (hexadecimal) and the CA the certificate came from.',
  },
  ERR_STORE_INVALID_CURSOR: {
    kind: 'usage',
    status: 400,
    message: 'The pagination cursor is invalid.',
    doc: 'Pass back the `nextCursor` of the previous page unchanged, or omit it to start from the first page.',
  },
  ERR_STORE_UNAVAILABLE: {
    kind: 'unavailable',
    status: 503,
    message: 'The certificate database is unavailable.',
    doc: 'The database could not be reached, opened or written (connection refused, file unreadable, locked too long, store closed). Nothing was recorded; the log has the cause. Retry once the database is back.',
  },
  ERR_STORE_FULL: {
    kind: 'unavailable',
    status: 507,
    message: 'The certificate database is out of space.',
    doc: 'The disk or database quota is full. Nothing was recorded; free space, then retry.',
  },
  ERR_STORE_MIGRATION_FAILED: {
    kind: 'unavailable',
    status: 503,
    message: 'The database schema could not be brought up to date.',
    doc: 'A schema migration failed or the database was written by a newer mutual. The failed step was rolled back; the log names it. Upgrade mutual or restore the database, then start again.',
  },
} as const satisfies Record<string, ErrorSpec>;
