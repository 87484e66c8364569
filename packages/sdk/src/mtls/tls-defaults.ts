/**
 * TLS settings of the mTLS helpers: TLS 1.2–1.3, AEAD suites with ECDHE only, the post-quantum
 * hybrid group first where the runtime's OpenSSL has it, no renegotiation and no session tickets.
 */
import { constants, randomBytes } from 'node:crypto';
import { createSecureContext, type SecureContextOptions } from 'node:tls';

/** TLS 1.3 suites (all AEAD) and TLS 1.2 ECDHE + AEAD suites, strongest first. */
export const MTLS_CIPHERS = [
  'TLS_AES_128_GCM_SHA256',
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

let groupsMemo: string | undefined;

/** Key-exchange groups, `X25519MLKEM768` first when OpenSSL knows it (OpenSSL ≥ 3.5). */
export function mtlsGroups(): string {
  if (groupsMemo !== undefined) return groupsMemo;
  const classic = ['X25519', 'P-256', 'P-384'];
  let pq = false;
  try {
    createSecureContext({ ecdhCurve: 'X25519MLKEM768' });
    pq = true;
  } catch {
    pq = false;
  }
  groupsMemo = (pq ? ['X25519MLKEM768', ...classic] : classic).join(':');
  return groupsMemo;
}

/**
 * Context options presenting `cert`/`key` and trusting `ca`. No tickets, and a fresh session id
 * context each time: a session from before a rotation never resumes, so every connection after
 * it is a full handshake, verified and authorized afresh (DESIGN §2: setSecureContext keeps
 * explicit ticket keys otherwise).
 */
export function mtlsContextOptions(cert: string, key: string, ca: string): SecureContextOptions {
  return {
    cert,
    key,
    ca,
    minVersion: 'TLSv1.2',
    maxVersion: 'TLSv1.3',
    ciphers: MTLS_CIPHERS,
    honorCipherOrder: true,
    ecdhCurve: mtlsGroups(),
    secureOptions: constants.SSL_OP_NO_RENEGOTIATION | constants.SSL_OP_NO_TICKET,
    sessionIdContext: `mutual-sdk-${randomBytes(8).toString('hex')}`,
  };
}
