/** Public types of sdk/verify: the inputs of a verification and the verdict it returns. */

/** A certificate or CRL as DER bytes, or PEM text holding exactly one. */
export type CertInput = Uint8Array | string;

/** Which side of a TLS connection the leaf authenticates: `client` is the gateway's direction. */
export type Purpose = 'client' | 'server';

/** A name the leaf must carry. A bare string is an IP address if it parses as one, else a DNS name. */
export type ExpectedName = string | { readonly kind: 'DNS' | 'IP' | 'EMAIL'; readonly value: string };

export type RevocationRequirement = 'none' | 'leaf' | 'all';

export interface VerifierOptions {
  /** Trust anchors. Their constraints (basic constraints, name constraints, EKU, validity) are enforced. */
  readonly anchors: readonly CertInput[];
  /** CRLs used by every verification of this verifier (per-call CRLs are added to them). */
  readonly crls?: readonly CertInput[];
  /** Most intermediates (not counting self-issued ones) a path may hold. Default 8, never more than 8. */
  readonly maxDepth?: number;
  /** Smallest RSA modulus accepted. Default 2048; values below 2048 are raised to 2048. */
  readonly minRsaBits?: number;
  /** Parsed certificates kept (LRU, keyed by DER hash). Default 1024. */
  readonly cacheSize?: number;
  /** When a CRL is required: 'none' (check the CRLs given), 'leaf' (the leaf's issuer must have one), 'all'. */
  readonly requireCrl?: RevocationRequirement;
  /** Accept a leaf without subjectAltName (its identity is then `none`). Default false. */
  readonly allowMissingSan?: boolean;
  /** Accept a CA certificate (cA=TRUE) as the leaf. Default false (DESIGN §6: CA leaves are refused). */
  readonly allowCaLeaf?: boolean;
}

export interface VerifyRequest {
  /** The peer's certificate. */
  readonly leaf: CertInput;
  /** Untrusted certificates the peer sent (or the caller has): candidates for the path, never trusted. */
  readonly intermediates?: readonly CertInput[];
  /** Validation time. */
  readonly at: Date;
  readonly purpose: Purpose;
  /**
   * EKUs the leaf must carry (names such as `serverAuth` or dotted OIDs). Default: the purpose's
   * (`clientAuth` or `serverAuth`). Intermediates with an EKU extension must allow them too.
   */
  readonly extendedKeyUsage?: readonly string[];
  /** KeyUsage bits the leaf must have when it has a KeyUsage extension (e.g. `digitalSignature`). */
  readonly keyUsage?: readonly string[];
  /** The leaf must match at least one of these (SAN only; the subject CN is never used). */
  readonly expectedNames?: readonly ExpectedName[];
  /** The leaf must be an X509-SVID for exactly this SPIFFE ID. */
  readonly expectedSpiffeId?: string;
  readonly crls?: readonly CertInput[];
  /** Lower the verifier's maxDepth for this call. */
  readonly maxDepth?: number;
  /**
   * SPKI pins: `sha256/<base64>` of a SubjectPublicKeyInfo. At least one certificate of the
   * validated path must match. Pins are never matched on serial numbers or on unvalidated certificates.
   */
  readonly pins?: readonly string[];
}

export interface VerifyChainOptions extends VerifyRequest, Omit<VerifierOptions, 'cacheSize'> {}

export type ReasonCode =
  | 'INPUT_INVALID'
  | 'MALFORMED_CERTIFICATE'
  | 'UNSUPPORTED_VERSION'
  | 'SERIAL_INVALID'
  | 'SIGNATURE_ALGORITHM_MISMATCH'
  | 'DUPLICATE_EXTENSION'
  | 'UNKNOWN_CRITICAL_EXTENSION'
  | 'EXTENSION_CRITICALITY'
  | 'EXTENSION_INVALID'
  | 'EXPIRED'
  | 'NOT_YET_VALID'
  | 'WEAK_SIGNATURE_ALGORITHM'
  | 'UNSUPPORTED_SIGNATURE_ALGORITHM'
  | 'WEAK_KEY'
  | 'UNSUPPORTED_KEY'
  | 'BAD_SIGNATURE'
  | 'UNKNOWN_ISSUER'
  | 'ISSUER_NOT_CA'
  | 'ISSUER_KEY_USAGE'
  | 'KEY_USAGE_INCONSISTENT'
  | 'SUBJECT_INVALID'
  | 'PATH_LENGTH_EXCEEDED'
  | 'MAX_DEPTH_EXCEEDED'
  | 'CA_AS_LEAF'
  | 'LEAF_KEY_USAGE'
  | 'LEAF_EKU'
  | 'INTERMEDIATE_EKU'
  | 'SAN_MISSING'
  | 'SAN_INVALID'
  | 'NAME_MISMATCH'
  | 'NAME_CONSTRAINT_VIOLATION'
  | 'NAME_CONSTRAINT_INVALID'
  | 'NAME_CONSTRAINT_UNSUPPORTED'
  | 'NAME_CONSTRAINT_TOO_COMPLEX'
  | 'SPIFFE_ID_INVALID'
  | 'SPIFFE_SVID_INVALID'
  | 'SPIFFE_ID_MISMATCH'
  | 'REVOKED'
  | 'CRL_INVALID'
  | 'CRL_STALE'
  | 'CRL_MISSING'
  | 'PIN_MISMATCH'
  | 'BUDGET_EXHAUSTED'
  | 'TLS_NOT_AUTHORIZED';

/** The certificate a reason concerns. `index` is its position in the attempted path (0 = leaf). */
export interface CertRef {
  readonly index: number | undefined;
  readonly fingerprint: string;
  readonly subject: string;
}

export interface Reason {
  readonly code: ReasonCode;
  /** One line of detail for logs and `mutual doctor` (no secrets; names and numbers only). */
  readonly message: string;
  readonly cert: CertRef | undefined;
}

export interface PathEntry {
  readonly index: number;
  readonly fingerprint: string;
  readonly subject: string;
  readonly issuer: string;
  /** Serial number, hex. */
  readonly serial: string;
  readonly notBefore: string;
  readonly notAfter: string;
  readonly spkiSha256: string;
  readonly anchor: boolean;
}

export interface VerifiedIdentity {
  readonly type: 'spiffe' | 'dns' | 'none';
  /** The SPIFFE ID, or the first DNS SAN, or undefined. */
  readonly value: string | undefined;
  readonly spiffeId: string | undefined;
  readonly dnsNames: readonly string[];
  /** SHA-256 of the leaf's DER, hex. */
  readonly fingerprint: string;
  /** SHA-256 of the leaf's SubjectPublicKeyInfo, base64. */
  readonly spkiSha256: string;
  readonly serial: string;
  readonly issuer: string;
}

export interface VerifyResult {
  readonly ok: boolean;
  /** The validated path, leaf first, anchor last; empty when no path validated. */
  readonly path: readonly PathEntry[];
  /** The leaf's identity when `ok`; undefined otherwise. */
  readonly identity: VerifiedIdentity | undefined;
  /** Why the chain was refused (empty when `ok`). */
  readonly reasons: readonly Reason[];
}

export interface Verifier {
  verify(request: VerifyRequest): VerifyResult;
}
