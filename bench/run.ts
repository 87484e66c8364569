/**
 * mutual's benchmarks (`npm run bench -- <name>`): they report figures and never assert them.
 *   ca [--store sqlite|postgres|both] [--n 3000] [--concurrency 32]
 *      durable issuances per second through the CA's HTTP API (POST /v1/sign, P-256, one-time tokens),
 *      with p50/p99 latency, against `mutual ca serve` running as its own process.
 *   store [--store sqlite|postgres|both] [--n 3000] [--concurrency 32] [--sync-delay-ms 0]
 *      the store's two durable write transactions of an issuance per second, without HTTP or crypto;
 *      --sync-delay-ms makes every SQLite WAL sync that much slower (a slower disk, simulated).
 *   crl [--revoked 0,20000,100000] [--revocations 20]
 *      revocation at scale: a CA whose CRL already lists that many certificates starts (timed), then
 *      revokes leaves one by one; time until POST /v1/revoke answers and until GET /v1/crl lists each,
 *      and how long a /healthz probe waited meanwhile; then a new subscriber's replay of the revocation
 *      feed (every listed revocation), timed, with the probe running.
 *   scale [--store sqlite|postgres] [--certs 0,100000,1000000] [--days 100] [--issuances 1000]
 *      the inventory at scale (docs/scale.md): a SQLite inventory seeded as a fleet renewed daily for
 *      `days` days (1 % revoked); bytes per record, time to start, latency of the reads that count or
 *      page the inventory, issuance; then the retention pass deleting what lies past 90 days, timed.
 *   gateway [--duration 10] [--idle 10000] [--workers auto] [--concurrency 16] [--loadgen path/to/mtlsload]
 *           [--only handshakes,keepalive,latency,rate,idle] [--rates 1000,2000,4000] [--rate-connections 64]
 *      the gateway in front of a tiny upstream: full mTLS handshakes/s (TLS 1.3/1.2, P-256/RSA-2048),
 *      keep-alive requests/s with p50/p99, added p99 over a direct request (closed loop with 1 and 4 in
 *      flight; and open loop at fixed rates with bench/rateload), RSS with idle connections.
 *      MUTUAL_NODE=/path/to/node runs the gateway under another Node binary (e.g. Node 24, OpenSSL 3.5).
 */
import 'reflect-metadata';
import { runCaBench } from './ca.js';
import { runCrlBench } from './crl.js';
import { runGatewayBench } from './gateway.js';
import { runScaleBench } from './scale.js';
import { runStoreBench } from './store.js';

const [name = 'ca', ...rest] = process.argv.slice(2);
const arg = (flag: string, fallback: string): string => {
  const i = rest.indexOf(flag);
  return i >= 0 ? (rest[i + 1] ?? fallback) : fallback;
};

const benches = { ca: runCaBench, store: runStoreBench } as const;
if (name === 'ca' || name === 'store') {
  const stores = arg('--store', 'both');
  for (const store of stores === 'both' ? (['sqlite', 'postgres'] as const) : [stores as 'sqlite' | 'postgres']) {
    await benches[name]({
      store,
      n: Number(arg('--n', '3000')),
      concurrency: Number(arg('--concurrency', '32')),
      workers: arg('--workers', ''),
      keys: arg('--keys', 'files') === 'softhsm' ? 'softhsm' : 'files',
      syncDelayMs: Number(arg('--sync-delay-ms', '0')),
    });
  }
} else if (name === 'crl') {
  await runCrlBench({
    revoked: arg('--revoked', '0,20000,100000')
      .split(',')
      .filter((x) => x !== '')
      .map(Number),
    revocations: Number(arg('--revocations', '20')),
  });
} else if (name === 'scale') {
  await runScaleBench({
    store: arg('--store', 'sqlite') === 'postgres' ? 'postgres' : 'sqlite',
    certs: arg('--certs', '0,100000,1000000')
      .split(',')
      .filter((x) => x !== '')
      .map(Number),
    days: Number(arg('--days', '100')),
    issuances: Number(arg('--issuances', '1000')),
  });
} else if (name === 'gateway') {
  const i = rest.indexOf('--loadgen');
  await runGatewayBench({
    duration: Number(arg('--duration', '10')),
    idle: Number(arg('--idle', '10000')),
    workers: arg('--workers', 'auto'),
    concurrency: Number(arg('--concurrency', '16')),
    loadgen: i >= 0 ? rest[i + 1] : undefined,
    only: arg('--only', '')
      .split(',')
      .filter((x) => x !== ''),
    rates: arg('--rates', '1000,2000,4000')
      .split(',')
      .filter((x) => x !== '')
      .map(Number),
    rateConnections: Number(arg('--rate-connections', '64')),
  });
} else {
  console.error(`unknown benchmark "${name}" (known: ca, store, crl, scale, gateway)`);
  process.exitCode = 2;
}
