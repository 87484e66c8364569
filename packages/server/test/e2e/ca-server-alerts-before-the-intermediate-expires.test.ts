// The expiring rule covers the CA's own intermediate: the signing one is alerted when it comes near
// its end (rotate it), while one already replaced by a rotation is not — it is meant to run out.
import 'reflect-metadata';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { rotateIntermediate, rotateRoot } from '../../src/index.js';
import { cleanupDirs, startTestCa, type TestCa } from './support/ca-server.js';

const DAY = 86_400_000;
const cas: TestCa[] = [];
afterAll(async () => {
  await Promise.all(cas.map((c) => c.close()));
  cleanupDirs();
});

async function caWithAlerts(): Promise<{ ca: TestCa; intermediate: X509Certificate }> {
  const ca = await startTestCa({ yaml: ['alerts:', '  expiring: { within: 30d }', ''].join('\n') });
  cas.push(ca);
  return { ca, intermediate: new X509Certificate(readFileSync(path.join(ca.dir, 'intermediate.crt'))) };
}

const serialOf = (x: X509Certificate): string => x.serialNumber.toLowerCase().replace(/^0+(?=.)/, '');

describe('alerts: the intermediate', () => {
  it('the signing intermediate within the threshold is alerted, with what to do', async () => {
    const { ca, intermediate } = await caWithAlerts();
    ca.clock.set(new Date(Date.parse(intermediate.validTo) - 10 * DAY));
    const raised = (await ca.server.evaluateAlerts()).filter((a) => a.rule === 'expiring');
    expect(raised.map((a) => a.key)).toContain(serialOf(intermediate));
    const db = new Database(path.join(ca.dir, 'mutual.db'), { readonly: true });
    try {
      const row = db
        .prepare("select message from alerts where rule = 'expiring' and key = ?")
        .get(serialOf(intermediate)) as { message: string } | undefined;
      expect(row?.message).toContain('the intermediate CA');
      expect(row?.message).toContain('mutual ca rotate-intermediate');
    } finally {
      db.close();
    }
  });

  it('an intermediate replaced by a rotation is not alerted when it runs out', async () => {
    const { ca, intermediate } = await caWithAlerts();
    ca.clock.advance(365 * DAY);
    const rotated = await rotateIntermediate({ dir: ca.dir, env: {}, actor: 'test', now: ca.clock.now() });
    ca.clock.set(new Date(Date.parse(intermediate.validTo) - 10 * DAY));
    expect(rotated.notAfter.getTime()).toBeGreaterThan(ca.clock.now().getTime() + 30 * DAY);
    const raised = (await ca.server.evaluateAlerts()).filter((a) => a.rule === 'expiring');
    expect(raised.map((a) => a.key)).not.toContain(serialOf(intermediate));
  });

  it('after a root rotation, the previous root, its cross-certificate and its intermediate run out quietly', async () => {
    const { ca, intermediate } = await caWithAlerts();
    const root = new X509Certificate(readFileSync(path.join(ca.dir, 'root.crt')));
    ca.clock.advance(365 * DAY);
    const rotated = await rotateRoot({ dir: ca.dir, env: {}, actor: 'test', now: ca.clock.now() });
    const cross = new X509Certificate(readFileSync(rotated.cross.file));
    ca.clock.set(new Date(Date.parse(intermediate.validTo) - 10 * DAY));
    let keys = (await ca.server.evaluateAlerts()).filter((a) => a.rule === 'expiring').map((a) => a.key);
    expect(keys).not.toContain(serialOf(intermediate));
    ca.clock.set(new Date(Date.parse(root.validTo) - 10 * DAY));
    keys = (await ca.server.evaluateAlerts()).filter((a) => a.rule === 'expiring').map((a) => a.key);
    expect(keys).not.toContain(serialOf(root));
    expect(keys).not.toContain(serialOf(cross));
  });
});
