/**
 * `npm run bench -- gateway`: the gateway (built CLI, `--workers auto` unless told otherwise) in
 * front of a tiny upstream on loopback, measured with the Go load generator of ../shared/bench
 * (mtlsload: full handshakes or keep-alive requests, p50/p99, CPU of the server tree). Reports:
 * full mTLS handshakes/s for TLS 1.3 and 1.2 with P-256 and RSA-2048 chains (server and client),
 * keep-alive requests/s with p50/p99, the p99 the gateway adds over going straight to the
 * upstream at one request in flight, and the resident memory of the gateway processes with
 * N idle mTLS connections (opened by several Node client processes). Prints a table and writes
 * JSON to bench/results/. Figures are reported, never asserted.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createTestCa } from '../packages/server/src/pki/test-support.js';

const REPO = path.resolve(import.meta.dirname, '..');
const BIN = path.join(REPO, 'packages/cli/dist/bin.js');
const SPIFFE = 'spiffe://bench.test/client';
/**
 * The Node binary that runs the gateway (and its workers): `MUTUAL_NODE`, else this process's. The
 * upstream, the idle clients and this script keep running on this process's Node, so two runs that
 * differ only in MUTUAL_NODE compare the gateway's runtime alone.
 */
const GATEWAY_NODE = process.env.MUTUAL_NODE ?? process.execPath;

function nodeVersions(bin: string): { node: string; openssl: string } {
  const out = execFileSync(bin, ['-p', 'process.version + " " + process.versions.openssl'], { encoding: 'utf8' });
  const [node = '', openssl = ''] = out.trim().split(' ');
  return { node, openssl };
}

export interface GatewayBenchOptions {
  /** Seconds per measured run (plus 1 s warm-up). */
  readonly duration: number;
  /** Idle mTLS connections for the memory figure (0 skips it). */
  readonly idle: number;
  readonly workers: string;
  readonly concurrency: number;
  /** Path to an mtlsload binary; default: built from ../shared/bench/loadgen. */
  readonly loadgen: string | undefined;
  /** Which parts run: handshakes, keepalive, latency, rate, idle (default all). */
  readonly only: readonly string[];
  /** Fixed request rates (per second) of the open-loop latency part. */
  readonly rates: readonly number[];
  /** Kept-alive connections of the open-loop part. */
  readonly rateConnections: number;
}

interface Chain {
  readonly dir: string;
  readonly root: string;
  readonly serverChain: string;
  readonly serverKey: string;
  readonly clientChain: string;
  readonly clientKey: string;
}

function writeChain(base: string, name: string, keyType: 'p256' | 'rsa2048'): Chain {
  const dir = path.join(base, name);
  mkdirSync(dir, { recursive: true });
  const ca = createTestCa({ now: new Date(), keyType });
  const server = ca.issue({ profile: 'server', names: { dns: ['localhost'], ip: ['127.0.0.1'] }, lifetimeMs: 864e5 });
  const client = ca.issue({ profile: 'client', names: { uri: [SPIFFE] }, lifetimeMs: 864e5 });
  const f = (n: string, text: string): string => {
    const file = path.join(dir, n);
    writeFileSync(file, text, { mode: 0o600 });
    return file;
  };
  return {
    dir,
    root: f('root.crt', `${ca.root.pem}\n`),
    serverChain: f('server-chain.crt', `${server.pem}\n${ca.intermediate.pem}\n`),
    serverKey: f('server.key', server.keyPem ?? ''),
    clientChain: f('client-chain.crt', `${client.pem}\n${ca.intermediate.pem}\n`),
    clientKey: f('client.key', client.keyPem ?? ''),
  };
}

/** Waits until `re` matches what the child wrote to the stream; rejects if it exits first. */
function waitFor(child: ChildProcess, stream: 'stdout' | 'stderr', re: RegExp): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    let text = '';
    const s = child[stream];
    if (!s) {
      reject(new Error(`no ${stream}`));
      return;
    }
    s.setEncoding('utf8');
    const onData = (d: string): void => {
      text += d;
      const m = re.exec(text);
      if (m) {
        s.off('data', onData);
        s.resume();
        resolve(m);
      }
    };
    s.on('data', onData);
    child.once('exit', (code) => {
      reject(new Error(`exited with ${String(code)} before ready:\n${text}`));
    });
  });
}

function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

const UPSTREAM = `
const http = require('node:http');
const body = 'x'.repeat(99) + '\\n';
const s = http.createServer({ keepAliveTimeout: 600000 }, (req, res) => {
  req.resume();
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '100' });
  res.end(body);
});
s.keepAliveTimeout = 600000;
s.headersTimeout = 0;
s.requestTimeout = 0;
s.listen(0, '127.0.0.1', () => console.log('port ' + s.address().port));
`;

/** Opens N mTLS connections, sends one request on each, keeps them open and idle; prints "idle N". */
const IDLE_CLIENT = `
const tls = require('node:tls');
const fs = require('node:fs');
const [port, n, cert, key, ca] = process.argv.slice(1);
const opts = { host: '127.0.0.1', port: Number(port), servername: 'localhost',
  cert: fs.readFileSync(cert), key: fs.readFileSync(key), ca: fs.readFileSync(ca) };
const sockets = [];
let opened = 0, failed = 0, started = 0;
const inFlight = 16;
function one() {
  if (started >= Number(n)) return;
  started++;
  const s = tls.connect(opts, () => s.write('GET / HTTP/1.1\\r\\nHost: localhost\\r\\n\\r\\n'));
  let done = false;
  s.on('data', () => { if (!done) { done = true; opened++; sockets.push(s); next(); } });
  s.on('error', () => { if (!done) { done = true; failed++; next(); } });
  s.on('close', () => { if (!done) { done = true; failed++; next(); } });
}
function next() {
  if (opened + failed === Number(n)) { console.log('idle ' + opened + ' failed ' + failed); return; }
  one();
}
for (let i = 0; i < inFlight; i++) one();
setInterval(() => {}, 1 << 30);
`;

function rssKiB(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return Number(m?.[1] ?? 0);
  } catch {
    return 0;
  }
}

function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter((s) => s !== '')
      .map(Number);
  } catch {
    return [];
  }
}

/** The gateway process tree (bash → node primary → workers). */
function treePids(root: number): number[] {
  const out: number[] = [];
  const walk = (p: number): void => {
    out.push(p);
    for (const c of childPids(p)) walk(c);
  };
  walk(root);
  return out;
}

function findLoadgen(explicit: string | undefined, dir: string): string {
  if (explicit !== undefined) return explicit;
  const built = path.join(REPO, '../shared/bench/out/bin/mtlsload');
  const src = path.join(REPO, '../shared/bench/loadgen');
  if (!existsSync(path.join(src, 'main.go'))) {
    if (existsSync(built)) return built;
    throw new Error('no load generator: pass --loadgen <mtlsload> or provide ../shared/bench/loadgen and go');
  }
  const out = path.join(dir, 'mtlsload');
  execFileSync('go', ['build', '-trimpath', '-o', out, '.'], {
    cwd: src,
    env: { ...process.env, GOPROXY: 'off', GOFLAGS: '-mod=mod' },
    stdio: 'inherit',
  });
  return out;
}

/** bench/rateload (Go, standard library): open-loop requests at a fixed rate over kept-alive connections. */
function buildRateload(dir: string): string {
  const out = path.join(dir, 'rateload');
  execFileSync('go', ['build', '-trimpath', '-o', out, '.'], {
    cwd: path.join(REPO, 'bench/rateload'),
    env: { ...process.env, GOPROXY: 'off', GOFLAGS: '-mod=mod' },
    stdio: 'inherit',
  });
  return out;
}

interface RateResult {
  rate: number;
  achievedRps: number;
  requests: number;
  errors: number;
  newConnections: number;
  p50_us: number;
  p99_us: number;
  p999_us: number;
  max_us: number;
}

interface LoadResult {
  rps: number;
  p50_us: number;
  p99_us: number;
  errors: number;
  ok: number;
  cpu_s?: Record<string, number>;
  window_s: number;
  preflight_error?: string;
  first_errors?: string[];
}

export async function runGatewayBench(o: GatewayBenchOptions): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mutual-bench-gw-'));
  const ec = writeChain(dir, 'ec', 'p256');
  const rsa = writeChain(dir, 'rsa', 'rsa2048');
  const wants = (part: string): boolean => o.only.length === 0 || o.only.includes(part);
  const loadgen = wants('handshakes') || wants('keepalive') || wants('latency') ? findLoadgen(o.loadgen, dir) : '';
  const load1 = os.loadavg()[0] ?? 0;
  const gatewayRuntime = nodeVersions(GATEWAY_NODE);

  const upstream = spawn(process.execPath, ['-e', UPSTREAM], { stdio: ['ignore', 'pipe', 'inherit'] });
  const upstreamPort = Number((await waitFor(upstream, 'stdout', /port (\d+)/))[1]);

  const listener = (name: string, c: Chain): string => `
  - name: ${name}
    listen: { host: 127.0.0.1, port: 0 }
    tls: { certificate: "${c.serverChain}", key: "${c.serverKey}" }
    clientAuth: { trustBundles: ["${c.root}"] }
    routes:
      - name: all
        path: { prefix: / }
        allow: [{ spiffeId: ${SPIFFE} }]
        upstream: backend`;
  const cfg = path.join(dir, 'gateway.yaml');
  writeFileSync(
    cfg,
    [
      'version: 1',
      'listeners:',
      listener('ec', ec),
      listener('rsa', rsa),
      'upstreams:',
      `  backend: { url: "http://127.0.0.1:${upstreamPort}", maxSockets: 1024 }`,
      'admin: { listen: { host: 127.0.0.1, port: 0 } }',
      `audit: { file: "${path.join(dir, 'audit.jsonl')}" }`,
      'http: { keepAliveTimeout: 10m }',
      'watch: false',
      '',
    ].join('\n'),
  );
  // Idle connections need file descriptors: raise the soft limit to the hard one.
  const gateway = spawn(
    'bash',
    [
      '-c',
      'ulimit -n "$(ulimit -Hn)"; exec "$0" "$@"',
      GATEWAY_NODE,
      BIN,
      'gateway',
      '--config',
      cfg,
      '--workers',
      o.workers,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const ready = await waitFor(
    gateway,
    'stderr',
    /listener ec: port (\d+)\n {2}listener rsa: port (\d+)\n(?:.*\n)? {2}admin: port \d+/,
  );
  const ports = { ec: Number(ready[1]), rsa: Number(ready[2]) };
  // bash exec'd node: the tree is the primary (or the only process) and its workers.
  const nodePids = treePids(gateway.pid ?? 0);
  const pids = nodePids;
  const workers = pids.length > 1 ? pids.length - 1 : 1;
  console.error(`gateway: ${workers} worker(s), pids ${pids.join(' ')}; upstream port ${upstreamPort}`);

  const run = (
    label: string,
    args: { port: number; chain: Chain; mode: 'hs' | 'ka' | 'plain'; tls?: '1.2' | '1.3'; c: number },
  ): LoadResult => {
    const argv = [
      '-addr',
      `127.0.0.1:${args.port}`,
      '-sni',
      'localhost',
      '-mode',
      args.mode,
      '-tls',
      args.tls ?? '1.3',
      '-c',
      String(args.c),
      '-d',
      `${o.duration}s`,
      '-warmup',
      '1s',
      '-watch',
      `server=${args.mode === 'plain' ? String(upstream.pid) : String(gateway.pid)}`,
      '-label',
      label,
    ];
    if (args.mode !== 'plain')
      argv.push('-cert', args.chain.clientChain, '-key', args.chain.clientKey, '-ca', args.chain.root);
    const out = execFileSync(loadgen, argv, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
    const r = JSON.parse(out.trim().split('\n').at(-1) ?? '{}') as LoadResult;
    if (r.preflight_error !== undefined) throw new Error(`${label}: ${r.preflight_error}`);
    console.error(
      `${label}: ${Math.round(r.rps)}/s p50 ${(r.p50_us / 1000).toFixed(2)} ms p99 ${(r.p99_us / 1000).toFixed(2)} ms errors ${r.errors}`,
    );
    return r;
  };

  const results: Record<string, unknown> = {};
  try {
    const c = o.concurrency;
    if (wants('handshakes'))
      results.handshakes = {
        'hs13 P-256': run(`hs13-p256@${c}`, { port: ports.ec, chain: ec, mode: 'hs', tls: '1.3', c }),
        'hs12 P-256': run(`hs12-p256@${c}`, { port: ports.ec, chain: ec, mode: 'hs', tls: '1.2', c }),
        'hs13 RSA-2048': run(`hs13-rsa@${c}`, { port: ports.rsa, chain: rsa, mode: 'hs', tls: '1.3', c }),
        'hs12 RSA-2048': run(`hs12-rsa@${c}`, { port: ports.rsa, chain: rsa, mode: 'hs', tls: '1.2', c }),
      };
    if (wants('keepalive')) results.keepAlive = run(`ka@${c}`, { port: ports.ec, chain: ec, mode: 'ka', c });
    if (wants('latency')) {
      // One request in flight, then four (moderate: well below saturation of either path).
      const added = (n: number) => {
        const viaGateway = run(`ka@${n} via gateway`, { port: ports.ec, chain: ec, mode: 'ka', c: n });
        const direct = run(`plain@${n} direct to upstream`, { port: upstreamPort, chain: ec, mode: 'plain', c: n });
        return {
          viaGateway,
          direct,
          addedP50Ms: (viaGateway.p50_us - direct.p50_us) / 1000,
          addedP99Ms: (viaGateway.p99_us - direct.p99_us) / 1000,
        };
      };
      results.addedLatency = added(1);
      results.addedLatencyC4 = added(4);
    }

    if (wants('rate')) {
      // Open loop: requests leave at a fixed rate whatever the answers do, so a stall shows in the
      // percentiles of every request it delays (a closed loop with few requests in flight hides it).
      const rateload = buildRateload(dir);
      const runRate = (label: string, port: number, rate: number, tls: boolean): RateResult => {
        const argv = [
          '-addr',
          `127.0.0.1:${port}`,
          '-rate',
          String(rate),
          '-d',
          `${o.duration}s`,
          '-conns',
          String(o.rateConnections),
          '-label',
          label,
        ];
        if (tls) argv.push('-cert', ec.clientChain, '-key', ec.clientKey, '-ca', ec.root, '-sni', 'localhost');
        const out = execFileSync(rateload, argv, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
        const r = JSON.parse(out.trim().split('\n').at(-1) ?? '{}') as RateResult;
        console.error(
          `${label}: ${Math.round(r.achievedRps)}/s p50 ${(r.p50_us / 1000).toFixed(2)} ms p99 ${(r.p99_us / 1000).toFixed(2)} ms p99.9 ${(r.p999_us / 1000).toFixed(2)} ms errors ${r.errors} new connections ${r.newConnections}`,
        );
        return r;
      };
      results.openLoop = o.rates.map((rate) => {
        const viaGateway = runRate(`${rate}/s via gateway`, ports.ec, rate, true);
        const direct = runRate(`${rate}/s direct to upstream`, upstreamPort, rate, false);
        return { rate, viaGateway, direct, addedP99Ms: (viaGateway.p99_us - direct.p99_us) / 1000 };
      });
    }

    if (o.idle > 0 && wants('idle')) {
      const before = nodePids.reduce((s, p) => s + rssKiB(p), 0);
      const procs = 4;
      const clients = Array.from({ length: procs }, (_, i) =>
        spawn(
          process.execPath,
          [
            '-e',
            IDLE_CLIENT,
            String(ports.ec),
            String(Math.floor(o.idle / procs) + (i < o.idle % procs ? 1 : 0)),
            ec.clientChain,
            ec.clientKey,
            ec.root,
          ],
          { stdio: ['ignore', 'pipe', 'inherit'] },
        ),
      );
      const t0 = performance.now();
      const opened = await Promise.all(clients.map((ch) => waitFor(ch, 'stdout', /idle (\d+) failed (\d+)/)));
      const seconds = (performance.now() - t0) / 1000;
      const open = opened.reduce((s, m) => s + Number(m[1]), 0);
      const failed = opened.reduce((s, m) => s + Number(m[2]), 0);
      const perProcess = nodePids.map((p) => ({ pid: p, rssMiB: rssKiB(p) / 1024 }));
      const after = perProcess.reduce((s, p) => s + p.rssMiB, 0);
      results.idle = {
        connections: open,
        failed,
        openSeconds: seconds,
        rssBeforeMiB: before / 1024,
        rssWithIdleMiB: after,
        perProcess,
        kibPerConnection: open > 0 ? ((after - before / 1024) * 1024) / open : null,
      };
      console.error(
        `idle: ${open} connections (${failed} failed) in ${seconds.toFixed(1)} s; gateway RSS ${(before / 1024).toFixed(0)} → ${after.toFixed(0)} MiB`,
      );
      await Promise.all(clients.map(stop));
    }
  } finally {
    await stop(gateway);
    await stop(upstream);
  }

  const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: REPO, encoding: 'utf8' }).trim();
  const machine = {
    cpus: os.cpus().length,
    cpu: os.cpus()[0]?.model ?? '',
    os: `${os.type()} ${os.release()}`,
    node: process.version,
    openssl: process.versions.openssl,
    gatewayNode: gatewayRuntime.node,
    gatewayOpenssl: gatewayRuntime.openssl,
    gatewayNodeBinary: GATEWAY_NODE,
    loadavg1Before: load1,
    loadavg1After: os.loadavg()[0] ?? 0,
  };
  const report = { bench: 'gateway', at: new Date().toISOString(), commit, workers, options: o, machine, ...results };
  const resultsDir = path.join(REPO, 'bench/results');
  mkdirSync(resultsDir, { recursive: true });
  const file = path.join(resultsDir, `gateway-${report.at.replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);

  const hsr = results.handshakes as Record<string, LoadResult> | undefined;
  const kar = results.keepAlive as LoadResult | undefined;
  type Added = { viaGateway: LoadResult; direct: LoadResult; addedP99Ms: number };
  const add = results.addedLatency as Added | undefined;
  const add4 = results.addedLatencyC4 as Added | undefined;
  const open = results.openLoop as
    { rate: number; viaGateway: RateResult; direct: RateResult; addedP99Ms: number }[] | undefined;
  const idle = results.idle as { connections: number; rssBeforeMiB: number; rssWithIdleMiB: number } | undefined;
  const ms = (us: number): string => (us / 1000).toFixed(2);
  const rows = [
    ['measure', 'result'],
    ...Object.entries(hsr ?? {}).map(([k, r]) => [
      `full mTLS handshakes/s, ${k}, c${o.concurrency}`,
      `${Math.round(r.rps)} (errors ${r.errors})`,
    ]),
    ...(kar
      ? [
          [
            `keep-alive requests/s, c${o.concurrency}`,
            `${Math.round(kar.rps)} (p50 ${ms(kar.p50_us)} ms, p99 ${ms(kar.p99_us)} ms)`,
          ],
        ]
      : []),
    ...(
      [
        ['c1', add],
        ['c4', add4],
      ] as const
    ).flatMap(([c, a]) =>
      a
        ? [
            [
              `added p99 at ${c} (gateway − direct)`,
              `${a.addedP99Ms.toFixed(2)} ms (gateway p99 ${ms(a.viaGateway.p99_us)}, direct ${ms(a.direct.p99_us)})`,
            ],
          ]
        : [],
    ),
    ...(open ?? []).map((a) => [
      `added p99 at ${a.rate} req/s open loop, ${o.rateConnections} connections (gateway − direct)`,
      `${a.addedP99Ms.toFixed(2)} ms (gateway p50 ${ms(a.viaGateway.p50_us)}, p99 ${ms(a.viaGateway.p99_us)}; direct p99 ${ms(a.direct.p99_us)})`,
    ]),
    ...(idle
      ? [
          [
            `RSS of gateway processes, ${idle.connections} idle mTLS connections`,
            `${idle.rssWithIdleMiB.toFixed(0)} MiB (idle gateway: ${idle.rssBeforeMiB.toFixed(0)} MiB)`,
          ],
        ]
      : []),
  ];
  console.log(
    `\ngateway bench, commit ${commit}, gateway on Node ${gatewayRuntime.node} (OpenSSL ${gatewayRuntime.openssl}), ${workers} worker(s), ${machine.cpus} cpus, load ${load1.toFixed(1)} → ${machine.loadavg1After.toFixed(1)}, ${o.duration} s per run\n`,
  );
  for (const [i, r] of rows.entries()) {
    console.log(`| ${r.join(' | ')} |`);
    if (i === 0) console.log('| --- | --- |');
  }
  console.log(`\n${path.relative(REPO, file)}`);
}
