import { createServer, type AddressInfo } from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPostgres, type TestPostgres } from '../../test/support/postgres.js';
import { describeStoreContract, makeIntent } from './contract.js';
import { MIGRATIONS, openPostgresStore, type Store } from './index.js';

let cluster: TestPostgres;
beforeAll(async () => {
  cluster = await startPostgres();
});
afterAll(async () => {
  await cluster.stop();
});

/** A port nothing listens on: bound by us, then released. */
const closedPort = (): Promise<number> =>
  new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => {
        resolve(port);
      });
    });
  });

async function rawQuery(connectionString: string, text: string): Promise<Record<string, unknown>[]> {
  const client = new pg.Client({ connectionString });
  await client.connect();
  try {
    return (await client.query<Record<string, unknown>>(text)).rows;
  } finally {
    await client.end();
  }
}

describeStoreContract(
  'PostgreSQL',
  async () => {
    const connectionString = await cluster.createDatabase();
    return {
      open: () => openPostgresStore({ connectionString, maxConnections: 8 }),
      query: (text: string) => rawQuery(connectionString, text),
    };
  },
  { concurrentInstanceTransactions: true },
);

describe('PostgreSQL store in a cluster of CA instances', () => {
  it('migrates exactly once when several instances start at the same moment', async () => {
    const connectionString = await cluster.createDatabase();
    const stores = await Promise.all(
      Array.from({ length: 6 }, () => openPostgresStore({ connectionString, maxConnections: 2 })),
    );
    try {
      expect(await rawQuery(connectionString, 'select version, name from schema_migrations order by version')).toEqual(
        MIGRATIONS.map((m) => ({ version: m.version, name: m.name })),
      );
      await stores[0]!.reserveSerial(makeIntent());
      expect(
        (await stores[5]!.countByState(new Date())).valid + (await stores[5]!.countByState(new Date())).pending,
      ).toBe(1);
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  });

  it('races two instances (two pools) on serials, tokens, CRL numbers and the audit chain without a lost update', async () => {
    const connectionString = await cluster.createDatabase();
    const a = await openPostgresStore({ connectionString });
    const b = await openPostgresStore({ connectionString });
    try {
      const pick = (i: number): Store => (i % 2 === 0 ? a : b);
      const serials = Array.from({ length: 10 }, () => makeIntent().serial);
      const reservations = await Promise.allSettled(
        Array.from({ length: 100 }, (_, i) => pick(i).reserveSerial(makeIntent({ serial: serials[i % 10]! }))),
      );
      expect(reservations.filter((r) => r.status === 'fulfilled')).toHaveLength(10);

      const tokens = await Promise.all(
        Array.from({ length: 100 }, (_, i) => pick(i).consumeToken(`jti-${i % 10}`, new Date())),
      );
      expect(tokens.filter(Boolean)).toHaveLength(10);

      const numbers = await Promise.all(Array.from({ length: 100 }, (_, i) => pick(i).nextCrlNumber('f'.repeat(64))));
      expect([...numbers].sort((x, y) => (x < y ? -1 : 1))).toEqual(
        Array.from({ length: 100 }, (_, i) => BigInt(i + 1)),
      );

      await Promise.all(
        Array.from({ length: 60 }, (_, i) =>
          pick(i).transaction(async (tx) => {
            await tx.reserveSerial(makeIntent());
            await tx.appendAudit({
              at: new Date(),
              actor: `ca-${i % 2}`,
              action: 'certificate.reserve',
              subject: 's',
              details: { i },
            });
          }),
        ),
      );
      expect(await b.verifyAuditChain()).toEqual({ ok: true, count: 60 });
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('reports an unreachable server as ERR_STORE_UNAVAILABLE without revealing the connection string', async () => {
    const port = await closedPort();
    const connectionString = `postgresql://postgres:s3cret@127.0.0.1:${port}/mutual`;
    const error = await openPostgresStore({ connectionString, connectTimeoutMs: 2000 }).catch((e: unknown) => e);
    expect(error).toMatchObject({ name: 'MutualError', code: 'ERR_STORE_UNAVAILABLE', status: 503 });
    const visible = JSON.stringify((error as { toPublic(): unknown }).toPublic()) + (error as Error).message;
    expect(visible).not.toMatch(/s3cret|127\.0\.0\.1|ECONNREFUSED/);
  });

  it('fails calls with ERR_STORE_UNAVAILABLE when the server dies, and works again when connections come back', async () => {
    const own = await startPostgres();
    try {
      const store = await openPostgresStore({ connectionString: own.connectionString, connectTimeoutMs: 2000 });
      const intent = makeIntent();
      await store.reserveSerial(intent);
      // Kill every server process serving the store (as a failover or an operator would) and wait until they are
      // gone; the server stays up.
      await rawQuery(
        own.connectionString.replace(/\/mutual$/, '/postgres'),
        "select pg_terminate_backend(pid, 10000) from pg_stat_activity where application_name = 'mutual'",
      );
      // The pool may still hand out a dead connection once: that call fails cleanly, the next one reconnects.
      const first: unknown = await store.getCertificate(intent.serial).catch((e: unknown) => e);
      if (first instanceof Error) expect(first).toMatchObject({ code: 'ERR_STORE_UNAVAILABLE' });
      else expect(first).toMatchObject({ status: 'pending' });
      expect(await store.getCertificate(intent.serial)).toMatchObject({ status: 'pending' });

      await own.stop();
      await expect(store.getCertificate(intent.serial)).rejects.toMatchObject({ code: 'ERR_STORE_UNAVAILABLE' });
      await expect(
        store.appendAudit({ at: new Date(), actor: 'a', action: 'b', subject: 'c', details: {} }),
      ).rejects.toMatchObject({
        code: 'ERR_STORE_UNAVAILABLE',
      });
      await store.close();
    } finally {
      await own.stop();
    }
  });
});
