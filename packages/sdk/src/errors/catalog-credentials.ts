import type { ErrorSpec } from './types.js';

/** Error codes of the SDK's self-renewing credentials and mTLS helpers (sdk/credentials, sdk/mtls). */
export const credentialsErrors = {
  ERR_CREDENTIALS_NOT_READY: {
    kind: 'unavailable',
    status: 503,
    message: 'The credentials have no certificate yet.',
    doc: 'current() or a TLS helper was used before the first enrollment finished. Await `credentials.ready()` first.',
  },
  ERR_CREDENTIALS_CANNOT_ENROLL: {
    kind: 'refused',
    status: 403,
    message: 'The credentials can neither enroll nor renew.',
    doc: 'There is no usable certificate and no enrollment token (none was given, the CA refused it, or it was used already: tokens work once). Mint a new token (`mutual token create`) and restart the holder.',
  },
  ERR_CREDENTIALS_STOPPED: {
    kind: 'unavailable',
    status: 503,
    message: 'The credentials were stopped.',
    doc: '`stop()` was called (or the abort signal fired) before a certificate was ready.',
  },
  ERR_CREDENTIALS_ISSUED_INVALID: {
    kind: 'internal',
    status: 502,
    message: 'The CA returned a certificate that does not fit the request.',
    doc: 'The certificate the CA answered with does not carry the key that was just generated, or does not parse. The current certificate is kept and the request retried with backoff.',
  },
  ERR_CREDENTIALS_OPTIONS_INVALID: {
    kind: 'usage',
    status: 400,
    message: 'The credential options are invalid.',
    doc: 'createCredentials() needs the CA URL, its root (PEM) or root fingerprint, and a token, a token file or an existing certificate and key. The message names the problem.',
  },
  ERR_MTLS_PEER_REFUSED: {
    kind: 'refused',
    status: 403,
    message: 'The peer was refused.',
    doc: 'mtlsFetch/mtlsAgent: the server chain did not pass both OpenSSL and mutual’s verifier, or its verified identity was denied by the `authorize` option. details.reason says which.',
  },
} as const satisfies Record<string, ErrorSpec>;
