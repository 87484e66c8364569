/** TLS errors and alerts in plain words: which side refused and what the alert usually means. */

export type AlertKind =
  | 'unknown-ca'
  | 'certificate-expired'
  | 'certificate-revoked'
  | 'bad-certificate'
  | 'unsupported-certificate'
  | 'certificate-unknown'
  | 'certificate-required'
  | 'access-denied'
  | 'decrypt-error'
  | 'handshake-failure'
  | 'protocol-version'
  | 'no-shared-cipher'
  | 'not-tls'
  | 'closed'
  | 'other';

export interface TlsFailure {
  readonly kind: AlertKind;
  /** The TLS alert number when the peer sent one. */
  readonly alert: number | undefined;
  /** `server`: the server sent the alert (it refused); `client`: this side gave up. */
  readonly refusedBy: 'server' | 'client';
  readonly code: string;
  readonly words: string;
}

const ALERTS: readonly [RegExp, AlertKind, number | undefined, string][] = [
  [/ALERT_UNKNOWN_CA/, 'unknown-ca', 48, 'the server does not trust the CA that issued your client certificate'],
  [/ALERT_CERTIFICATE_EXPIRED/, 'certificate-expired', 45, 'the server says your client certificate has expired'],
  [/ALERT_CERTIFICATE_REVOKED/, 'certificate-revoked', 44, 'the server says your client certificate is revoked'],
  [/ALERT_BAD_CERTIFICATE/, 'bad-certificate', 42, 'the server refused your client certificate (bad certificate)'],
  [
    /ALERT_UNSUPPORTED_CERTIFICATE/,
    'unsupported-certificate',
    43,
    'the server refused your client certificate for this use (usually a missing clientAuth extended key usage)',
  ],
  [/ALERT_CERTIFICATE_UNKNOWN/, 'certificate-unknown', 46, 'the server could not validate your client certificate'],
  [
    /ALERT_CERTIFICATE_REQUIRED/,
    'certificate-required',
    116,
    'the server requires a client certificate and none was sent',
  ],
  [/ALERT_ACCESS_DENIED/, 'access-denied', 49, 'the server denied access after checking your certificate'],
  [
    /ALERT_DECRYPT_ERROR/,
    'decrypt-error',
    51,
    'the server could not verify the handshake signature (the key may not match the certificate)',
  ],
  [/ALERT_PROTOCOL_VERSION/, 'protocol-version', 70, 'the server does not speak a TLS version this client offers'],
  [
    /ALERT_HANDSHAKE_FAILURE/,
    'handshake-failure',
    40,
    'the server ended the handshake (no common cipher suite, or a client certificate it requires was missing)',
  ],
];

/** Explains an error from node:tls; unknown errors keep their own message. */
export function explainTlsError(err: unknown): TlsFailure {
  const e = err as NodeJS.ErrnoException | undefined;
  const code = e?.code ?? '';
  const message = e?.message ?? String(err);
  const text = `${code} ${message}`;
  for (const [re, kind, alert, words] of ALERTS) {
    if (re.test(code) || re.test(message.toUpperCase().replace(/ /g, '_'))) {
      return { kind, alert, refusedBy: 'server', code: code || kind, words };
    }
  }
  if (/UNSUPPORTED_PROTOCOL|NO_PROTOCOLS_AVAILABLE|VERSION_TOO_LOW|TLSV1_ALERT_PROTOCOL/.test(text)) {
    return {
      kind: 'protocol-version',
      alert: undefined,
      refusedBy: 'client',
      code,
      words: 'the server offers only TLS versions this client refuses (mutual needs TLS 1.2 or 1.3)',
    };
  }
  if (/NO_SHARED_CIPHER|NO_CIPHERS_AVAILABLE|NO_SUITABLE|SHARED_GROUP/.test(text)) {
    return {
      kind: 'no-shared-cipher',
      alert: undefined,
      refusedBy: 'client',
      code,
      words: 'client and server have no cipher suite in common',
    };
  }
  if (/WRONG_VERSION_NUMBER|PACKET_LENGTH_TOO_LONG|UNKNOWN_PROTOCOL|RECORD_LAYER_FAILURE|HTTP_REQUEST/.test(text)) {
    return {
      kind: 'not-tls',
      alert: undefined,
      refusedBy: 'client',
      code,
      words: 'the server answered with something that is not TLS (plain HTTP?)',
    };
  }
  if (code === 'ECONNRESET' || code === 'EPIPE' || /socket hang up|disconnected/i.test(message)) {
    return {
      kind: 'closed',
      alert: undefined,
      refusedBy: 'server',
      code: code || 'ECONNRESET',
      words:
        'the server closed the connection without a TLS alert (a mutual gateway answers 403 ERR_GATEWAY_CERTIFICATE_REFUSED and closes when its own checks refuse the certificate)',
    };
  }
  return { kind: 'other', alert: undefined, refusedBy: 'client', code, words: message };
}

/** One line for `mutual curl`: who refused, the alert, and what it means. */
export function oneLine(f: TlsFailure): string {
  const who = f.refusedBy === 'server' ? 'the server refused the handshake' : 'the handshake failed on this side';
  const alert = f.alert !== undefined ? ` (TLS alert ${f.alert}, ${f.code})` : f.code ? ` (${f.code})` : '';
  return `${who}${alert}: ${f.words}`;
}
