// POST /v1/sign with a one-time token: curl as the client, openssl as the judge of what is issued,
// and the token single-use across sequential, concurrent (50 at once) and post-restart replays.
import { X509Certificate } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  admin,
  call,
  cleanupDirs,
  errorCode,
  mintToken,
  opensslCsr,
  run,
  runAsync,
  startTestCa,
  type TestCa,
} from './support/ca-server.js';

const cas: TestCa[] = [];
afterEach(async () => {
  await Promise.all(cas.splice(0).map((c) => c.close()));
});
afterAll(cleanupDirs);

async function newCa(): Promise<TestCa> {
  const ca = await startTestCa();
  cas.push(ca);
  return ca;
}

describe('ca server: enrollment with a one-time token', () => {
  it('curl mints a token with the admin certificate and signs a CSR with it; openssl verifies the chain', async () => {
    const ca = await newCa();
    const mint = await runAsync('curl', [
      '-sS',
      '--fail-with-body',
      '--cacert',
      ca.files.root,
      '--cert',
      ca.files.adminCert,
      '--key',
      ca.files.adminKey,
      '-H',
      'content-type: application/json',
      '-d',
      JSON.stringify({ names: { dns: ['api.internal'] }, profile: 'server' }),
      `${ca.server.url}/v1/tokens`,
    ]);
    expect(mint.status, mint.stderr + mint.stdout).toBe(0);
    const { token, jti } = JSON.parse(mint.stdout) as { token: string; jti: string };

    const { csr } = opensslCsr(ca, 'api', 'DNS:api.internal');
    const body = ca.work('sign.json');
    writeFileSync(body, JSON.stringify({ token, csr }));
    const sign = await runAsync('curl', [
      '-sS',
      '--fail-with-body',
      '--cacert',
      ca.files.root,
      '-H',
      'content-type: application/json',
      '--data-binary',
      `@${body}`,
      `${ca.server.url}/v1/sign`,
    ]);
    expect(sign.status, sign.stderr + sign.stdout).toBe(0);
    const issued = JSON.parse(sign.stdout) as { serial: string; chain: string[]; certificate: string; profile: string };
    expect(issued.profile).toBe('server');

    const leafFile = ca.work('api.crt');
    const intFile = ca.work('int.crt');
    writeFileSync(leafFile, issued.certificate);
    writeFileSync(intFile, issued.chain[1] ?? '');
    const verify = run('openssl', [
      'verify',
      '-CAfile',
      ca.files.root,
      '-untrusted',
      intFile,
      '-purpose',
      'sslserver',
      leafFile,
    ]);
    expect(verify.stdout + verify.stderr).toContain(': OK');
    const leaf = new X509Certificate(issued.certificate);
    expect(leaf.subjectAltName).toBe('DNS:api.internal');
    expect(BigInt(`0x${leaf.serialNumber}`)).toBe(BigInt(`0x${issued.serial}`));
    const text = run('openssl', ['x509', '-in', leafFile, '-noout', '-ext', 'crlDistributionPoints']).stdout;
    expect(text).toContain(`${ca.server.url}/v1/crl`);

    const actions = ca.audit().map((a) => a.action);
    expect(actions).toEqual(expect.arrayContaining(['token.create', 'token.use', 'certificate.issue']));
    const use = ca.audit().find((a) => a.action === 'token.use');
    expect(use).toMatchObject({ subject: jti, details: { serial: issued.serial } });
    // Never a token (or any part of its signature) in the audit log.
    const all = JSON.stringify(ca.audit());
    expect(all).not.toContain(token);
    expect(all).not.toContain(token.split('.')[2] ?? 'x');
  });

  it('a token works once: a sequential replay is refused with ERR_TOKEN_REPLAYED and audited, nothing issued', async () => {
    const ca = await newCa();
    const token = await mintToken(ca, { dns: ['w.internal'] });
    const first = await call(ca, {
      path: '/v1/sign',
      body: { token, csr: opensslCsr(ca, 'w1', 'DNS:w.internal').csr },
    });
    expect(first.status).toBe(201);
    const second = await call(ca, {
      path: '/v1/sign',
      body: { token, csr: opensslCsr(ca, 'w2', 'DNS:w.internal').csr },
    });
    expect(second.status).toBe(403);
    expect(errorCode(second)).toBe('ERR_TOKEN_REPLAYED');
    const inventory = await call(ca, { path: '/v1/certificates?profile=client', ...admin(ca) });
    expect(inventory.json<{ items: unknown[] }>().items).toHaveLength(1);
    expect(
      ca
        .audit()
        .filter((a) => a.action === 'sign.refused')
        .map((a) => a.details['code']),
    ).toEqual(['ERR_TOKEN_REPLAYED']);
  });

  it('50 concurrent uses of one token: exactly one certificate', async () => {
    const ca = await newCa();
    const token = await mintToken(ca, { dns: ['c.internal'] });
    const csrs = Array.from({ length: 50 }, (_, i) => opensslCsr(ca, `c${i}`, 'DNS:c.internal').csr);
    const replies = await Promise.all(csrs.map((csr) => call(ca, { path: '/v1/sign', body: { token, csr } })));
    const statuses = replies.map((r) => r.status);
    expect(statuses.filter((s) => s === 201)).toHaveLength(1);
    expect(statuses.filter((s) => s === 403)).toHaveLength(49);
    expect(new Set(replies.filter((r) => r.status === 403).map(errorCode))).toEqual(new Set(['ERR_TOKEN_REPLAYED']));
    const inventory = await call(ca, { path: '/v1/certificates?profile=client', ...admin(ca) });
    expect(inventory.json<{ items: unknown[] }>().items).toHaveLength(1);
  });

  it('a used token stays used after a restart', async () => {
    const ca = await newCa();
    const token = await mintToken(ca, { dns: ['r.internal'] });
    expect(
      (await call(ca, { path: '/v1/sign', body: { token, csr: opensslCsr(ca, 'r1', 'DNS:r.internal').csr } })).status,
    ).toBe(201);
    await ca.restart();
    const again = await call(ca, {
      path: '/v1/sign',
      body: { token, csr: opensslCsr(ca, 'r2', 'DNS:r.internal').csr },
    });
    expect(errorCode(again)).toBe('ERR_TOKEN_REPLAYED');
  });
});
