import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { openSqliteStore } from '@mutual/server';
import { BIN, mutual, tempDir } from '../support.js';

const work = tempDir();
const ca = path.join(work, 'ca');

beforeAll(async () => {
  expect((await mutual(['ca', 'init', '--dir', ca])).code).toBe(0);
}, 60_000);

/** Starts `mutual cert issue` and SIGKILLs it after `killAfterMs`, wherever it is by then. */
function issueAndKill(name: string, killAfterMs: number): Promise<number | null> {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      [BIN, 'cert', 'issue', name, '--profile', 'server', '--dir', ca, '--out', path.join(work, 'out')],
      {
        stdio: 'ignore',
      },
    );
    // Fault injection, not waiting: the kill lands at a different point of each run.
    const timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

describe('issuance under SIGKILL', () => {
  it('never leaves a delivered certificate without an issued record, nor a serial used twice', async () => {
    // Spread the kill points over the whole life of the process (start-up ~150-400 ms, issuance after).
    const runs = 24;
    for (let i = 0; i < runs; i++) {
      await issueAndKill(`k${i}.internal`, 120 + ((i * 37) % 400));
    }
    const store = await openSqliteStore({ file: path.join(ca, 'mutual.db') });
    try {
      const outDir = path.join(work, 'out');
      const delivered = existsSync(outDir) ? readdirSync(outDir).filter((f) => f.endsWith('.crt')) : [];
      for (const file of delivered) {
        const leaf = new X509Certificate(readFileSync(path.join(outDir, file)));
        const rec = await store.findByFingerprint(leaf.fingerprint256.replace(/:/g, '').toLowerCase());
        expect(rec, `record for ${file}`).toBeDefined();
        expect(rec?.status).toBe('issued');
        expect(BigInt(`0x${rec?.serial ?? '0'}`)).toBe(BigInt(`0x${leaf.serialNumber}`));
        // The key beside it belongs to the certificate (never a torn or mismatched pair).
        const key = createPrivateKey(readFileSync(path.join(outDir, file.replace(/\.crt$/, '.key'))));
        expect(leaf.checkPrivateKey(key)).toBe(true);
      }
      const page = await store.listCertificates({ now: new Date(), limit: 1000 });
      const serials = page.items.map((c) => c.serial);
      expect(new Set(serials).size).toBe(serials.length);
      // Some runs died before signing, some completed: the inventory holds both kinds of outcome.
      const statuses = new Set(page.items.filter((c) => c.profile === 'server').map((c) => c.status));
      expect([...statuses].every((s) => s === 'issued' || s === 'pending')).toBe(true);
    } finally {
      await store.close();
    }
  }, 120_000);
});
