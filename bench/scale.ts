import { createHash, randomBytes, X509Certificate } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { Agent } from 'node:https';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { createKeyAndCsr } from '../packages/cli/src/csr.js';
import { startPostgres } from '../packages/server/test/support/postgres.js';
import { initBenchCa, percentile, startServer } from './ca.js';
import { call } from './crl.js';

interface Options {
  /** Where the inventory lives. */
  store: 'sqlite' | 'postgres';
  /** Inventory sizes, one CA per figure. */
  certs: number[];
  /** Days of history in the seeded inventory (a fleet renewed daily): rows = fleet × days. */
  days: number;
  /** Issuances timed through the API at each size. */
  issuances: number;
}

const DAY = 86_400_000;
const KEEP_EXPIRED_DAYS = 90;

const COLUMNS = `serial, issuer_fingerprint, subject, common_name, identity_kind, identity, sans_json, profile,
  key_type, status, not_before, not_after, fingerprint_sha256, spki_sha256, pem, requester, created_at, issued_at,
  revoked_at, revocation_reason`;

/**
 * The rows of an inventory shaped like a fleet of `n / days` services renewed daily for `days`
 * days: row i belongs to service i mod fleet and was issued floor(i / fleet) days ago with a
 * one-day lifetime, so today's fleet is valid and the rest has expired; 1 % are revoked. Each row
 * carries a PEM of realistic size (random bytes), so the size per record is what a real inventory
 * costs. `pastRetention` counts the rows that lie past keepExpired.
 */
function* inventoryRows(
  issuerFingerprint: string,
  n: number,
  days: number,
  counts: { pastRetention: number },
): Generator<unknown[], void, unknown> {
  const fleet = Math.max(1, Math.floor(n / days));
  const now = Date.now();
  const body = (): string =>
    `-----BEGIN CERTIFICATE-----\n${
      randomBytes(540)
        .toString('base64')
        .match(/.{1,64}/g)
        ?.join('\n') ?? ''
    }\n-----END CERTIFICATE-----\n`;
  for (let i = 0; i < n; i++) {
    const service = i % fleet;
    const age = Math.floor(i / fleet);
    const notBefore = now - age * DAY - ((service * 7919) % 3_600_000);
    const notAfter = notBefore + DAY;
    if (notAfter < now - KEEP_EXPIRED_DAYS * DAY) counts.pastRetention++;
    const revoked = i % 100 === 42;
    const identity = `spiffe://bench.local/svc/${String(service)}`;
    yield [
      (BigInt(`0x${randomBytes(16).toString('hex')}`) | 1n).toString(16),
      issuerFingerprint,
      `CN=svc-${String(service)}`,
      `svc-${String(service)}`,
      'spiffe',
      identity,
      JSON.stringify({ dns: [], ip: [], uri: [identity], email: [] }),
      'client',
      'p256',
      revoked ? 'revoked' : 'issued',
      notBefore,
      notAfter,
      randomBytes(32).toString('hex'),
      randomBytes(32).toString('hex'),
      body(),
      'bench',
      notBefore,
      notBefore,
      revoked ? notBefore + 60_000 : null,
      revoked ? 'superseded' : null,
    ];
  }
}

const nextRow = (rows: Generator<unknown[], void, unknown>): unknown[] => {
  const r = rows.next();
  return r.done === true ? [] : r.value;
};

/** Where the benchmark's inventory lives, seeded straight into the database. */
interface BenchDb {
  readonly env: Record<string, string>;
  readonly postgresEnv?: string;
  seed(issuerFingerprint: string, n: number, days: number): Promise<{ pastRetention: number }>;
  /** Bytes the inventory takes (SQLite: the file; PostgreSQL: the table with its indexes and TOAST). */
  size(): Promise<number>;
  /** Records deleted so far, from the audit log (a reader the CA never waits for). */
  pruned(): Promise<number>;
  close(): Promise<void>;
}

const sumCounts = (rows: { details_json: string }[]): number =>
  rows.reduce((sum, r) => sum + (JSON.parse(r.details_json) as { count: number }).count, 0);
const PRUNED_SQL = "select details_json from audit_log where action = 'certificates.prune'";

function sqliteDb(dir: string): BenchDb {
  const file = path.join(dir, 'mutual.db');
  let reader: Database.Database | undefined;
  return {
    env: {},
    seed: (issuerFingerprint, n, days) => {
      const db = new Database(file);
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = OFF');
      const insert = db.prepare(`insert into certificates (${COLUMNS}) values (${Array(20).fill('?').join(', ')})`);
      const counts = { pastRetention: 0 };
      const rows = inventoryRows(issuerFingerprint, n, days, counts);
      for (let done = 0; done < n;) {
        const batch = Math.min(20_000, n - done);
        db.transaction(() => {
          for (let j = 0; j < batch; j++) insert.run(...nextRow(rows));
        })();
        done += batch;
      }
      db.pragma('wal_checkpoint(TRUNCATE)');
      db.close();
      return Promise.resolve(counts);
    },
    size: () => Promise.resolve(statSync(file).size),
    pruned: () => {
      reader ??= new Database(file, { readonly: true });
      return Promise.resolve(sumCounts(reader.prepare(PRUNED_SQL).all() as { details_json: string }[]));
    },
    close: () => {
      reader?.close();
      return Promise.resolve();
    },
  };
}

async function postgresDb(): Promise<BenchDb> {
  const cluster = await startPostgres({ durable: true });
  const client = new pg.Client({ connectionString: cluster.connectionString });
  await client.connect();
  return {
    env: { MUTUAL_BENCH_DB: cluster.connectionString },
    postgresEnv: 'MUTUAL_BENCH_DB',
    seed: async (issuerFingerprint, n, days) => {
      const counts = { pastRetention: 0 };
      const rows = inventoryRows(issuerFingerprint, n, days, counts);
      for (let done = 0; done < n;) {
        const batch = Math.min(1000, n - done);
        const values: unknown[] = [];
        const tuples: string[] = [];
        for (let j = 0; j < batch; j++) {
          const row = nextRow(rows);
          tuples.push(`(${row.map((_, k) => `$${String(values.length + k + 1)}`).join(', ')})`);
          values.push(...row);
        }
        await client.query(`insert into certificates (${COLUMNS}) values ${tuples.join(', ')}`, values);
        done += batch;
      }
      await client.query('vacuum analyze certificates');
      return counts;
    },
    size: async () =>
      Number(
        (await client.query<{ n: string }>("select pg_total_relation_size('certificates')::text as n")).rows[0]?.n ?? 0,
      ),
    pruned: async () => sumCounts((await client.query<{ details_json: string }>(PRUNED_SQL)).rows),
    close: async () => {
      await client.end();
      await cluster.stop();
    },
  };
}

const ms = (x: number): number => Number(x.toFixed(1));

/** Asks a GET `times` times (after one warm-up) and returns p50 and max in ms; refuses a non-200. */
async function timeGet(agent: Agent, url: URL, pathname: string, times = 10): Promise<{ p50: number; max: number }> {
  const first = await call(agent, url, 'GET', pathname);
  if (first.status !== 200) throw new Error(`${pathname}: HTTP ${String(first.status)} ${first.body.toString()}`);
  const all: number[] = [];
  for (let i = 0; i < times; i++) all.push((await call(agent, url, 'GET', pathname)).ms);
  all.sort((a, b) => a - b);
  return { p50: ms(percentile(all, 50)), max: ms(all.at(-1) ?? Number.NaN) };
}

/** A probe asking GET /healthz every 2 ms until stopped: how long the CA kept it waiting. */
function probe(agent: Agent, url: URL): { stop: () => Promise<number[]> } {
  const state = { on: true };
  const waits: number[] = [];
  const running = (async () => {
    while (state.on) {
      waits.push((await call(agent, url, 'GET', '/healthz')).ms);
      await new Promise((r) => setTimeout(r, 2));
    }
  })();
  return {
    stop: async () => {
      state.on = false;
      await running;
      return waits.sort((a, b) => a - b);
    },
  };
}

/**
 * The scale envelope (docs/scale.md): for each inventory size, a CA over a seeded SQLite inventory
 * (a daily-renewed fleet with `days` of history, 1 % revoked) — bytes per record, time to start,
 * the latency of the reads that scan or page the inventory, issuance through the API; then the same
 * CA restarted with inventory.keepExpired 90d: how long the retention pass takes to delete what lies
 * past it and how long the CA kept a /healthz probe waiting meanwhile.
 */
export async function runScaleBench(opts: Options): Promise<void> {
  const dbs: BenchDb[] = [];
  for (const n of opts.certs) {
    const work = mkdtempSync(path.join(os.tmpdir(), 'mutual-bench-scale-'));
    const dir = path.join(work, 'ca');
    try {
      mkdirSync(dir);
      const db = opts.store === 'postgres' ? await postgresDb() : sqliteDb(dir);
      dbs.push(db);
      await initBenchCa(dir, db.env, db.postgresEnv);
      const yaml = path.join(dir, 'ca.yaml');
      const baseYaml = readFileSync(yaml, 'utf8');
      writeFileSync(yaml, `${baseYaml}\ninventory: { keepExpired: forever }\n`);
      const intermediate = new X509Certificate(readFileSync(path.join(dir, 'intermediate.crt')));
      const fingerprint = createHash('sha256').update(intermediate.raw).digest('hex');
      const sizeBefore = await db.size();
      const seedStart = performance.now();
      const { pastRetention } = await db.seed(fingerprint, n, opts.days);
      const seedSeconds = (performance.now() - seedStart) / 1000;
      const bytesPerRecord = n === 0 ? 0 : Math.round(((await db.size()) - sizeBefore) / n);

      const started = performance.now();
      let server = await startServer(dir, db.env);
      const startMs = performance.now() - started;
      let url = new URL(server.url);
      const root = readFileSync(path.join(dir, 'root.crt'));
      const adminOptions = {
        keepAlive: true,
        ca: root,
        cert: readFileSync(path.join(dir, 'admin', 'admin.crt')),
        key: readFileSync(path.join(dir, 'admin', 'admin.key')),
      };
      let admin = new Agent(adminOptions);
      const anon = new Agent({ keepAlive: true, ca: root, maxSockets: 16 });
      const reads = {
        metrics: await timeGet(anon, url, '/metrics'),
        status: await timeGet(admin, url, '/v1/status'),
        firstPage: await timeGet(admin, url, '/v1/certificates?limit=100'),
        byIdentity: await timeGet(
          admin,
          url,
          `/v1/certificates?identity=${encodeURIComponent('spiffe://bench.local/svc/7')}`,
        ),
        expiredPage: await timeGet(admin, url, '/v1/certificates?state=expired&limit=100'),
        search: await timeGet(admin, url, '/v1/certificates?search=svc-77&limit=100', 3),
      };
      // A search that matches nothing reads every row: the worst case of the dashboard's search box.
      // A /healthz probe meanwhile says how long the CA answered nothing else.
      const searchProbeAgent = new Agent({ keepAlive: true, maxSockets: 1, ca: root });
      const searchProbe = probe(searchProbeAgent, url);
      const searchNoMatch = await timeGet(admin, url, '/v1/certificates?search=no-such-name&limit=100', 3);
      const searchWaits = await searchProbe.stop();
      searchProbeAgent.destroy();

      // Issuance at this size: tokens minted first, then signed at 16 in flight.
      const names = { dns: ['scale.internal'], ip: [], uri: [], email: [] };
      const jobs: { token: string; csr: string }[] = [];
      for (let i = 0; i < opts.issuances; i++) {
        const minted = await call(admin, url, 'POST', '/v1/tokens', { names, profile: 'server', ttl: '1h' });
        jobs.push({
          token: (JSON.parse(minted.body.toString('utf8')) as { token: string }).token,
          csr: (await createKeyAndCsr('p256', names)).csrPem,
        });
      }
      const latencies: number[] = [];
      let next = 0;
      const t0 = performance.now();
      await Promise.all(
        Array.from({ length: 16 }, async () => {
          while (next < jobs.length) {
            const job = jobs[next++];
            if (job === undefined) break;
            const r = await call(anon, url, 'POST', '/v1/sign', job);
            if (r.status !== 201) throw new Error(`sign: HTTP ${String(r.status)} ${r.body.toString()}`);
            latencies.push(r.ms);
          }
        }),
      );
      const issueSeconds = (performance.now() - t0) / 1000;
      latencies.sort((a, b) => a - b);
      await server.stop();
      admin.destroy();

      // The same inventory under the default retention: the pass deletes what lies past 90 days.
      writeFileSync(yaml, `${baseYaml}\ninventory: { keepExpired: ${String(KEEP_EXPIRED_DAYS)}d }\n`);
      const restarted = performance.now();
      server = await startServer(dir, db.env);
      const restartMs = performance.now() - restarted;
      url = new URL(server.url);
      const health = new Agent({ keepAlive: true, maxSockets: 1, ca: root });
      admin = new Agent(adminOptions);
      const watch = probe(health, url);
      let pruned = 0;
      const pruneStart = performance.now();
      while (pruned < pastRetention) {
        pruned = await db.pruned();
        await new Promise((r) => setTimeout(r, 100));
      }
      const pruneSeconds = (performance.now() - pruneStart + restartMs) / 1000;
      const waits = await watch.stop();
      const after = {
        metrics: await timeGet(anon, url, '/metrics'),
        status: await timeGet(admin, url, '/v1/status'),
      };
      await server.stop();
      const sizeAfterPrune = await db.size();
      for (const a of [admin, anon, health]) a.destroy();

      console.log(
        JSON.stringify({
          bench: 'ca-scale',
          store: opts.store,
          records: n,
          fleet: Math.floor(n / opts.days),
          days: opts.days,
          seedSeconds: Number(seedSeconds.toFixed(1)),
          bytesPerRecord,
          dbMiB: Math.round(sizeAfterPrune / 1048576),
          startMs: Math.round(startMs),
          readsMs: { ...reads, searchNoMatch },
          healthzDuringSearchP99ms: ms(percentile(searchWaits, 99)),
          healthzDuringSearchMaxMs: ms(searchWaits.at(-1) ?? Number.NaN),
          issued: latencies.length,
          issuedPerSecond: Math.round(latencies.length / issueSeconds),
          issueP50ms: ms(percentile(latencies, 50)),
          issueP99ms: ms(percentile(latencies, 99)),
          pastRetention,
          pruned,
          restartMs: Math.round(restartMs),
          pruneSeconds: Number(pruneSeconds.toFixed(1)),
          prunedPerSecond: pruneSeconds > 0 ? Math.round(pruned / pruneSeconds) : null,
          healthzDuringPruneP99ms: ms(percentile(waits, 99)),
          healthzDuringPruneMaxMs: ms(waits.at(-1) ?? Number.NaN),
          readsAfterPruneMs: after,
          node: process.version,
          loadAverage: os.loadavg().map((l) => Number(l.toFixed(2))),
        }),
      );
    } finally {
      for (const db of dbs.splice(0)) await db.close();
      rmSync(work, { recursive: true, force: true });
    }
  }
}
