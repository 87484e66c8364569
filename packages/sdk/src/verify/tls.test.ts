import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { connect, createServer, type TLSSocket } from 'node:tls';
import { describe, expect, it } from 'vitest';
import { createVerifier, verifyTlsPeer, type VerifyResult } from './index.js';
import { EKU, NOW, makeCert, makeChain, makeKey, type TestCert } from './test-pki.js';

const keyPem = (c: TestCert): string => c.key.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();

/** One real mTLS handshake on 127.0.0.1; returns OpenSSL's verdict and the layered one. */
async function handshake(
  root: TestCert,
  inter: TestCert,
  client: TestCert,
): Promise<{ openssl: boolean; layered: VerifyResult }> {
  const serverCert = makeCert({
    cn: 'server',
    issuer: inter,
    eku: [EKU.serverAuth],
    san: [{ ip: Uint8Array.of(127, 0, 0, 1) }],
  });
  const verifier = createVerifier({ anchors: [root.pem] });
  const server = createServer({
    key: keyPem(serverCert),
    cert: serverCert.pem + inter.pem,
    ca: root.pem,
    requestCert: true,
    rejectUnauthorized: false,
  });
  const result = new Promise<{ openssl: boolean; layered: VerifyResult }>((resolve) => {
    server.once('secureConnection', (socket: TLSSocket) => {
      resolve({ openssl: socket.authorized, layered: verifyTlsPeer(verifier, socket, { at: NOW, purpose: 'client' }) });
      socket.end();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const socket = connect({
    host: '127.0.0.1',
    port,
    key: keyPem(client),
    cert: client.pem + inter.pem,
    ca: root.pem,
    checkServerIdentity: () => undefined,
  });
  socket.on('error', () => undefined);
  const out = await result;
  socket.destroy();
  server.close();
  return out;
}

describe('layered verification in a real mTLS handshake', () => {
  it('accepts a client both OpenSSL and mutual accept, with its SPIFFE identity', async () => {
    const { root, inter, leaf } = makeChain({ key: makeKey('p256', true) });
    const r = await handshake(root, inter, leaf);
    expect(r.openssl).toBe(true);
    expect(r.layered.reasons).toEqual([]);
    expect(r.layered.identity?.value).toBe('spiffe://example.org/ns/prod/sa/api');
  });

  it('refuses a client OpenSSL accepts but mutual does not (SPIFFE grammar trick)', async () => {
    const { root, inter, leaf } = makeChain({
      key: makeKey('p256', true),
      san: [{ uri: 'spiffe://example.org/a/../admin' }],
    });
    const r = await handshake(root, inter, leaf);
    expect(r.openssl).toBe(true);
    expect(r.layered.ok).toBe(false);
    expect(r.layered.reasons.map((x) => x.code)).toContain('SPIFFE_ID_INVALID');
  });

  it('refuses a client OpenSSL refused, whatever mutual would say', async () => {
    const { root, inter } = makeChain();
    const stranger = makeChain({ key: makeKey('p256', true) });
    const r = await handshake(root, inter, stranger.leaf);
    expect(r.openssl).toBe(false);
    expect(r.layered.reasons.map((x) => x.code)).toEqual(['TLS_NOT_AUTHORIZED']);
  });
});
