/**
 * store: the CA's durable state — certificate inventory (intent recorded before signing), one-time
 * tokens, CRL numbers, the hash-chained audit log, component reports (sightings, failed
 * authentications) and alerts — over SQLite or PostgreSQL with one schema.
 * It never decides policy, never holds private keys or raw tokens, and never leaks a driver error:
 * callers see MutualErrors (ERR_STORE_*) with the cause kept internal.
 */
export type {
  AlertDelivery,
  AlertRecord,
  AuthFailureFilter,
  AuthFailureRecord,
  AuthFailureSummary,
  ComponentRecord,
  ComponentReport,
  DiscoveredRecord,
  KeyCount,
  ReportedAuthFailure,
  ReportedSighting,
  SeenCertificate,
  SightingPlace,
  AuditChainVerdict,
  AuditEntry,
  AuditListOptions,
  AuditRecord,
  CertificatePage,
  CertificateRecord,
  CertificateState,
  CertificateStatus,
  CompletedIssuance,
  IdentityKind,
  IssuanceIntent,
  ListFilter,
  ListedCertificate,
  MintedTokenRecord,
  PrunedCertificate,
  Revocation,
  Store,
  SubjectAltNames,
} from './types.js';
export { CERTIFICATE_STATES, DEFAULT_EXPIRING_WITHIN_MS, DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT } from './types.js';
export { openSqliteStore, type SqliteStoreOptions } from './sqlite/index.js';
export { openPostgresStore, type PostgresStoreOptions } from './postgres/index.js';
export { MIGRATIONS } from './migrations/index.js';
export { moveSqliteStoreToPostgres, type MoveReport, type MoveToPostgresOptions } from './move.js';
