import type { TLSSocket } from 'node:tls';
import type { FastifyRequest } from 'fastify';

/** The DER of the client certificate presented in this connection's handshake, if any. */
export function peerCertificate(request: FastifyRequest): Uint8Array | undefined {
  const socket = request.raw.socket as Partial<TLSSocket>;
  if (typeof socket.getPeerCertificate !== 'function') return undefined;
  const peer = socket.getPeerCertificate(false) as { raw?: Buffer } | null;
  return peer?.raw !== undefined && peer.raw.length > 0 ? new Uint8Array(peer.raw) : undefined;
}
