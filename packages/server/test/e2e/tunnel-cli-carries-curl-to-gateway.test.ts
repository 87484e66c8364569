// `mutual tunnel`, run from the built binary as a user runs it: curl speaks plain HTTP to the
// tunnel, which carries it to a gateway over mTLS; a missing expected identity is a usage error.
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { TD, WEB, startHarness } from './gateway-harness.js';

const BIN = fileURLToPath(new URL('../../../cli/dist/bin.js', import.meta.url));

function run(cmd: string, args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, (err, stdout, stderr) => {
      resolve({ status: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

describe('mutual tunnel (CLI)', () => {
  const cleanup: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0)) await c();
  });

  it('carries curl to an mTLS gateway until SIGTERM; the server identity must be said', async () => {
    const h = await startHarness({
      routes: [{ name: 'api', path: { prefix: '/' }, allow: [{ spiffeId: WEB }], upstream: 'app' }],
    });
    cleanup.push(() => h.close());
    const web = h.pki.client('cli-tunnel', { profile: 'client', names: { uri: [WEB] } });
    const base = [
      'tunnel',
      '--listen',
      '127.0.0.1:0',
      '--target',
      `127.0.0.1:${h.port}`,
      '--cert',
      web.certFile,
      '--key',
      web.keyFile,
      '--ca',
      h.pki.trustFile,
    ];
    const usage = await run(process.execPath, [BIN, ...base]);
    expect(usage.status).toBe(2);
    expect(usage.stderr).toContain('--expect-spiffe-id');

    const child = spawn(process.execPath, [BIN, ...base, '--expect-spiffe-id', `spiffe://${TD}/gateway`], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    const ready = new Promise<number>((resolve, reject) => {
      child.stderr.setEncoding('utf8').on('data', (d: string) => {
        err += d;
        const m = /mutual tunnel ready: 127\.0\.0\.1:(\d+)/.exec(err);
        if (m) resolve(Number(m[1]));
      });
      child.once('exit', (code) => {
        reject(new Error(`exited ${String(code)}: ${err}`));
      });
    });
    const port = await ready;
    const r = await run('curl', ['-sS', '--max-time', '10', `http://127.0.0.1:${port}/via-cli`]);
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ url: '/via-cli' });
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    const [code] = (await exited) as [number | null];
    expect(code).toBe(0);
    expect(err).toContain('connection relayed');
  });
});
