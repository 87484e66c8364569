import type { ColumnType } from 'kysely';

/** An int8 column: epoch milliseconds or counters. PostgreSQL returns these as strings, SQLite as numbers. */
export type Int8 = ColumnType<number | string, number, number>;
export type NullableInt8 = ColumnType<number | string | null, number | null, number | null>;

export interface CertificatesTable {
  serial: string;
  issuer_fingerprint: string;
  subject: string;
  common_name: string | null;
  identity_kind: string;
  identity: string | null;
  sans_json: string;
  profile: string;
  key_type: string;
  status: string;
  not_before: Int8;
  not_after: Int8;
  fingerprint_sha256: string | null;
  spki_sha256: string | null;
  pem: string | null;
  requester: string;
  created_at: Int8;
  issued_at: NullableInt8;
  revoked_at: NullableInt8;
  revocation_reason: string | null;
  failure_reason: string | null;
}

export interface TokensTable {
  jti: string;
  used_at: Int8;
  used_by_serial: string | null;
}

/** Tokens as minted (migration 0003): what they grant, never the token itself. */
export interface MintedTokensTable {
  jti: string;
  profile: string;
  names_json: string;
  minted_at: Int8;
  expires_at: Int8;
  minted_by: string;
}

export interface AuditLogTable {
  seq: Int8;
  at: Int8;
  actor: string;
  action: string;
  subject: string;
  details_json: string;
  prev_hash: string;
  hash: string;
}

/** One row (id = 1): the last sequence number and hash, so truncation of the log's tail is detected. */
export interface AuditHeadTable {
  id: number;
  seq: Int8;
  hash: string;
}

export interface CrlStateTable {
  issuer_fingerprint: string;
  number: Int8;
}

export interface SchemaMigrationsTable {
  version: number;
  name: string;
  applied_at: Int8;
}

export interface ComponentsTable {
  kind: string;
  name: string;
  reported_by: string | null;
  first_seen: Int8;
  last_seen: Int8;
  health_json: string;
  certificates_json: string;
}

export interface DiscoveredCertificatesTable {
  fingerprint_sha256: string;
  serial: string;
  subject: string;
  issuer: string;
  identity: string | null;
  not_before: Int8;
  not_after: Int8;
  pem: string;
  chain_json: string;
}

export interface SightingsTable {
  fingerprint_sha256: string;
  place: string;
  role: string;
  component: string;
  first_seen: Int8;
  last_seen: Int8;
}

export interface AuthFailuresTable {
  at: Int8;
  component: string;
  listener: string;
  stage: string;
  reason: string;
  address: string | null;
  identity: string | null;
  serial: string | null;
  fingerprint_sha256: string | null;
  issuer: string | null;
}

export interface AlertsTable {
  id: string;
  rule: string;
  key: string;
  at: Int8;
  severity: string;
  message: string;
  details_json: string;
  delivery: string;
  attempts: number;
}

export interface Database {
  certificates: CertificatesTable;
  tokens: TokensTable;
  minted_tokens: MintedTokensTable;
  audit_log: AuditLogTable;
  audit_head: AuditHeadTable;
  crl_state: CrlStateTable;
  schema_migrations: SchemaMigrationsTable;
  components: ComponentsTable;
  discovered_certificates: DiscoveredCertificatesTable;
  sightings: SightingsTable;
  auth_failures: AuthFailuresTable;
  alerts: AlertsTable;
}

export const toNumber = (value: number | string | bigint): number =>
  typeof value === 'number' ? value : Number(value);

export const toBigInt = (value: number | string | bigint): bigint =>
  typeof value === 'bigint' ? value : BigInt(value);
