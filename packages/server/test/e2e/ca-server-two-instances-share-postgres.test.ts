// Two CA server instances on one PostgreSQL database (the HA setup): a token used on both at once
// issues exactly one certificate, a revocation on one is refused by the other at once, and CRL
// numbers keep increasing across both.
import 'reflect-metadata';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { performance } from 'node:perf_hooks';
import path from 'node:path';
import * as x509 from '@peculiar/x509';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initCa, startCaServer, type CaServer } from '../../src/index.js';
import { startPostgres, type TestPostgres } from '../support/postgres.js';
import { call, errorCode, opensslCsr, subscribe, TestClock, type TestCa } from './support/ca-server.js';

let pgServer: TestPostgres | undefined;
let a: CaServer;
let b: CaServer;
const servers: CaServer[] = [];
let ca: TestCa; // the helpers' view: files and work dir; requests name the instance by base URL
const env: Record<string, string> = {};
let base = '';
let root = '';

beforeAll(async () => {
  pgServer = await startPostgres();
  root = mkdtempSync(path.join(tmpdir(), 'mutual-ca-ha-'));
  const dir = path.join(root, 'ca');
  const clock = new TestClock();
  env['MUTUAL_DATABASE_URL'] = pgServer.connectionString;
  const init = await initCa({
    dir,
    name: 'Test',
    keyType: 'p256',
    passphrase: { mode: 'generate' },
    trustDomain: 'example.test',
    allowDns: ['**.internal'],
    env,
    now: new Date(clock.now().getTime() - 3_600_000),
    // ca init writes the inventory straight into PostgreSQL and points ca.yaml at the variable.
    store: { postgresEnv: 'MUTUAL_DATABASE_URL' },
  });
  expect(readFileSync(path.join(dir, 'ca.yaml'), 'utf8')).toContain(
    'postgres: { connectionString: { env: "MUTUAL_DATABASE_URL" } }',
  );
  expect(existsSync(path.join(dir, 'mutual.db'))).toBe(false);
  const yamlFile = path.join(dir, 'ca.yaml');
  // One public name for both instances: tokens are minted for it, wherever they are used.
  appendFileSync(yamlFile, 'server:\n  publicUrl: https://localhost:8443\n');
  const start = () => startCaServer({ dir, env, clock, listen: { host: '127.0.0.1', port: 0 } });
  [a, b] = await Promise.all([start(), start()]);
  servers.push(a, b);
  ca = {
    dir,
    init,
    clock,
    server: a,
    files: { root: init.rootFile, adminCert: init.adminCertFile, adminKey: init.adminKeyFile },
    restart: () => Promise.resolve(),
    close: () => Promise.resolve(),
    audit: () => [],
    work: (name) => path.join(root, name),
  };
  base = `https://127.0.0.1:${a.port}`;
});

afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
  await pgServer?.stop();
  rmSync(root, { recursive: true, force: true });
});

const adminTls = () => ({
  cert: readFileSync(ca.files.adminCert, 'utf8'),
  key: readFileSync(ca.files.adminKey, 'utf8'),
});
const at = (server: CaServer) => `https://127.0.0.1:${server.port}`;

describe('ca server: two instances on one PostgreSQL database', () => {
  it('a token used 25 times on each instance at once yields exactly one certificate', async () => {
    const minted = await call(ca, {
      base,
      path: '/v1/tokens',
      body: { names: { dns: ['ha.internal'] }, profile: 'client' },
      ...adminTls(),
    });
    expect(minted.status).toBe(201);
    const { token } = minted.json<{ token: string }>();
    const csrs = Array.from({ length: 50 }, (_, i) => opensslCsr(ca, `ha${i}`, 'DNS:ha.internal').csr);
    const replies = await Promise.all(
      csrs.map((csr, i) => call(ca, { base: at(i % 2 === 0 ? a : b), path: '/v1/sign', body: { token, csr } })),
    );
    expect(replies.filter((r) => r.status === 201)).toHaveLength(1);
    expect(new Set(replies.filter((r) => r.status !== 201).map(errorCode))).toEqual(new Set(['ERR_TOKEN_REPLAYED']));
    const inventory = await call(ca, { base: at(b), path: '/v1/certificates?identity=ha.internal', ...adminTls() });
    expect(inventory.json<{ items: unknown[] }>().items).toHaveLength(1);
  });

  it('a certificate revoked on one instance cannot renew on the other, reaches the other’s feed and CRL within a poll; CRL numbers increase across both', async () => {
    const minted = await call(ca, {
      base,
      path: '/v1/tokens',
      body: { names: { dns: ['rv.internal'] }, profile: 'client' },
      ...adminTls(),
    });
    const enrolled = opensslCsr(ca, 'rv', 'DNS:rv.internal');
    const signed = await call(ca, {
      base: at(b),
      path: '/v1/sign',
      body: { token: minted.json<{ token: string }>().token, csr: enrolled.csr },
    });
    expect(signed.status).toBe(201);
    const leaf = signed.json<{ serial: string; chain: string[] }>();
    const crlNumber = async (server: CaServer) =>
      new x509.X509Crl((await call(ca, { base: at(server), path: '/v1/crl' })).body).getExtension('2.5.29.20');
    const before = [await crlNumber(a), await crlNumber(b)];
    expect(before.every((e) => e !== null)).toBe(true);

    const feedB = await subscribe(ca, '/v1/revocations', {}, at(b));
    await feedB.live;
    const t0 = performance.now();
    const revoked = await call(ca, {
      base: at(a),
      path: '/v1/revoke',
      body: { serial: leaf.serial, reason: 'keyCompromise' },
      ...adminTls(),
    });
    expect(revoked.status).toBe(200);
    const renew = await call(ca, {
      base: at(b),
      path: '/v1/renew',
      body: { csr: opensslCsr(ca, 'rv2', undefined).csr },
      cert: leaf.chain.join('\n'),
      key: enrolled.key,
    });
    expect([renew.status, errorCode(renew)]).toEqual([401, 'ERR_RENEW_CERT_REVOKED']);

    // B follows the audit log: the revocation committed on A reaches B's feed, and B's CRL before it.
    for (;;) {
      const event = await feedB.next();
      if ((JSON.parse(event.data) as { serial: string }).serial === leaf.serial) break;
    }
    console.log(
      `revoked on instance A → pushed by instance B: ${(performance.now() - t0).toFixed(0)} ms (B polls the audit log every second)`,
    );
    feedB.close();
    const crlB = new x509.X509Crl((await call(ca, { base: at(b), path: '/v1/crl' })).body);
    expect(crlB.entries.map((e) => e.serialNumber.toLowerCase().replace(/^0+(?=.)/, ''))).toContain(
      leaf.serial.replace(/^0+(?=.)/, ''),
    );
    const numbers = [];
    for (const server of [a, b, a, b]) {
      await server.refreshRevocations();
      const crl = new x509.X509Crl((await call(ca, { base: at(server), path: '/v1/crl' })).body);
      numbers.push(
        BigInt(
          `0x${Buffer.from(crl.getExtension('2.5.29.20')?.value ?? new ArrayBuffer(0))
            .subarray(2)
            .toString('hex')}`,
        ),
      );
    }
    expect([...numbers].sort((x, y) => (x < y ? -1 : 1))).toEqual(numbers);
    expect(new Set(numbers).size).toBe(4);
  });
});
