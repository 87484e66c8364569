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
  /** Only certificates whose notAfter is at or after this instant (not expired then). */
  readonly expiresFrom?: Date;
  readonly profile?: string;
  readonly identity?: string;
  /** Only certificates signed by one of these issuers (SHA-256 of the issuer certificate, hex); at most 100. */
  readonly issuers?: readonly string[];
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

/** A certificate a component saw in use, parsed by the caller (http) from the DER it presented. */
export interface SeenCertificate {
  readonly fingerprintSha256: string;
  readonly serial: string;
  readonly subject: string;
  readonly issuer: string;
  readonly identity: string | null;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** The leaf. */
  readonly pem: string;
  /** What was presented with it (leaf first). */
  readonly chain: readonly string[];
}

export interface ReportedSighting {
  readonly certificate: SeenCertificate;
  /** `gateway edge 0.0.0.0:8444`, `db.internal:5432`, `/etc/app/tls.crt`. */
  readonly place: string;
  /** server | client | file. */
  readonly role: string;
  readonly at: Date;
}

export interface ReportedAuthFailure {
  readonly at: Date;
  readonly listener: string;
  /** handshake | request. */
  readonly stage: string;
  readonly reason: string;
  readonly address: string | null;
  readonly identity: string | null;
  readonly serial: string | null;
  readonly fingerprintSha256: string | null;
  readonly issuer: string | null;
}

/** One report of a component, written in one transaction. */
export interface ComponentReport {
  readonly kind: string;
  readonly name: string;
  /** Identity (or `admin:<serial>`) of the certificate the report came with. */
  readonly reportedBy: string | null;
  readonly at: Date;
  /** JSON-compatible health object, stored as given. */
  readonly health: Readonly<Record<string, unknown>>;
  /** JSON-compatible managed certificates, stored as given (replaces the previous list). */
  readonly certificates: readonly unknown[];
  readonly sightings: readonly ReportedSighting[];
  readonly authFailures: readonly ReportedAuthFailure[];
}

export interface ComponentRecord {
  readonly kind: string;
  readonly name: string;
  readonly reportedBy: string | null;
  readonly firstSeen: Date;
  readonly lastSeen: Date;
  readonly health: Record<string, unknown>;
  readonly certificates: unknown[];
}

export interface SightingPlace {
  readonly where: string;
  readonly role: string;
  readonly component: string;
  readonly firstSeen: Date;
  readonly lastSeen: Date;
}

/** A certificate discovered in use, with every place it was seen. */
export interface DiscoveredRecord extends SeenCertificate {
  readonly places: readonly SightingPlace[];
}

/** since ≤ at ≤ until. */
export interface AuthFailureFilter {
  readonly since: Date;
  readonly until: Date;
  readonly reason?: string;
  readonly identity?: string;
  readonly address?: string;
}

export interface AuthFailureRecord extends ReportedAuthFailure {
  readonly component: string;
}

export interface KeyCount {
  readonly key: string;
  readonly count: number;
}

export interface AuthFailureSummary {
  readonly total: number;
  readonly byReason: KeyCount[];
  readonly byIdentity: KeyCount[];
  readonly byAddress: KeyCount[];
  /** Non-empty hours only, oldest first; `start` is the hour's first millisecond. */
  readonly hourly: { readonly start: Date; readonly count: number }[];
  /** Newest first. */
  readonly recent: AuthFailureRecord[];
}

export type AlertDelivery = 'pending' | 'delivered' | 'failed' | 'none';

export interface AlertRecord {
  readonly id: string;
  readonly rule: string;
  readonly key: string;
  readonly at: Date;
  readonly severity: 'warning' | 'critical';
  readonly message: string;
  readonly details: Readonly<Record<string, unknown>>;
  readonly delivery: AlertDelivery;
  readonly attempts: number;
}

/**
 * One storage interface over SQLite and PostgreSQL. Every method is atomic on its own; `transaction`
 * groups several (for example a revocation and its audit record) so that all or none are written.
 */
/** A certificate record deleted by `pruneExpiredCertificates`. */
export interface PrunedCertificate {
  readonly serial: string;
  readonly status: 'issued' | 'revoked' | 'failed';
  readonly notAfter: Date;
}

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
  /**
   * Deletes the inventory records of certificates that expired before `before` (issued, revoked or
   * failed; never a pending intent), oldest first, at most `limit` (default 500, max 10,000) in one
   * statement; returns what it deleted, oldest first. Inside `transaction` the deletion commits or
   * rolls back with the rest (the caller's audit record). Instances racing on the same rows each get
   * only the rows they deleted.
   */
  pruneExpiredCertificates(before: Date, limit?: number): Promise<PrunedCertificate[]>;
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
  /**
   * Forgets tokens that can no longer be used by anyone: used-token records (jti) used before
   * `before`, and minted-token records that expired before it. Callers pass a time older than the
   * longest token lifetime, so a forgotten jti belongs to a token already refused for its expiry.
   */
  pruneSpentTokens(before: Date): Promise<{ used: number; minted: number }>;
  /** Recomputes the chain: detects edited, deleted, reordered or truncated records. */
  verifyAuditChain(): Promise<AuditChainVerdict>;
  /**
   * Writes one component report (component row, discovered certificates, sightings, failed
   * authentications) in one write transaction. `newComponent` is true on its first report.
   */
  recordReport(report: ComponentReport): Promise<{ newComponent: boolean }>;
  /** Every component that ever reported, by kind then name. */
  listComponents(): Promise<ComponentRecord[]>;
  /** Discovered certificates with their places, by notAfter (soonest first); at most `limit` (default 1000). */
  listDiscovered(options?: { limit?: number }): Promise<DiscoveredRecord[]>;
  /** Counts and the newest `recentLimit` events (default 100) of failed authentications in a window. */
  summarizeAuthFailures(filter: AuthFailureFilter, recentLimit?: number): Promise<AuthFailureSummary>;
  /**
   * Keys (identities or addresses) with at least `atLeast` failed authentications in the window,
   * largest first, at most `limit` (default 1000).
   */
  countAuthFailures(
    filter: AuthFailureFilter,
    per: 'identity' | 'address',
    atLeast: number,
    limit?: number,
  ): Promise<KeyCount[]>;
  /** Deletes failed authentications older than `before`; returns how many. */
  pruneAuthFailures(before: Date): Promise<number>;
  /** Records a raised alert. An id already recorded → ERR_STORE_STATE_CONFLICT. */
  recordAlert(alert: AlertRecord): Promise<void>;
  setAlertDelivery(id: string, delivery: AlertDelivery, attempts: number): Promise<void>;
  /** Newest first, optionally of one rule (and key); at most `limit` (default 100, max 1000). */
  listAlerts(options?: { rule?: string; key?: string; limit?: number }): Promise<AlertRecord[]>;
  /** Deletes alerts raised before `before`; returns how many. */
  pruneAlerts(before: Date): Promise<number>;
  /**
   * Runs `fn` in one database transaction: everything done through `tx` commits together or not at all.
   * Inside `fn` use `tx` only (the outer store refuses to be used there); a nested call joins the outer
   * transaction.
   */
  transaction<T>(fn: (tx: Store) => Promise<T>): Promise<T>;
  /** Closes connections. Idempotent; later calls fail with ERR_STORE_UNAVAILABLE. */
  close(): Promise<void>;
}
