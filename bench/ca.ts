import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { mkdtempSync } from 'node:fs';
import { CaClient } from '@mutual/sdk';
import { initCa } from '@mutual/server';
import { createKeyAndCsr } from '../packages/cli/src/csr.js';
import { startPostgres } from '../packages/server/test/support/postgres.js';
import { createSoftHsmToken } from '../packages/server/test/support/softhsm.js';

const BIN = path.resolve(import.meta.dirname, '../packages/cli/dist/bin.js');

interface Options {
  store: 'sqlite' | 'postgres';
  n: number;
  concurrency: number;
  /** `server.workers` of the CA (pki threads); default the configuration's (`auto`). */
  workers?: string;
  /** Where the root and intermediate keys are: encrypted files (default) or a SoftHSM token. */
  keys?: 'files' | 'softhsm';
}

/** A fresh P-256 CA for a benchmark: generated passphrase, `**.internal` allowed; in PostgreSQL when `postgresEnv` is given. */
export async function initBenchCa(
  dir: string,
  env: Record<string, string>,
  postgresEnv?: string,
  pkcs11?: { module: string; token: string; pinFile: string },
): Promise<void> {
  await initCa({
    dir,
    name: 'bench',
    keyType: 'p256',
    passphrase: { mode: 'generate' },
    trustDomain: 'bench.local',
    allowDns: ['**.internal'],
    env,
    now: new Date(),
    ...(postgresEnv === undefined ? {} : { store: { postgresEnv } }),
    ...(pkcs11 === undefined
      ? {}
      : { pkcs11: { module: pkcs11.module, token: pkcs11.token, pin: { file: pkcs11.pinFile } } }),
  });
}

export function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

export async function startServer(
  dir: string,
  env: Record<string, string>,
): Promise<{ url: string; stop: () => Promise<void>; pid: number }> {
  const nodeArgs = (process.env['MUTUAL_BENCH_SERVER_NODE_ARGS'] ?? '').split(' ').filter(Boolean);
  // MUTUAL_NODE: run the CA under another Node binary (its native modules must be built for it).
  const node = process.env['MUTUAL_NODE'] ?? process.execPath;
  const child = spawn(node, [...nodeArgs, BIN, 'ca', 'serve', '--dir', dir, '--listen', '127.0.0.1:0'], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      const m = /listening on (https:\/\/\S+)/.exec(out);
      if (m?.[1]) resolve(m[1]);
    });
    child.once('exit', (code) => {
      reject(new Error(`ca serve exited with ${String(code)}: ${out}`));
    });
  });
  return {
    url,
    stop: () =>
      new Promise<void>((resolve) => {
        child.once('exit', () => {
          resolve();
        });
        child.kill('SIGTERM');
      }),
    pid: child.pid ?? 0,
  };
}

/** CPU time (user + system, every thread) a process has used so far, from /proc (Linux). */
function processCpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8')
    .replace(/^.*\) /s, '')
    .split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return (ticks * 1000) / 100; // USER_HZ is 100 on Linux
}

/** Durable issuances per second through POST /v1/sign with keep-alive connections. */
export async function runCaBench(opts: Options): Promise<void> {
  const work = mkdtempSync(path.join(os.tmpdir(), 'mutual-bench-ca-'));
  const dir = path.join(work, 'ca');
  const env: Record<string, string> = {};
  let pg: Awaited<ReturnType<typeof startPostgres>> | undefined;
  if (opts.store === 'postgres') {
    // Durable like a production server: fsync, synchronous_commit and full_page_writes on.
    pg = await startPostgres({ durable: true });
    env['MUTUAL_BENCH_DB'] = pg.connectionString;
  }
  let pkcs11: { module: string; token: string; pinFile: string } | undefined;
  if (opts.keys === 'softhsm') {
    const token = createSoftHsmToken('bench');
    env['SOFTHSM2_CONF'] = token.conf;
    process.env['SOFTHSM2_CONF'] = token.conf; // initCa makes the keys from this process
    const pinFile = path.join(work, 'pin');
    writeFileSync(pinFile, token.pin, { mode: 0o600 });
    pkcs11 = { module: token.module, token: token.label, pinFile };
  }
  await initBenchCa(dir, env, pg === undefined ? undefined : 'MUTUAL_BENCH_DB', pkcs11);
  if (opts.workers !== undefined && opts.workers !== '') {
    const workers = opts.workers === 'auto' ? 'auto' : Number(opts.workers);
    writeFileSync(
      path.join(dir, 'ca.yaml'),
      `${readFileSync(path.join(dir, 'ca.yaml'), 'utf8')}\nserver: { workers: ${String(workers)} }\n`,
    );
  }
  const server = await startServer(dir, env);
  try {
    const root = readFileSync(path.join(dir, 'root.crt'));
    const adminCert = readFileSync(path.join(dir, 'admin', 'admin.crt'));
    const adminKey = readFileSync(path.join(dir, 'admin', 'admin.key'));
    const name = 'bench.internal';
    const names = { dns: [name], ip: [], uri: [], email: [] };
    // A fresh key and CSR per issuance, made before the clock starts: the CA parses, imports and
    // checks a key it has never seen on every request, as it would for real clients.
    const csrs: string[] = [];
    for (let i = 0; i < opts.n; i++) csrs.push((await createKeyAndCsr('p256', names)).csrPem);
    const url = new URL('/v1/sign', server.url);
    const post = (agent: Agent, pathname: string, payload: unknown): Promise<{ ms: number; body: string }> =>
      new Promise((resolve, reject) => {
        const body = JSON.stringify(payload);
        const t0 = performance.now();
        const req = request(
          {
            host: url.hostname,
            port: url.port,
            path: pathname,
            method: 'POST',
            agent,
            headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
          },
          (res) => {
            let text = '';
            res.setEncoding('utf8').on('data', (d: string) => (text += d));
            res.on('end', () => {
              if (res.statusCode === 201 || res.statusCode === 200) resolve({ ms: performance.now() - t0, body: text });
              else reject(new Error(`HTTP ${String(res.statusCode)}: ${text}`));
            });
          },
        );
        req.on('error', reject);
        req.end(body);
      });

    // The SDK's client opens a new mutual-TLS connection per call: measured on a sample, for reference.
    const sdk = new CaClient({ url: server.url, ca: root, cert: adminCert, key: adminKey });
    const sdkSample = Math.min(256, opts.n);
    const tokens: string[] = [];
    const sdkStart = performance.now();
    while (tokens.length < sdkSample) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(64, sdkSample - tokens.length) }, () =>
          sdk.createToken({ names, profile: 'server', ttl: '1h' }),
        ),
      );
      tokens.push(...batch.map((t) => t.token));
    }
    const sdkMintSeconds = (performance.now() - sdkStart) / 1000;

    // Token minting as the CA sees it: admin requests over kept-alive mutual-TLS connections.
    const adminAgent = new Agent({ keepAlive: true, maxSockets: 64, ca: root, cert: adminCert, key: adminKey });
    const mintStart = performance.now();
    const minted = tokens.length;
    let pending = opts.n - tokens.length;
    await Promise.all(
      Array.from({ length: 64 }, async () => {
        while (pending > 0) {
          pending--;
          const { body } = await post(adminAgent, '/v1/tokens', { names, profile: 'server', ttl: '1h' });
          tokens.push((JSON.parse(body) as { token: string }).token);
        }
      }),
    );
    const mintSeconds = (performance.now() - mintStart) / 1000;
    adminAgent.destroy();

    const agent = new Agent({ keepAlive: true, maxSockets: opts.concurrency, ca: root });
    const sign = async (token: string, csr: string): Promise<number> =>
      (await post(agent, url.pathname, { token, csr })).ms;

    const latencies: number[] = [];
    let next = 0;
    let failures = 0;
    const serverCpu0 = processCpuMs(server.pid);
    const clientCpu0 = process.cpuUsage();
    const start = performance.now();
    await Promise.all(
      Array.from({ length: opts.concurrency }, async () => {
        while (next < tokens.length) {
          const i = next++;
          try {
            latencies.push(await sign(tokens[i] ?? '', csrs[i] ?? ''));
          } catch {
            failures++;
          }
        }
      }),
    );
    const seconds = (performance.now() - start) / 1000;
    const serverCpuMs = processCpuMs(server.pid) - serverCpu0;
    const clientCpu = process.cpuUsage(clientCpu0);
    agent.destroy();
    latencies.sort((a, b) => a - b);
    console.log(
      JSON.stringify({
        bench: 'ca-sign',
        store: opts.store,
        issued: latencies.length,
        failures,
        concurrency: opts.concurrency,
        workers: opts.workers ?? 'auto',
        keys: opts.keys ?? 'files',
        perSecond: Math.round(latencies.length / seconds),
        p50ms: Number(percentile(latencies, 50).toFixed(2)),
        p99ms: Number(percentile(latencies, 99).toFixed(2)),
        serverCpuUsPerIssuance: Math.round((serverCpuMs * 1000) / Math.max(1, latencies.length)),
        clientCpuUsPerIssuance: Math.round((clientCpu.user + clientCpu.system) / Math.max(1, latencies.length)),
        tokensMintedPerSecond: Math.round((opts.n - minted) / mintSeconds),
        tokensMintedPerSecondSdkClient: Math.round(minted / sdkMintSeconds),
        loadAverage: os.loadavg().map((l) => Number(l.toFixed(2))),
        node: process.env['MUTUAL_NODE'] === undefined ? process.version : `server ${process.env['MUTUAL_NODE']}`,
        cpus: os.cpus().length,
        cpu: os.cpus()[0]?.model,
      }),
    );
  } finally {
    await server.stop();
    await pg?.stop();
  }
}
