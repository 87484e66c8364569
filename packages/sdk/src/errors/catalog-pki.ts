import type { ErrorSpec } from './types.js';

/** Error codes of certificate building, CSR parsing, profiles, lint, CRLs and OCSP (server/pki). */
export const pkiErrors = {
  ERR_CSR_MALFORMED: {
    kind: 'usage',
    status: 400,
    message: 'The certificate signing request is malformed.',
    doc: 'The CSR is not one strict-DER PKCS#10 request (PEM "CERTIFICATE REQUEST" or DER): truncated, trailing bytes, bad structure, or a requested name with a NUL, CR, LF or non-ASCII byte. Regenerate it (for example `mutual csr` or `openssl req -new`).',
  },
  ERR_CSR_TOO_LARGE: {
    kind: 'usage',
    status: 413,
    message: 'The certificate signing request is too large.',
    doc: 'The CSR exceeds the size cap (64 KiB by default). Real requests are a few kilobytes; check what is being sent.',
  },
  ERR_CSR_SIGNATURE_INVALID: {
    kind: 'refused',
    status: 422,
    message: 'The certificate signing request signature does not verify.',
    doc: 'Proof of possession failed: the CSR was not signed by the private key of the public key it carries (or it was altered). Sign the CSR with the key the certificate is for.',
  },
  ERR_CSR_WEAK_SIGNATURE: {
    kind: 'refused',
    status: 422,
    message: 'The certificate signing request uses a weak signature algorithm.',
    doc: 'MD5 and SHA-1 signatures are refused. Sign the CSR with SHA-256 or better (ECDSA, RSA PKCS#1 v1.5 or PSS) or with Ed25519.',
  },
  ERR_CSR_SIGNATURE_UNSUPPORTED: {
    kind: 'refused',
    status: 422,
    message: 'The certificate signing request uses an unsupported signature algorithm.',
    doc: 'The CSR signature algorithm is not one mutual verifies (ECDSA with SHA-256/384/512, RSA PKCS#1 v1.5 or PSS with SHA-256/384/512, Ed25519), or does not fit the key. details.algorithm names it.',
  },
  ERR_CSR_NAME_UNSUPPORTED: {
    kind: 'refused',
    status: 422,
    message: 'The certificate signing request asks for a kind of name mutual does not issue.',
    doc: 'The CSR subjectAltName holds an otherName, directoryName, x400Address, ediPartyName or registeredID. mutual issues DNS, IP, URI and email names only; remove the others.',
  },
  ERR_CRL_MALFORMED: {
    kind: 'usage',
    status: 400,
    message: 'The certificate revocation list is malformed.',
    doc: 'The CRL is not one strict-DER X.509 v2 CRL (RFC 5280 §5): truncated, trailing bytes, bad structure, a serial that is not a positive integer of at most 20 octets, a time or reason code out of profile, a repeated extension, or no CRL number or nextUpdate. details.reason says what. Fetch it again from its issuer; a CRL mutual built never fails this.',
  },
  ERR_CRL_TOO_LARGE: {
    kind: 'usage',
    status: 413,
    message: 'The certificate revocation list is too large.',
    doc: 'The CRL exceeds the size cap of the reader (details.maxBytes), or a source holds more CRLs than are read from one (details.maxCrls, 64 for a gateway source). Check what is being served as a CRL, or raise the cap where the caller allows it.',
  },
  ERR_CRL_UNSUPPORTED: {
    kind: 'refused',
    status: 422,
    message: 'The certificate revocation list uses a feature mutual does not process.',
    doc: "The CRL is a v1 CRL, or carries a critical extension mutual does not process (delta CRL indicator, issuing distribution point, an indirect CRL's certificate issuer, or an unknown one). RFC 5280 forbids using such a CRL, so it is refused rather than half-read. details.extension names it.",
  },
  ERR_CRL_INPUT_INVALID: {
    kind: 'internal',
    status: 500,
    message: 'The CRL could not be built from its input.',
    doc: 'buildCrl got a serial that is not a positive integer of at most 20 octets, the same serial twice, an invalid date, nextUpdate not after thisUpdate, or a CRL number outside 0 to 2^159. This is a bug in the caller; details.reason says which.',
  },
  ERR_OCSP_MALFORMED: {
    kind: 'usage',
    status: 400,
    message: 'The OCSP request is malformed.',
    doc: 'The body is not one strict-DER OCSPRequest (RFC 6960 §4.1): truncated, trailing bytes, bad structure, a hash of the wrong length, a repeated extension or a nonce outside 1 to 32 octets (RFC 8954). The responder answers `malformedRequest`. details.reason says what.',
  },
  ERR_OCSP_TOO_LARGE: {
    kind: 'usage',
    status: 413,
    message: 'The OCSP request is too large.',
    doc: 'The request exceeds the size cap (8 KiB by default) or asks about more certificates than the responder answers at once (10 by default; details.maxCertIds). Ask about fewer certificates per request.',
  },
  ERR_OCSP_UNSUPPORTED: {
    kind: 'usage',
    status: 400,
    message: 'The OCSP request uses a feature mutual does not answer.',
    doc: 'The request is not version 1, identifies a certificate with a hash other than SHA-1 or SHA-256 or by a serial that is not a positive integer (RFC 5280 §4.1.2.2), or carries a critical extension mutual does not process. details.reason says which. Use `openssl ocsp` defaults or SHA-256 CertIDs.',
  },
  ERR_OCSP_INPUT_INVALID: {
    kind: 'internal',
    status: 500,
    message: 'The OCSP response could not be built from its input.',
    doc: 'buildOcspResponse got no responses, a CertID whose hashes have the wrong length or whose serial is not hex of INTEGER octets, an invalid date, a revoked status without its time, or a nonce outside 1 to 32 octets. This is a bug in the caller; details.reason says which.',
  },
  ERR_PKI_NAME_INVALID: {
    kind: 'usage',
    status: 400,
    message: 'A certificate name is invalid.',
    doc: 'A DNS name, IP address, URI, SPIFFE ID or email address is malformed, too long or an unsafe wildcard (only `*.` as the whole leftmost label, with two labels after it). details.type, details.name and details.reason say which and why.',
  },
  ERR_PKI_NAMES_EMPTY: {
    kind: 'usage',
    status: 400,
    message: 'A leaf certificate needs at least one name.',
    doc: 'Server and client certificates are issued for at least one DNS name, IP address, URI (SPIFFE ID) or email address. Ask for one.',
  },
  ERR_PKI_SUBJECT_INVALID: {
    kind: 'usage',
    status: 400,
    message: 'The certificate subject is invalid.',
    doc: 'A subject attribute is empty, longer than 64 characters, has control characters, the country is not two uppercase letters, a CA subject is empty, or a leaf common name is not one of its names. details.field names it.',
  },
  ERR_PKI_PROFILE_INVALID: {
    kind: 'usage',
    status: 400,
    message: 'The certificate profile does not fit the request.',
    doc: 'The profile is unknown, a root is not self-signed (or a non-root is), or an option is given that the profile does not take (a path length on a leaf). details.reason says which.',
  },
  ERR_PKI_LIFETIME_INVALID: {
    kind: 'usage',
    status: 400,
    message: 'The certificate lifetime is invalid.',
    doc: 'The lifetime is zero, negative or longer than 50 years, the backdate is outside 0–60 s, a date is invalid, or notBefore is not before notAfter. Fix the configured lifetime.',
  },
  ERR_PKI_SERIAL_INVALID: {
    kind: 'internal',
    status: 500,
    message: 'The certificate serial number is invalid.',
    doc: 'A serial number is not a positive DER INTEGER of 1 to 20 octets, or the random source returned too few or constant bytes. This is a bug or a broken random source; please report it.',
  },
  ERR_PKI_ISSUER_EXPIRED: {
    kind: 'unavailable',
    status: 503,
    message: 'The issuing CA certificate is expired or not yet valid.',
    doc: 'The issuer certificate is not valid at the time of issuance (or expires within a second), so nothing can be issued under it. Rotate the intermediate (`mutual ca rotate-intermediate`) or check the clock.',
  },
  ERR_PKI_ISSUER_INVALID: {
    kind: 'config',
    status: 500,
    message: 'The issuing CA certificate or key cannot issue.',
    doc: 'The issuer certificate is malformed, is not a CA, has no keyCertSign usage or no subject key identifier, or its private key does not match its public key. Check the CA files.',
  },
  ERR_PKI_LINT_FAILED: {
    kind: 'internal',
    status: 500,
    message: 'An issued certificate failed the certificate lint.',
    doc: 'mutual checks every certificate it builds before returning it; one broke a rule, so it was discarded and nothing was issued. This is a bug: details.findings lists the rules; please report it.',
  },
} as const satisfies Record<string, ErrorSpec>;
