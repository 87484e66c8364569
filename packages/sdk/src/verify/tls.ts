/**
 * Layered verification in a TLS handshake: OpenSSL (node:tls) decides first, then mutual's verifier
 * checks the chain the peer presented; the connection is accepted only when both accept. Pure
 * helpers over the socket's peer certificate object; no I/O of their own.
 */
import type { DetailedPeerCertificate } from 'node:tls';
import type { Verifier, VerifyRequest, VerifyResult } from './types.js';

/** The part of a TLS socket the check needs (tls.TLSSocket satisfies it). */
export interface PeerSocket {
  readonly authorized: boolean;
  readonly authorizationError?: Error | string | null;
  getPeerCertificate(detailed: true): DetailedPeerCertificate;
}

/** The presented leaf and every other certificate node:tls linked to it, as DER (untrusted candidates). */
export function peerChain(
  peer: DetailedPeerCertificate | undefined,
): { leaf: Uint8Array; intermediates: Uint8Array[] } | undefined {
  if (!peer || !Buffer.isBuffer(peer.raw) || peer.raw.length === 0) return undefined;
  const leaf = new Uint8Array(peer.raw);
  const intermediates: Uint8Array[] = [];
  const seen = new Set<DetailedPeerCertificate>([peer]);
  let cur = peer.issuerCertificate as DetailedPeerCertificate | undefined;
  // node links the chain by issuerCertificate; the self-signed end points at itself.
  while (cur && !seen.has(cur) && intermediates.length < 16) {
    seen.add(cur);
    if (Buffer.isBuffer(cur.raw) && cur.raw.length > 0) intermediates.push(new Uint8Array(cur.raw));
    cur = cur.issuerCertificate;
  }
  return { leaf, intermediates };
}

/**
 * Both verdicts: refused unless OpenSSL authorized the peer AND mutual's verifier accepts the same
 * presented chain. Call it from the 'secureConnection' handler (server) or after 'secureConnect'.
 */
export function verifyTlsPeer(
  verifier: Verifier,
  socket: PeerSocket,
  request: Omit<VerifyRequest, 'leaf' | 'intermediates'>,
): VerifyResult {
  if (!socket.authorized) {
    const why = socket.authorizationError;
    return {
      ok: false,
      path: [],
      identity: undefined,
      reasons: [
        {
          code: 'TLS_NOT_AUTHORIZED',
          message: `OpenSSL refused the peer chain${why ? ` (${typeof why === 'string' ? why : why.message})` : ''}`,
          cert: undefined,
        },
      ],
    };
  }
  const chain = peerChain(socket.getPeerCertificate(true));
  if (!chain) {
    return {
      ok: false,
      path: [],
      identity: undefined,
      reasons: [{ code: 'TLS_NOT_AUTHORIZED', message: 'the peer presented no certificate', cert: undefined }],
    };
  }
  return verifier.verify({ ...request, leaf: chain.leaf, intermediates: chain.intermediates });
}
