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
  ERR_STORE_MOVE_TARGET_NOT_EMPTY: {
    kind: 'conflict',
    status: 409,
    message: 'The target database already holds records.',
    doc: 'A store is moved only into an empty database, so the records of two CAs are never mixed. `details.tables` names the tables that hold rows. Nothing was moved; point the variable at an empty database.',
  },
  ERR_STORE_MOVE_SOURCE_BUSY: {
    kind: 'unavailable',
    status: 503,
    message: 'The SQLite inventory is being written by another process.',
    doc: 'A CA (`mutual ca serve` or `mutual up`) is probably running on it. Nothing was moved; stop it, then move the store.',
  },
  ERR_STORE_MOVE_CHAIN_BROKEN: {
    kind: 'refused',
    status: 409,
    message: 'The audit chain does not verify, so the store was not moved.',
    doc: 'A record was edited, removed or lost (`details.brokenAt`, `details.reason`); moving it would carry a broken trail into the new database as if it were whole. Nothing was moved; investigate with `mutual audit verify`.',
  },
} as const satisfies Record<string, ErrorSpec>;
