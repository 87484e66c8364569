/**
 * @mutual/server: the CA and the gateway. Modules: pki (pure X.509), ca (issuance rules and ports),
 * store (SQLite and PostgreSQL), keys (issuer signers), config (validated, frozen configuration),
 * main (composition roots). Import each through its own index.ts.
 */
export * from './main/index.js';
export {
  loadCaConfig,
  parseDuration,
  formatDuration,
  KEY_TYPES,
  caConfigJsonSchema,
  type CaConfig,
} from './config/index.js';
export { parseIp, LEAF_PROFILES, type LeafProfile, type IssuedCertificate, type RequestedNames } from './ca/index.js';
export { parseCsr, type ParsedCsr } from './pki/index.js';
export { openSqliteStore, openPostgresStore, type Store, type CertificateRecord, type CertificateState } from './store/index.js';
