import { X509Certificate } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startUntil, waitExit } from '../support.js';
import { CLIENT, SERVER, doctor, ids, makeTestPki, sServer } from '../doctor-support.js';

// Client certificates whose AIA names an OCSP responder — `openssl ocsp` serving an index in which one of
// them is revoked, signing with the issuing CA's key. The server (s_server) checks no revocation at all:
// only doctor's own OCSP query can tell.
const pki = makeTestPki();
const stops: (() => Promise<void>)[] = [];
let url = '';
let revoked: ReturnType<typeof pki.write>;
let good: ReturnType<typeof pki.write>;

beforeAll(async () => {
  const port = await freePort();
  const ocspUrl = `http://127.0.0.1:${port}/`;
  revoked = pki.write('revoked', { ...CLIENT, ocspUrl });
  good = pki.write('good', { ...CLIENT, ocspUrl });
  const serial = (c: typeof good): string => new X509Certificate(c.leaf.der).serialNumber.toUpperCase();
  const index = path.join(pki.dir, 'index.txt');
  writeFileSync(
    index,
    `R\t301231000000Z\t261101000000Z\t${serial(revoked)}\tunknown\t/CN=revoked\n` +
      `V\t301231000000Z\t\t${serial(good)}\tunknown\t/CN=good\n`,
  );
  const interCert = path.join(pki.dir, 'intermediate.pem');
  const interKey = path.join(pki.dir, 'intermediate.key');
  writeFileSync(interCert, pki.ca.intermediate.pem);
  writeFileSync(interKey, pki.ca.intermediate.keyPem, { mode: 0o600 });
  const responder = await startUntil(
    'openssl',
    ['ocsp', '-index', index, '-port', String(port), '-rsigner', interCert, '-rkey', interKey, '-CA', interCert],
    /ACCEPT/,
  );
  stops.push(async () => {
    responder.child.kill('SIGKILL');
    await waitExit(responder.child);
  });
  const server = await sServer(pki.write('server', SERVER), [
    '-Verify',
    '1',
    '-verify_return_error',
    '-CAfile',
    pki.root,
  ]);
  stops.push(server.stop);
  url = `https://localhost:${server.port}/`;
});
afterAll(async () => {
  for (const s of stops) await s();
});

describe('mutual doctor: revocation by OCSP', () => {
  it('finds a certificate revoked at its OCSP responder even though the server let it in', async () => {
    const r = await doctor([url, '--ca', pki.root, '--cert', revoked.cert, '--key', revoked.key]);
    expect(r.code).toBe(1);
    expect(ids(r.report)).toEqual(['client-cert-revoked']);
    expect(r.report.findings[0]?.explanation).toContain('OCSP http://127.0.0.1:');
    expect(r.report.steps.find((s) => s.name === 'client-certificate')?.detail).toContain('REVOKED per OCSP');
    expect(r.report.http?.status).toBe(200);
  });

  it('passes a certificate the responder says is good', async () => {
    const r = await doctor([url, '--ca', pki.root, '--cert', good.cert, '--key', good.key]);
    expect(r.report.findings).toEqual([]);
    expect(r.code).toBe(0);
    expect(r.report.steps.find((s) => s.name === 'client-certificate')?.detail).toContain('not revoked per OCSP');
  });
});
