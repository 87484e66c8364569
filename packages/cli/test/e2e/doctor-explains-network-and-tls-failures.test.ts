import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort, mutual } from '../support.js';
import { CLIENT, CLIENT_ID, SERVER, doctor, ids, makeTestPki, sServer } from '../doctor-support.js';

const pki = makeTestPki();
const server = pki.write('server', SERVER);
const client = pki.write('client', CLIENT);
const stops: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const s of stops) await s();
});
const mtlsFlags = ['--ca', pki.root, '--cert', client.cert, '--key', client.key];

describe('mutual doctor: network and TLS', () => {
  it('says nothing is listening, with exit 1', async () => {
    const port = await freePort();
    const r = await doctor([`127.0.0.1:${port}`, ...mtlsFlags]);
    expect(r.code).toBe(1);
    expect(ids(r.report)).toEqual(['connection-refused']);
    expect(r.report.findings[0]?.side).toBe('network');
    expect(r.report.findings[0]?.fix).toContain(`:${port}`);
  });

  it('says the port does not speak TLS (a plain HTTP server)', async () => {
    const plain = createServer((_req, res) => {
      res.end('plain');
    });
    plain.listen(0, '127.0.0.1');
    await once(plain, 'listening');
    stops.push(
      () =>
        new Promise((resolve) => {
          plain.close(() => {
            resolve();
          });
        }),
    );
    const { port } = plain.address() as AddressInfo;
    const r = await doctor([`https://127.0.0.1:${port}/`, ...mtlsFlags]);
    expect(r.code).toBe(1);
    expect(ids(r.report)).toEqual(['not-tls']);
  });

  it('says client and server have no TLS version in common (server speaks only TLS 1.1)', async () => {
    const s = await sServer(server, ['-tls1_1', '-cipher', 'DEFAULT@SECLEVEL=0']);
    stops.push(s.stop);
    const r = await doctor([`127.0.0.1:${s.port}`, ...mtlsFlags]);
    expect(r.code).toBe(1);
    expect(ids(r.report)).toEqual(['tls-version-mismatch']);
  });

  it('says client and server have no cipher suite in common (server allows only Camellia on TLS 1.2)', async () => {
    const s = await sServer(server, ['-tls1_2', '-cipher', 'ECDHE-ECDSA-CAMELLIA128-SHA256']);
    stops.push(s.stop);
    const r = await doctor([`127.0.0.1:${s.port}`, ...mtlsFlags]);
    expect(r.code).toBe(1);
    expect(ids(r.report)).toEqual(['tls-cipher-mismatch']);
  });

  it('passes (exit 0) when the whole mTLS exchange works, on TLS 1.2 as on TLS 1.3', async () => {
    for (const version of ['-tls1_2', '-tls1_3']) {
      const s = await sServer(server, [version, '-Verify', '1', '-verify_return_error', '-CAfile', pki.root]);
      stops.push(s.stop);
      const r = await doctor([`https://localhost:${s.port}/`, ...mtlsFlags]);
      expect(r.report.findings).toEqual([]);
      expect(r.code).toBe(0);
      expect(r.report.http?.status).toBe(200);
      expect(r.report.handshake.protocol).toBe(version === '-tls1_2' ? 'TLSv1.2' : 'TLSv1.3');
      expect(r.report.handshake.clientIdentity).toBe(CLIENT_ID);
    }
  });

  it('reports a usage error with exit 2', async () => {
    const r = await mutual(['doctor', 'not a target']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('ERR_USAGE_INVALID_ARGUMENT');
  });
});
