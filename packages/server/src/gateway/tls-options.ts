/**
 * The gateway's TLS settings: TLS 1.2–1.3, AEAD suites with ECDHE only, the post-quantum hybrid
 * group first where the runtime's OpenSSL has it, no renegotiation, no session tickets and no
 * session cache (every connection is a full handshake, verified and authorized afresh: ADR 0010).
 */
import { constants, randomBytes } from 'node:crypto';
import type { SecureContextOptions } from 'node:tls';
import { MTLS_CIPHERS, mtlsGroups } from '@mutual/sdk';

/** TLS 1.3 suites (all AEAD) and TLS 1.2 ECDHE + AEAD suites, strongest first: the SDK's mTLS set. */
export const GATEWAY_CIPHERS = MTLS_CIPHERS;

/** Key-exchange groups, `X25519MLKEM768` first when OpenSSL knows it (OpenSSL ≥ 3.5). */
export const gatewayGroups = mtlsGroups;

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
