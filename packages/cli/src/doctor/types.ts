/** The doctor's report: the steps it ran and the findings it made, stable for `--json`. */

export type Side = 'client' | 'server' | 'network';
export type Severity = 'error' | 'warning' | 'info';

/** Stable ids of what `mutual doctor` can find; documented in docs/doctor.md. */
export type FindingId =
  | 'connection-refused'
  | 'name-not-resolved'
  | 'connect-timeout'
  | 'not-tls'
  | 'tls-version-mismatch'
  | 'tls-cipher-mismatch'
  | 'tls-handshake-failed'
  | 'server-cert-untrusted'
  | 'server-chain-incomplete'
  | 'server-cert-expired'
  | 'server-cert-not-yet-valid'
  | 'server-name-mismatch'
  | 'server-cert-refused'
  | 'server-did-not-ask'
  | 'client-cert-missing'
  | 'client-cert-unknown-ca'
  | 'client-cert-expired'
  | 'client-cert-not-yet-valid'
  | 'client-cert-revoked'
  | 'client-cert-wrong-eku'
  | 'client-key-mismatch'
  | 'client-cert-refused'
  | 'revocation-unchecked'
  | 'http-forbidden'
  | 'http-unauthorized'
  | 'http-error';

export interface Finding {
  readonly id: FindingId;
  readonly severity: Severity;
  /** Which side refused or is at fault. */
  readonly side: Side;
  /** One line: what is wrong. */
  readonly summary: string;
  /** Plain words: why, with the names and dates involved. */
  readonly explanation: string;
  /** A concrete command or setting that fixes it. */
  readonly fix: string;
}

export type StepName =
  'tcp' | 'tls' | 'server-certificate' | 'client-auth-request' | 'client-certificate' | 'mtls' | 'http';

export interface Step {
  readonly name: StepName;
  readonly status: 'ok' | 'failed' | 'warning' | 'skipped';
  readonly detail: string;
}

export interface CertSummary {
  readonly subject: string;
  readonly issuer: string;
  readonly notBefore: string;
  readonly notAfter: string;
  readonly fingerprint: string;
  readonly names: readonly string[];
}

/** What the handshake showed, for `-v` and the report. */
export interface HandshakeInfo {
  protocol?: string | undefined;
  cipher?: string | undefined;
  group?: string | undefined;
  serverChain: CertSummary[];
  /** undefined when it could not be determined (openssl not found). */
  certificateRequested?: boolean | undefined;
  acceptableCaNames: string[];
  clientIdentity?: string | undefined;
}

export interface DoctorReport {
  readonly target: string;
  readonly ok: boolean;
  readonly steps: Step[];
  readonly findings: Finding[];
  readonly handshake: HandshakeInfo;
  readonly http?: { status: number; date?: string | undefined } | undefined;
}
