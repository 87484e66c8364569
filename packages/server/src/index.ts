/**
 * @mutual/server: the CA and the gateway. Modules: pki (pure X.509), ca (issuance, tokens, renewal,
 * revocation and their ports), store (SQLite and PostgreSQL), keys (issuer signers), config
 * (validated, frozen configuration), http (the CA's API v1), main (composition roots). Import each
 * through its own index.ts.
 */
export * from './main/index.js';
export { resolveSecret } from './keys/index.js';
export {
  loadCaConfig,
  parseDuration,
  formatDuration,
  KEY_TYPES,
  caConfigJsonSchema,
  parseConfigText,
  validateConfig,
  type CaConfig,
} from './config/index.js';
export { parseIp, LEAF_PROFILES, type LeafProfile, type IssuedCertificate, type RequestedNames } from './ca/index.js';
export { parseCsr, lintCertificate, sha256Hex, type ParsedCsr, type LintFinding } from './pki/index.js';
export {
  openSqliteStore,
  openPostgresStore,
  type Store,
  type CertificateRecord,
  type CertificateState,
  type AuditRecord,
} from './store/index.js';
export { loadGatewayConfig, gatewayConfigSchema, type GatewayConfig } from './config/index.js';
export type { TunnelConnectionEvent } from './tunnel/index.js';
export type { GatewayAuditRecord, GatewayCheckReport, ReloadResult as GatewayReloadResult } from './gateway/index.js';
