import { X509Certificate } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildCrl } from '../../../server/src/pki/index.js';
import { CLIENT, SERVER, doctor, ids, makeTestPki, sServer } from '../doctor-support.js';

const DAY = 24 * 3_600_000;
const pki = makeTestPki();
const server = pki.write('server', SERVER);
const stops: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const s of stops) await s();
});

/** s_server that requires a client certificate from `root` (our CA unless told otherwise). */
async function requireClient(extra: readonly string[] = [], root = pki.root): Promise<string> {
  const s = await sServer(server, ['-Verify', '1', '-verify_return_error', '-CAfile', root, ...extra]);
  stops.push(s.stop);
  return `https://localhost:${s.port}/`;
}

describe('mutual doctor: the client certificate', () => {
  it('says a client certificate is needed when none is given (TLS 1.3 and TLS 1.2)', async () => {
    for (const version of ['-tls1_3', '-tls1_2']) {
      const url = await requireClient([version]);
      const r = await doctor([url, '--ca', pki.root]);
      expect(r.code).toBe(1);
      expect(ids(r.report)).toEqual(['client-cert-missing']);
      expect(r.report.findings[0]?.explanation).toContain('CN = doctor test root');
    }
  });

  it("compares the server's acceptable CA names with your issuer when the server does not trust your CA", async () => {
    const other = makeTestPki(new Date(), 'other org');
    const stranger = other.write('stranger', CLIENT);
    const url = await requireClient();
    const r = await doctor([url, '--ca', pki.root, '--cert', stranger.cert, '--key', stranger.key]);
    expect(r.code).toBe(1);
    expect(ids(r.report)).toEqual(['client-cert-unknown-ca']);
    const f = r.report.findings[0];
    expect(f?.side).toBe('client');
    expect(f?.summary).toContain('other org intermediate');
    expect(f?.explanation).toContain('O = doctor test, CN = doctor test root');
    expect(r.report.steps.find((s) => s.name === 'mtls')?.detail).toContain('alert 48');
  });

  it('says your certificate expired (the server answers with alert 45)', async () => {
    const past = makeTestPki(new Date(Date.now() - 3 * DAY), 'past');
    const old = past.write('old-client', { ...CLIENT, lifetimeMs: DAY });
    const url = await requireClient([], past.root);
    const r = await doctor([url, '--ca', pki.root, '--cert', old.cert, '--key', old.key]);
    expect(r.code).toBe(1);
    expect(ids(r.report)).toEqual(['client-cert-expired']);
    expect(r.report.steps.find((s) => s.name === 'mtls')?.detail).toContain('alert 45');
  });

  it('says your certificate is revoked per the CRL you give (the server checks the same CRL, alert 44)', async () => {
    const revoked = pki.write('revoked-client', CLIENT);
    const crl = buildCrl({
      issuer: { certificateDer: pki.ca.intermediate.der, privateKey: pki.ca.intermediate.privateKey },
      revoked: [
        {
          serial: new X509Certificate(revoked.leaf.der).serialNumber.toLowerCase(),
          revokedAt: new Date(Date.now() - 60_000),
        },
      ],
      thisUpdate: new Date(Date.now() - 60_000),
      nextUpdate: new Date(Date.now() + DAY),
      crlNumber: 1n,
    });
    const crlFile = path.join(pki.dir, 'intermediate.crl');
    writeFileSync(crlFile, crl.pem);
    const url = await requireClient(['-CRL', crlFile, '-crl_check']);
    const r = await doctor([url, '--ca', pki.root, '--cert', revoked.cert, '--key', revoked.key, '--crl', crlFile]);
    expect(r.code).toBe(1);
    expect(ids(r.report)).toEqual(['client-cert-revoked']);
    expect(r.report.steps.find((s) => s.name === 'mtls')?.detail).toContain('alert 44');
  });

  it('says a server certificate was used as a client certificate (wrong EKU; alert 43)', async () => {
    const wrong = pki.write('server-as-client', { profile: 'server', names: { dns: ['worker.internal'] } });
    const url = await requireClient();
    const r = await doctor([url, '--ca', pki.root, '--cert', wrong.cert, '--key', wrong.key]);
    expect(r.code).toBe(1);
    expect(ids(r.report)).toEqual(['client-cert-wrong-eku']);
    expect(r.report.findings[0]?.fix).toContain('--profile client');
    expect(r.report.findings[0]?.explanation).toContain('serverAuth and lacks clientAuth');
  });

  it('says the key does not match the certificate', async () => {
    const a = pki.write('client-a', CLIENT);
    const b = pki.write('client-b', CLIENT);
    const url = await requireClient();
    const r = await doctor([url, '--ca', pki.root, '--cert', a.cert, '--key', b.key]);
    expect(r.code).toBe(1);
    expect(ids(r.report)).toEqual(['client-key-mismatch']);
  });
});
