/** Reason codes in words, for `mutual verify` and `mutual doctor`. */
import type { Reason, ReasonCode } from './types.js';

const WORDS: Readonly<Record<ReasonCode, string>> = {
  INPUT_INVALID: 'The verification request itself is invalid.',
  MALFORMED_CERTIFICATE: 'A certificate is not valid DER X.509 (truncated, non-canonical or structurally wrong).',
  UNSUPPORTED_VERSION: 'Only X.509 version 3 certificates are accepted.',
  SERIAL_INVALID: 'The serial number is negative or longer than 20 octets.',
  SIGNATURE_ALGORITHM_MISMATCH: 'The certificate names two different signature algorithms.',
  DUPLICATE_EXTENSION: 'An extension appears more than once.',
  UNKNOWN_CRITICAL_EXTENSION: 'A critical extension is not understood, so the certificate cannot be trusted.',
  EXTENSION_CRITICALITY: 'An extension has the wrong criticality for RFC 5280.',
  EXTENSION_INVALID: 'An extension is missing, empty or inconsistent.',
  EXPIRED: 'A certificate has expired at the validation time.',
  NOT_YET_VALID: 'A certificate is not yet valid at the validation time (check clocks).',
  WEAK_SIGNATURE_ALGORITHM: 'A signature uses a refused algorithm (MD5, SHA-1, SHA-224, DSA).',
  UNSUPPORTED_SIGNATURE_ALGORITHM: 'A signature uses an algorithm or parameters mutual does not accept.',
  WEAK_KEY: 'A public key is too weak (RSA below 2048 bits, small curves, DSA).',
  UNSUPPORTED_KEY: 'A public key is of a type or encoding mutual does not accept.',
  BAD_SIGNATURE: 'A signature does not verify with the issuer key.',
  UNKNOWN_ISSUER: 'No path leads to a trusted CA: an issuer is missing or the root is not trusted.',
  ISSUER_NOT_CA: 'A certificate used as an issuer is not a CA.',
  ISSUER_KEY_USAGE: 'An issuer key usage does not allow signing certificates.',
  KEY_USAGE_INCONSISTENT: 'Key usage and basic constraints contradict each other.',
  SUBJECT_INVALID: 'A CA certificate has an empty subject.',
  PATH_LENGTH_EXCEEDED: 'A CA path length constraint is exceeded.',
  MAX_DEPTH_EXCEEDED: 'The chain has more intermediates than allowed.',
  CA_AS_LEAF: 'The presented certificate is a CA certificate, not an end-entity certificate.',
  LEAF_KEY_USAGE: 'The leaf key usage does not allow this use.',
  LEAF_EKU: 'The leaf extended key usage does not allow this purpose (clientAuth/serverAuth).',
  INTERMEDIATE_EKU: 'A CA in the path restricts extended key usage and excludes this purpose.',
  SAN_MISSING: 'The leaf has no subjectAltName; mutual never falls back to the subject CN.',
  SAN_INVALID: 'A subjectAltName entry is malformed or not allowed here.',
  NAME_MISMATCH: 'The leaf is not valid for the expected name.',
  NAME_CONSTRAINT_VIOLATION: 'A name is outside what a CA name constraint allows.',
  NAME_CONSTRAINT_INVALID: 'A CA name constraint is malformed.',
  NAME_CONSTRAINT_UNSUPPORTED: 'A CA constrains a name form mutual does not process, and the chain uses that form.',
  NAME_CONSTRAINT_TOO_COMPLEX: 'Too many names against too many constraints (denial-of-service guard).',
  SPIFFE_ID_INVALID: 'The URI SAN is not a valid SPIFFE ID.',
  SPIFFE_SVID_INVALID: 'The leaf breaks the X509-SVID rules.',
  SPIFFE_ID_MISMATCH: 'The SPIFFE ID is not the expected one.',
  REVOKED: 'A certificate is revoked by its CA.',
  CRL_INVALID: 'A CRL for a CA in the path is unusable, so revocation cannot be checked (fail closed).',
  CRL_STALE: 'A CRL is past its nextUpdate, so revocation cannot be checked (fail closed).',
  CRL_MISSING: 'Revocation checking requires a CRL that was not given.',
  PIN_MISMATCH: 'No certificate of the validated path matches a pinned key.',
  BUDGET_EXHAUSTED: 'Path building stopped at its work limit (too many candidate issuers).',
  TLS_NOT_AUTHORIZED: 'OpenSSL refused the peer in the handshake (or no certificate was presented).',
};

/** One line in words for a reason: what it means, then where and the detail. */
export function describeReason(r: Reason): string {
  const where = r.cert
    ? ` (${r.cert.index === 0 ? 'leaf' : r.cert.index !== undefined ? `certificate #${r.cert.index}` : 'certificate'} ${r.cert.subject}, sha256 ${r.cert.fingerprint.slice(0, 16)}…)`
    : '';
  return `${WORDS[r.code]}${where} ${r.message}.`;
}
