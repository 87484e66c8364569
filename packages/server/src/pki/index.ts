/**
 * pki: builds and signs X.509 certificates by profile, parses and checks CSRs, lints what it builds,
 * builds and parses CRLs, parses OCSP requests and builds OCSP responses. It is pure: it never reads
 * a clock, files, the network or a global random source — `now` and random bytes are arguments —
 * and it never copies a CSR's extensions into a certificate.
 */
export {
  buildCertificate,
  expectedExtKeyUsage,
  expectedKeyUsage,
  isCaProfile,
  needsNames,
  PROFILES,
  type BuildCertificateInput,
  type BuiltCertificate,
  type Issuer,
  type Profile,
} from './certificate.js';
export { issueCertificate, sha256Hex, type IssueOptions } from './issue.js';
export { lintCertificate, type LintFinding, type LintInput } from './lint.js';
export { parseCsr, DEFAULT_MAX_CSR_BYTES, type ParsedCsr, type ParseCsrOptions } from './csr.js';
export { generateSerial } from './serial.js';
export { publicKeyOf, rememberSpki, spkiBytes, spkiSha256Hex } from './keycache.js';
export { isExternalKey, type ExternalPrivateKey, type SigningKey } from './algorithms.js';
export {
  computeValidity,
  DEFAULT_BACKDATE_MS,
  MAX_BACKDATE_MS,
  MAX_LIFETIME_MS,
  type Validity,
  type ValidityInput,
} from './validity.js';
export {
  validateNames,
  parseIp,
  formatIp,
  type DistinguishedName,
  type SubjectNames,
  type ValidatedNames,
} from './names.js';
export {
  buildCrl,
  createCrlEncoder,
  parseCrl,
  parseCrlInSlices,
  verifyCrlSignature,
  crlIssuerOf,
  CRL_REASON_CODES,
  DEFAULT_MAX_CRL_BYTES,
  type BuildCrlInput,
  type BuiltCrl,
  type CrlEncoder,
  type CrlReason,
  type ParseCrlOptions,
  type ParsedCrl,
  type ParsedCrlEntry,
  type RevocationReason,
  type RevokedEntry,
} from './crl.js';
export {
  buildOcspRequest,
  buildOcspResponse,
  ocspCertId,
  ocspCertIdMatches,
  ocspErrorResponse,
  parseOcspRequest,
  DEFAULT_MAX_OCSP_CERT_IDS,
  DEFAULT_MAX_OCSP_REQUEST_BYTES,
  type BuildOcspResponseInput,
  type OcspCertId,
  type OcspCertStatus,
  type OcspErrorStatus,
  type OcspHashAlgorithm,
  type OcspRequestInfo,
  type OcspSingleResponseInput,
  type ParseOcspRequestOptions,
} from './ocsp.js';
