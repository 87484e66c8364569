/** The names a certificate may carry, as recorded at issuance. */
export interface SubjectAltNames {
  readonly dns: readonly string[];
  readonly ip: readonly string[];
  readonly uri: readonly string[];
  readonly email: readonly string[];
}

export type IdentityKind = 'spiffe' | 'dns' | 'none';

/** What the CA is about to sign, recorded before signing so a crash never loses or duplicates a certificate. */
export interface IssuanceIntent {
  /** Lowercase hexadecimal, without separators or leading `0x`. */
  readonly serial: string;
  readonly issuerFingerprint: string;
  readonly profile: string;
  readonly subject: string;
  readonly commonName: string | null;
  readonly identityKind: IdentityKind;
  /** The SPIFFE ID, or the first DNS name, or null. */
  readonly identity: string | null;
  readonly sans: SubjectAltNames;
  readonly keyType: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly requester: string;
  readonly createdAt: Date;
}

export type CertificateStatus = 'pending' | 'issued' | 'failed' | 'revoked';

export interface CertificateRecord extends IssuanceIntent {
  readonly status: CertificateStatus;
  readonly pem: string | null;
  readonly fingerprintSha256: string | null;
  readonly spkiSha256: string | null;
  readonly issuedAt: Date | null;
  readonly revokedAt: Date | null;
  readonly revocationReason: string | null;
  readonly failureReason: string | null;
}

/**
 * What a user sees: pending/failed/revoked from the status; for issued certificates valid, expiring or
 * expired from notAfter against `now` (expiring = notAfter within the expiring window; a certificate is
 * valid through notAfter inclusive, RFC 5280 §4.1.2.5).
 */
export type CertificateState = 'valid' | 'expiring' | 'expired' | 'revoked' | 'pending' | 'failed';

export const CERTIFICATE_STATES: readonly CertificateState[] = Object.freeze([
  'valid',
  'expiring',
  'expired',
  'revoked',
  'pending',
  'failed',
]);

export const DEFAULT_EXPIRING_WITHIN_MS = 7 * 24 * 60 * 60 * 1000;
export const DEFAULT_LIST_LIMIT = 100;
export const MAX_LIST_LIMIT = 1000;

export interface ListFilter {
  readonly now: Date;
  readonly states?: readonly CertificateState[];
  /** Defines 'expiring' as "expires within this window". Default: within 7 days and less than a third of its lifetime left. */
  readonly expiringWithinMs?: number;
  /** Only certificates whose notAfter is strictly before this instant. */
  readonly expiresBefore?: Date;
  readonly profile?: string;
  readonly identity?: string;
  /** Case-insensitive substring of serial, subject, identity, names or fingerprint. */
  readonly search?: string;
  /** Default 100; values above 1000 are capped at 1000. */
  readonly limit?: number;
  /** The `nextCursor` of the previous page. */
  readonly cursor?: string;
}

export type ListedCertificate = CertificateRecord & { readonly state: CertificateState };

export interface CertificatePage {
  readonly items: ListedCertificate[];
  /** Null when this page is the last one. */
  readonly nextCursor: string | null;
}

export interface CompletedIssuance {
  readonly pem: string;
  readonly fingerprintSha256: string;
  readonly spkiSha256: string;
  readonly issuedAt: Date;
}

export interface Revocation {
  readonly reason: string;
  readonly revokedAt: Date;
}

export interface AuditEntry {
  readonly at: Date;
  readonly actor: string;
  readonly action: string;
  readonly subject: string;
  /** JSON-compatible; never private keys or tokens. Stored with sorted keys. */
  readonly details: Readonly<Record<string, unknown>>;
}

/** A stored audit record: the entry with its place in the chain. */
export interface AuditRecord extends AuditEntry {
  readonly seq: bigint;
  readonly prevHash: string;
  readonly hash: string;
}

/** Which audit records to list: a window of sequence numbers, an action, a subject, and the order. */
export interface AuditListOptions {
  /** Only records after this sequence number. */
  readonly afterSeq?: bigint;
  /** Only records before this sequence number. */
  readonly beforeSeq?: bigint;
  readonly action?: string;
  readonly subject?: string;
  /** Default 100, capped at 1000. */
  readonly limit?: number;
  /** `asc` (chain order, the default) or `desc` (newest first). */
  readonly order?: 'asc' | 'desc';
}

/** A minted enrollment token as recorded: what it grants, never the token itself. */
export interface MintedTokenRecord {
  readonly jti: string;
  readonly profile: string;
  readonly names: SubjectAltNames;
  readonly mintedAt: Date;
  readonly expiresAt: Date;
  /** The actor that minted it (`admin:<serial>`, `admin-session:<id>`, `cli:…`). */
  readonly mintedBy: string;
}

export type AuditChainVerdict =
  | { readonly ok: true; readonly count: number }
  | { readonly ok: false; readonly brokenAt: bigint; readonly reason: string };

/**
 * One storage interface over SQLite and PostgreSQL. Every method is atomic on its own; `transaction`
 * groups several (for example a revocation and its audit record) so that all or none are written.
 */
export interface Store {
  readonly dialect: 'sqlite' | 'postgres';
  /** Records an intent before signing. A serial already recorded → ERR_STORE_SERIAL_CONFLICT. */
  reserveSerial(intent: IssuanceIntent): Promise<void>;
  /** pending → issued. Unknown serial → ERR_STORE_NOT_FOUND; any other state → ERR_STORE_STATE_CONFLICT. */
  completeIssuance(serial: string, result: CompletedIssuance): Promise<void>;
  /** pending → failed. */
  failIssuance(serial: string, reason: string): Promise<void>;
  getCertificate(serial: string): Promise<CertificateRecord | undefined>;
  findByFingerprint(sha256: string): Promise<CertificateRecord | undefined>;
  /** Keyset pagination ordered by notAfter, then serial. */
  listCertificates(filter: ListFilter): Promise<CertificatePage>;
  countByState(now: Date, expiringWithinMs?: number): Promise<Record<CertificateState, number>>;
  /** Intents created before `olderThan` that never completed: left by a crash, to resolve at startup. */
  listPending(olderThan: Date): Promise<CertificateRecord[]>;
  /** issued → revoked. */
  markRevoked(serial: string, revocation: Revocation): Promise<void>;
  /** True exactly once per jti, across concurrent callers, instances and restarts. */
  consumeToken(jti: string, at: Date, bySerial?: string): Promise<boolean>;
  /** 1, 2, 3, … per issuer; strictly increasing across concurrent callers and instances. */
  nextCrlNumber(issuerFingerprint: string): Promise<bigint>;
  /** Appends a hash-chained record; inside `transaction` it commits or rolls back with the change. */
  appendAudit(entry: AuditEntry): Promise<{ seq: bigint; hash: string }>;
  /**
   * Records after `afterSeq` and before `beforeSeq`, of one action or subject if given, oldest first
   * (or newest first with `order: 'desc'`), at most `limit` (default 100, max 1000).
   */
  listAudit(options?: AuditListOptions): Promise<AuditRecord[]>;
  /** Records a minted token (its jti, grant, expiry and minter; never the token). A repeated jti → ERR_STORE_STATE_CONFLICT. */
  recordMintedToken(token: MintedTokenRecord): Promise<void>;
  /** Minted tokens not yet used and not expired at `now`, soonest expiry first, at most `limit` (default 100, max 1000). */
  listUnusedTokens(now: Date, limit?: number): Promise<MintedTokenRecord[]>;
  /** Recomputes the chain: detects edited, deleted, reordered or truncated records. */
  verifyAuditChain(): Promise<AuditChainVerdict>;
  /**
   * Runs `fn` in one database transaction: everything done through `tx` commits together or not at all.
   * Inside `fn` use `tx` only (the outer store refuses to be used there); a nested call joins the outer
   * transaction.
   */
  transaction<T>(fn: (tx: Store) => Promise<T>): Promise<T>;
  /** Closes connections. Idempotent; later calls fail with ERR_STORE_UNAVAILABLE. */
  close(): Promise<void>;
}
