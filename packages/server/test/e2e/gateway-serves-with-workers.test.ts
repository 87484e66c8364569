import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync, watch } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  WEB,
  gatewayConfig,
  get,
  makePki,
  startUpstream,
  writeConfig,
  type Pki,
  type Upstream,
} from './gateway-harness.js';

/**
 * `mutual gateway` with `workers: 2`, run from the built binary: a primary and two worker processes
 * share the listening socket, the primary's /metrics sums the workers, SIGHUP reaches every worker,
 * a killed worker is replaced, audit lines from all stay whole, and SIGTERM ends every process cleanly.
 */
const BIN = fileURLToPath(new URL('../../../cli/dist/bin.js', import.meta.url));

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('mutual gateway with workers', () => {
  let pki: Pki;
  let upstream: Upstream;
  let child: ChildProcess;
  let stderr = '';
  let port = 0;
  let adminPort = 0;
  let workers: number[] = [];
  let auditFile = '';
  const waitForStderr = (re: RegExp, from = 0): Promise<RegExpExecArray> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        const m = re.exec(stderr.slice(from));
        if (m) {
          child.stderr?.off('data', check);
          child.off('exit', onExit);
          resolve(m);
        }
      };
      const onExit = (): void => {
        reject(new Error(`the gateway exited:\n${stderr}`));
      };
      child.stderr?.on('data', check);
      child.on('exit', onExit);
      check();
    });

  const auditRequests = (): number =>
    readFileSync(auditFile, 'utf8')
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as { type: string; status: number | null })
      .filter((r) => r.type === 'request' && r.status === 200).length;
  /** Resolves once the audit file holds `n` allowed requests (woken by changes to the file, never by a timer). */
  const auditHas = (n: number): Promise<void> =>
    new Promise((resolve) => {
      const w = watch(auditFile, () => {
        if (auditRequests() >= n) {
          w.close();
          resolve();
        }
      });
      if (auditRequests() >= n) {
        w.close();
        resolve();
      }
    });

  beforeAll(async () => {
    pki = makePki();
    upstream = await startUpstream();
    auditFile = path.join(pki.dir, 'audit.jsonl');
    const configFile = writeConfig(
      pki,
      gatewayConfig(pki, upstream.url, {
        routes: [{ name: 'api', path: { prefix: '/' }, allow: [{ spiffeId: WEB }], upstream: 'app' }],
        workers: 2,
        watch: false,
      }),
    );
    child = spawn(process.execPath, [BIN, 'gateway', '--config', configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    const ready = await waitForStderr(
      /listener main: port (\d+)\n {2}workers: 2 \(pids (\d+) (\d+)\)\n {2}admin: port (\d+)/,
    );
    port = Number(ready[1]);
    workers = [Number(ready[2]), Number(ready[3])];
    adminPort = Number(ready[4]);
  });
  afterAll(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      for (const pid of workers) if (alive(pid)) process.kill(pid, 'SIGKILL');
    }
    await upstream.close();
  });

  it('two worker processes serve mTLS requests on one port; the admin listener sums their metrics', async () => {
    expect(new Set([...workers, child.pid]).size).toBe(3);
    const h = { port, pki };
    const web = pki.client('web', { profile: 'client', names: { uri: [WEB] } });
    const statuses = await Promise.all(Array.from({ length: 20 }, (_, i) => get(h, `/r${i}`, { client: web })));
    expect(statuses.map((r) => r.status)).toEqual(Array<number>(20).fill(200));
    const metrics = await fetch(`http://127.0.0.1:${adminPort}/metrics`).then((r) => r.text());
    expect(metrics).toMatch(
      /mutual_gateway_requests_total\{listener="main",route="api",decision="allow",status="200"\} 20\n/,
    );
    const readyz = await fetch(`http://127.0.0.1:${adminPort}/readyz`);
    expect(readyz.status).toBe(200);
    expect(await readyz.json()).toEqual({ status: 'ready', workers: 2 });
  });

  it('SIGHUP to the primary reloads every worker: new connections all present the new certificate', async () => {
    const before = stderr.length;
    const rotated = pki.rotateServer();
    const fingerprint = createHash('sha256').update(rotated.der).digest('hex');
    child.kill('SIGHUP');
    await waitForStderr(/"message":"gateway reloaded","workers":2/, before);
    const web = pki.client('web2', { profile: 'client', names: { uri: [WEB] } });
    const seen = new Set<string>();
    // Connections are handed to the workers in turn: six new ones reach both.
    for (let i = 0; i < 6; i++)
      expect((await get({ port, pki }, '/after', { client: web, onServerCert: (fp) => seen.add(fp) })).status).toBe(
        200,
      );
    expect([...seen]).toEqual([fingerprint]);
  });

  it('a worker that dies is replaced, and requests are served throughout', async () => {
    const before = stderr.length;
    const [victim, survivor] = workers as [number, number];
    // A worker killed with SIGKILL loses the records it has not written yet: let it write them first.
    await auditHas(26);
    process.kill(victim, 'SIGKILL');
    const m = await waitForStderr(/"message":"gateway worker replaced","worker":\d+,"pid":(\d+)/, before);
    const replacement = Number(m[1]);
    expect([victim, survivor, child.pid]).not.toContain(replacement);
    expect(alive(victim)).toBe(false);
    workers = [survivor, replacement];
    const web = pki.client('web3', { profile: 'client', names: { uri: [WEB] } });
    for (let i = 0; i < 4; i++) expect((await get({ port, pki }, '/again', { client: web })).status).toBe(200);
    const readyz = await fetch(`http://127.0.0.1:${adminPort}/readyz`);
    expect(await readyz.json()).toEqual({ status: 'ready', workers: 2 });
  });

  it('audit lines from both workers stay whole; SIGTERM ends the primary and every worker with exit code 0', async () => {
    child.kill('SIGTERM');
    const [code] = (await once(child, 'exit')) as [number | null];
    expect(code).toBe(0);
    expect(stderr).toMatch(/Stopped\.\n$/);
    for (const pid of workers) expect(alive(pid)).toBe(false);
    // Every line parses (none interleaved mid-line), and none was lost by the clean shutdown.
    expect(auditRequests()).toBe(30);
  });
});
