/**
 * The gateway's TLS settings: TLS 1.2–1.3, AEAD suites with ECDHE only, the post-quantum hybrid
 * group first where the runtime's OpenSSL has it, no renegotiation, no session tickets and no
 * session cache (every connection is a full handshake, verified and authorized afresh: ADR 0010).
 */
import { constants, randomBytes } from 'node:crypto';
import { createSecureContext, type SecureContextOptions } from 'node:tls';

/** TLS 1.3 suites (all AEAD) and TLS 1.2 ECDHE + AEAD suites, strongest first. */
export const GATEWAY_CIPHERS = [
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
export function gatewayGroups(): string {
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

export interface ListenerMaterial {
  /** Server certificate followed by its chain (PEM). */
  readonly certificatePem: string;
  readonly keyPem: string;
  /** Anchors client chains must lead to (PEM, several certificates). */
  readonly trustPem: string;
}

/** Options for tls.createServer / setSecureContext. */
export function secureContextOptions(m: ListenerMaterial): SecureContextOptions {
  return {
    cert: m.certificatePem,
    key: m.keyPem,
    ca: m.trustPem,
    minVersion: 'TLSv1.2',
    maxVersion: 'TLSv1.3',
    ciphers: GATEWAY_CIPHERS,
    honorCipherOrder: true,
    ecdhCurve: gatewayGroups(),
    secureOptions: constants.SSL_OP_NO_RENEGOTIATION | constants.SSL_OP_NO_TICKET,
    // A fresh session id context per context: nothing resumes across a reload.
    sessionIdContext: `mutual-gw-${randomBytes(8).toString('hex')}`,
  };
}
