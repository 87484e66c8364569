/**
 * Reading the presented leaf from the TLS session (the fast path of remembered chains, ADR 0023): the exact DER
 * the client sent, from a real handshake on 127.0.0.1, and nothing at all from anything malformed.
 */
import { once } from 'node:events';
import { connect, createServer, type TLSSocket } from 'node:tls';
import { describe, expect, it } from 'vitest';
import { createTestCa } from '../pki/test-support.js';
import { sessionLeaf } from './handshake.js';

describe('sessionLeaf', () => {
  it("returns exactly the client's leaf from a real TLS 1.3 session on the server side", async () => {
    const ca = createTestCa({ now: new Date() });
    const client = ca.issue({ profile: 'client', names: { uri: ['spiffe://example.test/web'] } });
    const got = new Promise<Uint8Array | undefined>((resolve) => {
      const server = createServer(
        {
          key: ca.leaf.keyPem,
          cert: ca.leafChainPem,
          ca: ca.root.pem,
          requestCert: true,
          rejectUnauthorized: false,
        },
        (socket: TLSSocket) => {
          resolve(sessionLeaf(socket.getSession()));
          socket.destroy();
          server.close();
        },
      );
      server.listen(0, '127.0.0.1', () => {
        const address = server.address();
        const port = typeof address === 'object' && address ? address.port : 0;
        const c = connect({
          port,
          host: '127.0.0.1',
          servername: 'localhost',
          ca: ca.root.pem,
          cert: `${client.pem}\n${ca.intermediate.pem}`,
          key: client.keyPem,
        });
        c.on('error', () => undefined);
        void once(c, 'close');
      });
    });
    const leaf = await got;
    expect(leaf).toBeDefined();
    expect(Buffer.from(leaf ?? []).equals(Buffer.from(client.der))).toBe(true);
  });

  it.each([
    ['nothing', undefined],
    ['an empty buffer', new Uint8Array()],
    ['not a SEQUENCE', Uint8Array.of(0x31, 0x00)],
    ['an indefinite length', Uint8Array.of(0x30, 0x80, 0x00, 0x00)],
    ['a length past the end', Uint8Array.of(0x30, 0x05, 0x02, 0x01, 0x01)],
    ['bytes after the SEQUENCE', Uint8Array.of(0x30, 0x03, 0x02, 0x01, 0x01, 0x00)],
    ['no [3] element', Uint8Array.of(0x30, 0x06, 0x02, 0x01, 0x01, 0x04, 0x01, 0x00)],
    ['[3] holding no SEQUENCE', Uint8Array.of(0x30, 0x05, 0xa3, 0x03, 0x02, 0x01, 0x01)],
    ['[3] with more than one element', Uint8Array.of(0x30, 0x07, 0xa3, 0x05, 0x30, 0x00, 0x02, 0x01, 0x01)],
    ['a truncated element before [3]', Uint8Array.of(0x30, 0x04, 0x02, 0x05, 0x01, 0x01)],
  ])('returns nothing for %s', (_name, der) => {
    expect(sessionLeaf(der)).toBeUndefined();
  });

  it('returns the SEQUENCE inside [3], as a copy', () => {
    const session = Uint8Array.of(0x30, 0x09, 0x02, 0x01, 0x01, 0xa3, 0x04, 0x30, 0x02, 0x05, 0x00);
    const leaf = sessionLeaf(session);
    expect(Array.from(leaf ?? [])).toEqual([0x30, 0x02, 0x05, 0x00]);
    session[9] = 0x09;
    expect(Array.from(leaf ?? [])).toEqual([0x30, 0x02, 0x05, 0x00]);
  });
});
