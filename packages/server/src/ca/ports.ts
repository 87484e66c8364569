import type { BuildCertificateInput, BuiltCertificate, ParseCsrOptions, ParsedCsr, SigningKey } from '../pki/index.js';

/** What the CA records before signing (the serial reserved) — written before any certificate exists. */
export interface IssuanceIntent {
  readonly serial: string;
  readonly issuerFingerprint: string;
  readonly profile: string;
  readonly subject: string;
  readonly commonName: string | null;
  readonly identityKind: 'spiffe' | 'dns' | 'none';
  readonly identity: string | null;
  readonly sans: { dns: string[]; ip: string[]; uri: string[]; email: string[] };
  readonly keyType: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly requester: string;
  readonly createdAt: Date;
}

/**
 * Port: where issuance is recorded. Intent first (a duplicate serial is refused with
 * ERR_STORE_SERIAL_CONFLICT), then the result, or the failure.
 */
export interface CertificateStore {
  reserveSerial(intent: IssuanceIntent): Promise<void>;
  completeIssuance(
    serial: string,
    result: { pem: string; fingerprintSha256: string; spkiSha256: string; issuedAt: Date },
  ): Promise<void>;
  failIssuance(serial: string, reason: string): Promise<void>;
}

/** One audit record: who did what to which subject. Never private keys or tokens (a token's jti is fine). */
export interface AuditRecord {
  readonly at: Date;
  readonly actor: string;
  readonly action: string;
  readonly subject: string;
  readonly details: Readonly<Record<string, unknown>>;
}

/** Port: the hash-chained audit log. Inside a transaction the record commits or rolls back with the change. */
export interface AuditSink {
  appendAudit(entry: AuditRecord): Promise<unknown>;
}

/** A certificate as the CA sees it in its inventory. */
export interface CaCertificateRecord {
  readonly serial: string;
  readonly issuerFingerprint: string;
  readonly profile: string;
  readonly identityKind: 'spiffe' | 'dns' | 'none';
  readonly identity: string | null;
  readonly sans: {
    readonly dns: readonly string[];
    readonly ip: readonly string[];
    readonly uri: readonly string[];
    readonly email: readonly string[];
  };
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly status: 'pending' | 'issued' | 'failed' | 'revoked';
  readonly pem: string | null;
  readonly fingerprintSha256: string | null;
  readonly spkiSha256: string | null;
  readonly revokedAt: Date | null;
  readonly revocationReason: string | null;
}

/**
 * Port: the CA's durable state beyond issuance — one-time tokens, lookups by serial and fingerprint,
 * revocation, CRL numbers — and `transaction`, which makes a change and its audit record commit
 * together or not at all. The store module satisfies it structurally.
 */
export interface CaStore extends CertificateStore, AuditSink {
  /** True exactly once per jti, across concurrent callers, instances and restarts. */
  consumeToken(jti: string, at: Date, bySerial?: string): Promise<boolean>;
  /** Records a minted token's grant (never the token), so admins can list the unused ones. */
  recordMintedToken(token: {
    jti: string;
    profile: string;
    names: { dns: readonly string[]; ip: readonly string[]; uri: readonly string[]; email: readonly string[] };
    mintedAt: Date;
    expiresAt: Date;
    mintedBy: string;
  }): Promise<void>;
  getCertificate(serial: string): Promise<CaCertificateRecord | undefined>;
  findByFingerprint(sha256: string): Promise<CaCertificateRecord | undefined>;
  markRevoked(serial: string, revocation: { reason: string; revokedAt: Date }): Promise<void>;
  nextCrlNumber(issuerFingerprint: string): Promise<bigint>;
  /** Pages of the inventory; the CA asks only for revoked certificates (for CRLs and the revocation feed). */
  listCertificates(filter: {
    now: Date;
    states?: readonly 'revoked'[];
    /** Only certificates whose notAfter is at or after this instant. */
    expiresFrom?: Date;
    limit?: number;
    cursor?: string;
  }): Promise<{ items: CaCertificateRecord[]; nextCursor: string | null }>;
  /** Audit records after `afterSeq`, in chain order (the order their transactions committed). */
  listAudit(options?: {
    afterSeq?: bigint;
    limit?: number;
  }): Promise<readonly { readonly seq: bigint; readonly action: string; readonly subject: string }[]>;
  transaction<T>(fn: (tx: CaStore) => Promise<T>): Promise<T>;
}

/** Port: the issuing CA — its certificate, the chain above it, and a key that signs. */
export interface IssuerSigner {
  readonly certificateDer: Uint8Array;
  /** Certificates above the issuer, nearest first (the root last); not sent in chains served to peers except the issuer itself. */
  readonly chainDer: readonly Uint8Array[];
  /**
   * Sent after the issuer in every chain handed out: the cross-certificates of a root rollover, so
   * relying parties that trust only the previous root still validate (`mutual ca rotate-root`).
   */
  readonly sentAfterDer?: readonly Uint8Array[];
  readonly privateKey: SigningKey;
}

/**
 * Port: the CPU-heavy pki steps of an issuance — reading a CSR with its proof of possession, and
 * building, signing and linting a certificate — so an adapter can run them on other threads. The
 * default runs them in the caller's thread (`inlinePkiWork`). Same inputs, same results, same
 * MutualErrors either way.
 */
export interface PkiWork {
  parseCsr(input: string | Uint8Array, options: ParseCsrOptions): Promise<ParsedCsr>;
  /** issueCertificate: build, sign, lint (ERR_PKI_LINT_FAILED on any finding). */
  issue(input: BuildCertificateInput): Promise<BuiltCertificate>;
}

export interface Clock {
  now(): Date;
}

export type RandomBytes = (n: number) => Uint8Array;
