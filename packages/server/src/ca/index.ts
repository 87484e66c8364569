/**
 * ca: issuance rules — name policy per profile, validity, serials, intent-before-signing —
 * over small ports (CertificateStore, IssuerSigner) that adapters implement. It never imports
 * store, http or main, never opens sockets, and takes time and randomness as arguments.
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
} from './issue.js';
export type { CertificateStore, IssuerSigner, IssuanceIntent, Clock, RandomBytes } from './ports.js';
export {
  createCaHierarchy,
  ROOT_LIFETIME_MS,
  INTERMEDIATE_LIFETIME_MS,
  type CaHierarchy,
  type CaMaterial,
} from './hierarchy.js';
