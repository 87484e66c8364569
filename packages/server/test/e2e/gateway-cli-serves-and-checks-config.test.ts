import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { WEB, gatewayConfig, makePki, startUpstream, writeConfig, type Pki, type Upstream } from './gateway-harness.js';

/** `mutual gateway` and `mutual gateway check`, run from the built binary as a user runs them. */
const BIN = fileURLToPath(new URL('../../../cli/dist/bin.js', import.meta.url));

function mutual(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { encoding: 'utf8' }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : 1, stdout, stderr });
    });
  });
}

function curl(args: string[]): Promise<{ code: number; stdout: string }> {
  return new Promise((resolve) => {
    execFile('curl', ['-sS', '--max-time', '10', ...args], { encoding: 'utf8' }, (error, stdout) => {
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : 1, stdout });
    });
  });
}

describe('mutual gateway (CLI)', () => {
  let pki: Pki;
  let upstream: Upstream;
  let configFile: string;

  beforeAll(async () => {
    pki = makePki();
    upstream = await startUpstream();
    configFile = writeConfig(
      pki,
      gatewayConfig(pki, upstream.url, {
        routes: [
          { name: 'api', path: { prefix: '/api' }, allow: [{ spiffeId: WEB }], upstream: 'app' },
          { name: 'closed', path: { prefix: '/closed' }, allow: [], upstream: 'app' },
          {
            name: 'rolled',
            path: { prefix: '/rolled' },
            allow: [{ spiffeId: WEB }],
            pins: [
              { certificate: 'ab'.repeat(32), until: '2020-01-01T00:00:00Z' },
              { certificate: 'cd'.repeat(32), until: '2999-01-01T00:00:00Z' },
            ],
            upstream: 'app',
          },
        ],
      }),
    );
  });
  afterAll(async () => {
    await upstream.close();
  });

  it('check validates the config and every file without listening', async () => {
    const r = await mutual(['gateway', 'check', '--config', configFile]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/listener main on 127\.0\.0\.1:0: 3 route\(s\), 1 trust anchor\(s\)/);
    expect(r.stdout).toMatch(/admit nobody \(empty allow-list\): closed/);
    expect(r.stdout).toContain(
      'pins that no longer count (past their until): route rolled pin 1 ended 2020-01-01T00:00:00.000Z\n',
    );
  });

  it('check reports every config error at once with its path, exit code 2', async () => {
    const bad = path.join(pki.dir, 'bad.yaml');
    writeFileSync(
      bad,
      stringify({
        version: 1,
        listeners: [
          {
            name: 'main',
            listen: { port: 0 },
            tls: { certificate: 'x', key: 'y' },
            clientAuth: { trustBundles: [] },
            routes: [{ name: 'r', path: { prefix: '/' }, allow: [{ spiffeId: 'spiffe://a/../b' }], upstream: 'nope' }],
            extra: true,
          },
        ],
        upstreams: {},
      }),
    );
    const r = await mutual(['gateway', 'check', '--config', bad]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/ERR_CONFIG_INVALID/);
    for (const p of [
      'listeners.0.clientAuth.trustBundles',
      'listeners.0.routes.0.allow.0.spiffeId',
      'listeners.0.routes.0.upstream',
      'listeners.0',
    ])
      expect(r.stderr).toContain(p);
  });

  it('check refuses a key that does not match the certificate (exit code 2)', async () => {
    const cfgText = readFileSync(configFile, 'utf8');
    const otherKey = path.join(pki.dir, 'other.key');
    writeFileSync(otherKey, pki.ca.issue({ profile: 'server', names: { dns: ['x.test'] } }).keyPem ?? '');
    const file = path.join(pki.dir, 'mismatch.yaml');
    writeFileSync(file, cfgText.replace(pki.serverKeyFile, otherKey));
    const r = await mutual(['gateway', 'check', '--config', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/ERR_GATEWAY_MATERIAL_INVALID/);
  });

  it('serves mTLS from the config until SIGTERM; curl is allowed on /api and denied on /closed', async () => {
    const client = pki.client('web', { profile: 'client', names: { uri: [WEB] } });
    const child = spawn(process.execPath, [BIN, 'gateway', '--config', configFile], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    const ready = new Promise<number>((resolve, reject) => {
      child.stderr.setEncoding('utf8').on('data', (d: string) => {
        err += d;
        const m = /listener main: port (\d+)/.exec(err);
        if (m) resolve(Number(m[1]));
      });
      child.once('exit', (code) => {
        reject(new Error(`exited ${String(code)}: ${err}`));
      });
    });
    const audit: string[] = [];
    child.stdout.setEncoding('utf8').on('data', (d: string) => audit.push(d));
    const port = await ready;
    const common = [
      '--cacert',
      pki.trustFile,
      '--resolve',
      `localhost:${port}:127.0.0.1`,
      '--cert',
      client.certFile,
      '--key',
      client.keyFile,
    ];
    const ok = await curl([...common, `https://localhost:${port}/api/x`]);
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ url: '/api/x' });
    const denied = await curl([...common, '-o', '/dev/null', '-w', '%{http_code}', `https://localhost:${port}/closed`]);
    expect(denied.stdout).toBe('403');
    child.kill('SIGTERM');
    const [code] = (await once(child, 'exit')) as [number | null];
    expect(code).toBe(0);
    expect(err).toMatch(/Stopped\./);
    const lines = readFileSync(path.join(pki.dir, 'audit.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => [l.path, l.decision, l.status])).toEqual([
      ['/api/x', 'allow', 200],
      ['/closed', 'deny', 403],
    ]);
  });
});
