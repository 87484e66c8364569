import { randomBytes } from 'node:crypto';
import { fdatasync, mkdtempSync } from 'node:fs';
import { promisify } from 'node:util';
import os from 'node:os';
import path from 'node:path';
import { openPostgresStore, openSqliteStore, type Store } from '@mutual/server';
import { startPostgres } from '../packages/server/test/support/postgres.js';

interface Options {
  store: 'sqlite' | 'postgres';
  n: number;
  concurrency: number;
  /** SQLite: each WAL sync takes this much longer than the disk's own (a slower disk, simulated). */
  syncDelayMs?: number;
}

/**
 * The store's side of an issuance, without HTTP or crypto: (intent + consumed token + audit record),
 * then (result + audit record), each a durable write transaction, `concurrency` at a time.
 */
export async function runStoreBench(opts: Options): Promise<void> {
  let pg: Awaited<ReturnType<typeof startPostgres>> | undefined;
  let store: Store;
  if (opts.store === 'postgres') {
    pg = await startPostgres({ durable: true });
    store = await openPostgresStore({ connectionString: pg.connectionString });
  } else {
    const delay = opts.syncDelayMs ?? 0;
    const sync = promisify(fdatasync);
    store = await openSqliteStore({
      file: path.join(mkdtempSync(path.join(os.tmpdir(), 'mutual-bench-store-')), 'ca.db'),
      ...(delay > 0
        ? {
            fdatasync: async (fd: number) => {
              await sync(fd);
              await new Promise((resolve) => setTimeout(resolve, delay));
            },
          }
        : {}),
    });
  }
  try {
    const now = new Date();
    const latencies: number[] = [];
    let next = 0;
    const start = performance.now();
    await Promise.all(
      Array.from({ length: opts.concurrency }, async () => {
        while (next < opts.n) {
          next++;
          const t0 = performance.now();
          const serial = (BigInt(`0x${randomBytes(16).toString('hex')}`) | 1n).toString(16);
          const jti = randomBytes(16).toString('base64url');
          await store.transaction(async (tx) => {
            await tx.reserveSerial({
              serial,
              issuerFingerprint: 'a'.repeat(64),
              profile: 'server',
              subject: 'CN=bench.internal',
              commonName: 'bench.internal',
              identityKind: 'dns',
              identity: 'bench.internal',
              sans: { dns: ['bench.internal'], ip: [], uri: [], email: [] },
              keyType: 'ec-p256',
              notBefore: now,
              notAfter: new Date(now.getTime() + 86_400_000),
              requester: `token:${jti}`,
              createdAt: now,
            });
            if (!(await tx.consumeToken(jti, now, serial))) throw new Error('token replayed');
            await tx.appendAudit({
              at: now,
              actor: `token:${jti}`,
              action: 'token.use',
              subject: jti,
              details: { serial },
            });
          });
          await store.transaction(async (tx) => {
            await tx.completeIssuance(serial, {
              pem: `-----BEGIN CERTIFICATE-----\n${randomBytes(400).toString('base64')}\n-----END CERTIFICATE-----`,
              fingerprintSha256: randomBytes(32).toString('hex'),
              spkiSha256: randomBytes(32).toString('hex'),
              issuedAt: now,
            });
            await tx.appendAudit({
              at: now,
              actor: `token:${jti}`,
              action: 'certificate.issue',
              subject: serial,
              details: { serial, names: { dns: ['bench.internal'] } },
            });
          });
          latencies.push(performance.now() - t0);
        }
      }),
    );
    const seconds = (performance.now() - start) / 1000;
    latencies.sort((a, b) => a - b);
    const at = (p: number): number =>
      Number((latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? NaN).toFixed(2));
    console.log(
      JSON.stringify({
        bench: 'store-issuance',
        store: opts.store,
        issuances: opts.n,
        concurrency: opts.concurrency,
        syncDelayMs: opts.syncDelayMs ?? 0,
        perSecond: Math.round(opts.n / seconds),
        p50ms: at(50),
        p99ms: at(99),
        auditChain: await store.verifyAuditChain(),
        loadAverage: os.loadavg().map((l) => Number(l.toFixed(2))),
        node: process.version,
      }),
    );
  } finally {
    await store.close();
    await pg?.stop();
  }
}
