// Inventory retention (inventory.keepExpired): records of certificates expired longer than the
// setting leave the inventory in audited batches; live ones, pending intents and the audit chain
// stay; OCSP then answers "unknown" for a pruned serial; `forever` keeps everything.
import { X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { openSqliteStore } from '../../src/index.js';
import { admin, call, cleanupDirs, enroll, runAsync, startTestCa, type TestCa } from './support/ca-server.js';

const HOUR = 3_600_000;
const cas: TestCa[] = [];
afterAll(async () => {
  await Promise.all(cas.map((c) => c.close()));
  cleanupDirs();
});

const listed = async (ca: TestCa): Promise<string[]> => {
  const r = await call(ca, { path: '/v1/certificates?limit=1000', ...admin(ca) });
  expect(r.status).toBe(200);
  return r.json<{ items: { serial: string }[] }>().items.map((i) => i.serial);
};

describe('ca server: inventory retention', () => {
  it('deletes records expired longer than keepExpired, audits each batch with its serials, keeps the rest', async () => {
    const ca = await startTestCa({ yaml: 'inventory:\n  keepExpired: 2h\n' });
    cas.push(ca);
    const a = await enroll(ca, 'old-a', 'DNS:old-a.internal', { dns: ['old-a.internal'] });
    const b = await enroll(ca, 'old-b', 'DNS:old-b.internal', { dns: ['old-b.internal'] });
    expect(
      (await call(ca, { path: '/v1/revoke', body: { serial: b.serial, reason: 'keyCompromise' }, ...admin(ca) }))
        .status,
    ).toBe(200);
    const notAfter = new Date(new X509Certificate(a.chain).validTo);

    // An hour past expiry: inside keepExpired, nothing goes.
    ca.clock.set(new Date(notAfter.getTime() + HOUR));
    const live = await enroll(ca, 'live', 'DNS:live.internal', { dns: ['live.internal'] });
    const early = await ca.server.pruneInventory();
    expect(early?.batches).toBe(0);
    expect(await listed(ca)).toEqual(expect.arrayContaining([a.serial, b.serial, live.serial]));

    ca.clock.set(new Date(notAfter.getTime() + 2 * HOUR + 60_000));
    const result = await ca.server.pruneInventory();
    expect(result?.pruned.revoked).toBe(1);
    expect(result?.pruned.issued).toBeGreaterThanOrEqual(1);
    const after = await listed(ca);
    expect(after).not.toContain(a.serial);
    expect(after).not.toContain(b.serial);
    expect(after).toContain(live.serial);

    // One audit record per batch, naming what it removed; the chain still verifies.
    const records = ca.audit().filter((r) => r.action === 'certificates.prune');
    expect(records).toHaveLength(1);
    expect(records[0]?.details.serials).toEqual(expect.arrayContaining([a.serial, b.serial]));
    expect(records[0]?.details).toMatchObject({ revoked: 1, keepExpiredMs: 2 * HOUR });
    const store = await openSqliteStore({ file: `${ca.dir}/mutual.db` });
    try {
      expect(await store.verifyAuditChain()).toMatchObject({ ok: true });
    } finally {
      await store.close();
    }
    // Issuance and revocation records of the pruned certificates stay in the audit log.
    expect(ca.audit().some((r) => r.action === 'certificate.revoke' && r.subject === b.serial)).toBe(true);

    // Nothing left to prune: no further audit record.
    expect((await ca.server.pruneInventory())?.batches).toBe(0);
    expect(ca.audit().filter((r) => r.action === 'certificates.prune')).toHaveLength(1);

    const metrics = (await call(ca, { path: '/metrics' })).body.toString();
    expect(metrics).toMatch(/mutual_ca_certificates_pruned_total\{status="revoked"\} 1\b/);

    // OCSP knows nothing of a pruned serial any more: "unknown" (RFC 6960 §2.2), judged by openssl.
    const roots = (await call(ca, { path: '/v1/roots' })).json<{ intermediates: string[] }>();
    const issuerFile = ca.work('intermediate.pem');
    writeFileSync(issuerFile, roots.intermediates[0] ?? '');
    const leafFile = ca.work('b.leaf.pem');
    writeFileSync(leafFile, `${b.chain.split('-----END CERTIFICATE-----')[0] ?? ''}-----END CERTIFICATE-----\n`);
    const chainFile = ca.work('chain.pem');
    writeFileSync(chainFile, `${roots.intermediates[0] ?? ''}\n${readFileSync(ca.files.root, 'utf8')}`);
    const ocsp = await runAsync('openssl', [
      'ocsp',
      '-issuer',
      issuerFile,
      '-cert',
      leafFile,
      '-CAfile',
      chainFile,
      '-url',
      `${ca.server.url}/v1/ocsp`,
      // The CA's clock runs hours ahead of the real one in this test.
      '-validity_period',
      '200000',
    ]);
    expect(ocsp.stdout + ocsp.stderr).toContain(`${leafFile}: unknown`);
  });

  it('keeps every record with keepExpired: forever', async () => {
    const ca = await startTestCa({ yaml: 'inventory:\n  keepExpired: forever\n' });
    cas.push(ca);
    const a = await enroll(ca, 'kept', 'DNS:kept.internal', { dns: ['kept.internal'] });
    ca.clock.set(new Date(new Date(new X509Certificate(a.chain).validTo).getTime() + 400 * 24 * HOUR));
    expect(await ca.server.pruneInventory()).toBe(null);
    const store = await openSqliteStore({ file: `${ca.dir}/mutual.db` });
    try {
      expect((await store.getCertificate(a.serial))?.serial).toBe(a.serial);
    } finally {
      await store.close();
    }
  });
});
