// The retention pass over a real SQLite store: batches of at most `batch` records, one audit record
// each naming exactly what it deleted, and a failed audit append deleting nothing.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { pruneExpiredCertificates, type RetentionStore } from '../../src/ca/index.js';
import { makeIntent } from '../../src/store/contract.js';
import { openSqliteStore, type Store } from '../../src/store/index.js';
import { TestClock } from './support/ca-server.js';

const DAY = 86_400_000;
const NOW = new Date('2031-03-01T00:00:00Z');
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function storeWith(expired: number, live: number): Promise<{ store: Store; expiredSerials: string[] }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'mutual-retention-'));
  dirs.push(dir);
  const store = await openSqliteStore({ file: path.join(dir, 'mutual.db') });
  const expiredSerials: string[] = [];
  for (let i = 0; i < expired + live; i++) {
    const notAfter = new Date(NOW.getTime() + (i < expired ? -(40 + i) * DAY : 10 * DAY));
    const intent = makeIntent({
      notBefore: new Date(notAfter.getTime() - DAY),
      notAfter,
      createdAt: new Date(notAfter.getTime() - DAY),
    });
    await store.reserveSerial(intent);
    await store.completeIssuance(intent.serial, {
      pem: '-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----',
      fingerprintSha256: intent.serial.padStart(64, '0'),
      spkiSha256: intent.serial.padStart(64, '0'),
      issuedAt: intent.notBefore,
    });
    if (i < expired) expiredSerials.push(intent.serial);
  }
  return { store, expiredSerials };
}

describe('retention pass', () => {
  it('deletes in batches, one audit record per batch naming its serials, oldest first', async () => {
    const { store, expiredSerials } = await storeWith(5, 2);
    try {
      const clock = new TestClock(NOW);
      const result = await pruneExpiredCertificates({ store, clock, keepExpiredMs: 30 * DAY, batch: 2 });
      expect(result).toEqual({
        pruned: { issued: 5, revoked: 0, failed: 0 },
        before: new Date(NOW.getTime() - 30 * DAY),
        batches: 3,
      });
      const records = await store.listAudit({ action: 'certificates.prune' });
      expect(records.map((r) => r.details.count)).toEqual([2, 2, 1]);
      // Oldest first: the last-made expired certificate expired first.
      expect(records.flatMap((r) => r.details.serials as string[])).toEqual([...expiredSerials].reverse());
      expect(records.every((r) => r.actor === 'ca-server')).toBe(true);
      expect(await store.countByState(NOW)).toMatchObject({ valid: 2, expired: 0 });
      expect(await store.verifyAuditChain()).toMatchObject({ ok: true });
    } finally {
      await store.close();
    }
  });

  it('deletes nothing when the audit record cannot be written', async () => {
    const { store, expiredSerials } = await storeWith(3, 0);
    try {
      const failingAudit: RetentionStore = {
        pruneExpiredCertificates: (before, limit) => store.pruneExpiredCertificates(before, limit),
        transaction: (fn) =>
          store.transaction((tx) =>
            fn({
              pruneExpiredCertificates: (before, limit) => tx.pruneExpiredCertificates(before, limit),
              transaction: () => Promise.reject(new Error('nested')),
              appendAudit: () => Promise.reject(new Error('audit log unavailable')),
            }),
          ),
      };
      await expect(
        pruneExpiredCertificates({ store: failingAudit, clock: new TestClock(NOW), keepExpiredMs: DAY }),
      ).rejects.toThrow('audit log unavailable');
      for (const serial of expiredSerials) expect((await store.getCertificate(serial))?.status).toBe('issued');
      expect(await store.listAudit({ action: 'certificates.prune' })).toEqual([]);
    } finally {
      await store.close();
    }
  });
});
