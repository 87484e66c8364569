/**
 * ca: the CA's operations — name policy, issuance (intent before signing), enrollment tokens,
 * renewal, revocation, CRL content and client identification — over small ports (CaStore,
 * IssuerSigner, AuditSink, CrlBuilder) that adapters implement. It never imports store, http or
 * main, never opens sockets, and takes time and randomness as arguments.
 */
export {
  compileProfilePolicy,
  dnsPatternProblem,
  emailPatternProblem,
  spiffePathPatternProblem,
  trustDomainProblem,
  cidrProblem,
  LEAF_PROFILES,
  type LeafProfile,
  type ProfilePolicyInput,
  type CompiledProfilePolicy,
  type RequestedNames,
} from './policy.js';
export { parseIp, parseCidr, cidrContains } from './ip.js';
export {
  createIssuanceService,
  type IssuanceService,
  type IssuanceServiceDeps,
  type IssueRequest,
  type IssuedCertificate,
  type IssueAudit,
  type TrustedIssueRequest,
  type TrustedPkiProfile,
  identityOf,
} from './issue.js';
export type {
  CertificateStore,
  CaStore,
  CaCertificateRecord,
  AuditSink,
  AuditRecord,
  IssuerSigner,
  IssuanceIntent,
  PkiWork,
  Clock,
  RandomBytes,
} from './ports.js';
export {
  createTokenService,
  sameNames,
  TOKEN_ALGORITHM,
  TOKEN_TYPE,
  type TokenService,
  type TokenServiceDeps,
  type TokenClaims,
  type MintedToken,
} from './tokens.js';
export { inlinePkiWork } from './pki-work.js';
export {
  pruneExpiredCertificates,
  DEFAULT_RETENTION_BATCH,
  type PrunedRecord,
  type RetentionDeps,
  type RetentionResult,
  type RetentionStore,
} from './retention.js';
export { createEnrollmentService, type EnrollmentService, type EnrollRequest } from './enroll.js';
export { createRenewalService, type RenewalService, type RenewRequest } from './renew.js';
export {
  createRevocationService,
  isRevocationReason,
  REASON_CODES,
  type RevocationService,
  type RevokedEntry,
  type Revoker,
  type RevocationReasonName,
} from './revoke.js';
export {
  createRevocationState,
  type RevocationState,
  type CrlBuilder,
  type CrlEntryInput,
  type CrlLevel,
  type PublishedCrl,
  type FeedEvent,
} from './crl.js';
export { createOcspResponder, type OcspResponder, type OcspLevel } from './ocsp.js';
export {
  createClientAuthenticator,
  requireAdmin,
  ADMIN_PROFILE,
  type ClientAuthenticator,
  type ClientVerdict,
  type ClientRefusal,
} from './clients.js';
export {
  createCaHierarchy,
  createIntermediate,
  createRoot,
  crossCertify,
  ROOT_LIFETIME_MS,
  INTERMEDIATE_LIFETIME_MS,
  type CaHierarchy,
  type CaKeyPair,
  type CaMaterial,
} from './hierarchy.js';
