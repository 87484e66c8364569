/**
 * sdk/verify: mutual's own RFC 5280 certificate-path verifier (mTLS, SPIFFE and CRL rules), run
 * after OpenSSL so it can only make a decision stricter. It must never accept what it could not
 * fully check, never throw a verdict (reasons are values), and never read the clock or the network.
 */
export { createVerifier, verifyChain, LIMITS as VERIFY_LIMITS } from './verifier.js';
export { runLimboCase, UNSUPPORTED as LIMBO_UNSUPPORTED, type LimboOutcome, type LimboVerdict } from './limbo.js';
export { describeReason } from './describe.js';
export { peerChain, verifyTlsPeer, type PeerSocket } from './tls.js';
export type {
  CertInput,
  CertRef,
  ExpectedName,
  PathEntry,
  Purpose as VerifyPurpose,
  Reason as VerifyReason,
  ReasonCode as VerifyReasonCode,
  RevocationRequirement,
  VerifiedIdentity,
  Verifier,
  VerifierOptions,
  VerifyChainOptions,
  VerifyRequest,
  VerifyResult,
} from './types.js';
