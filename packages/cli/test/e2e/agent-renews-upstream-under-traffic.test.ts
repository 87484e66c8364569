import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, mutual, tempDir, waitExit } from '../support.js';
import { bootstrapAndToken, message, startAgent, startCa, type RunningAgent } from '../agent-support.js';

// CA + gateway + upstream, with the gateway's own listener certificate managed by the agent with a
// 9 s lifetime. Clients keep sending requests through the gateway, each on a new TLS connection;
// across at least three renewals not one request fails, and the clients see every new certificate.
const work = tempDir('mutual-agent-traffic-');
const caDir = path.join(work, 'ca');
const ctxDir = path.join(work, 'ctx');
const env = { MUTUAL_CONTEXT_DIR: ctxDir };
let ca: Awaited<ReturnType<typeof startCa>>;
let agent: RunningAgent;
let gateway: ChildProcess;
let gatewayPort = 0;
let upstream: Server;
let gatewayOutput = '';

function startGateway(config: string): Promise<number> {
  return new Promise((resolve, reject) => {
    gateway = spawn(process.execPath, [BIN, 'gateway', '--config', config], { stdio: ['ignore', 'pipe', 'pipe'] });
    const timer = setTimeout(() => {
      reject(new Error(`gateway did not start: ${gatewayOutput}`));
    }, 30_000);
    const onData = (d: string): void => {
      gatewayOutput += d;
      const m = /listener public: port (\d+)/.exec(gatewayOutput);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    };
    gateway.stdout?.setEncoding('utf8').on('data', onData);
    gateway.stderr?.setEncoding('utf8').on('data', onData);
    gateway.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`gateway exited with ${String(code)}: ${gatewayOutput}`));
    });
  });
}

beforeAll(async () => {
  expect((await mutual(['ca', 'init', '--dir', caDir])).code).toBe(0);
  ca = await startCa(caDir);
  mkdirSync(path.join(work, 'certs'));
  // The gateway's server certificate: enrolled and then kept fresh by the agent.
  await bootstrapAndToken(caDir, ca.url, ca.fingerprint, ctxDir, path.join(work, 'gateway.token'), [
    'localhost',
    '127.0.0.1',
  ]);
  // A client certificate for the traffic (ordinary lifetime, requested once).
  const t = await mutual(['token', 'create', 'client.internal', '--profile', 'client', '--ttl', '5m'], { env });
  expect(t.code, t.stderr).toBe(0);
  const req = await mutual(
    ['cert', 'request', 'client.internal', '--token', t.stdout.trim(), '--out', path.join(work, 'client')],
    { env },
  );
  expect(req.code, req.stderr).toBe(0);

  upstream = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('hello from upstream');
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  const upstreamPort = (upstream.address() as { port: number }).port;

  writeFileSync(
    path.join(work, 'agent.yaml'),
    [
      'version: 1',
      `ca: { url: "${ca.url}", rootFile: ca/root.crt }`,
      'certificates:',
      '  - name: gateway',
      '    cert: certs/gateway.crt',
      '    key: certs/gateway.key',
      '    names: { dns: [localhost], ip: [127.0.0.1] }',
      '    token: { file: gateway.token }',
      '    lifetime: 9s',
      '',
    ].join('\n'),
  );
  agent = startAgent(['--config', path.join(work, 'agent.yaml')]);
  await agent.waitFor(message('certificate enrolled'));

  writeFileSync(
    path.join(work, 'gateway.yaml'),
    [
      'version: 1',
      'listeners:',
      '  - name: public',
      '    listen: { host: 127.0.0.1, port: 0 }',
      '    tls: { certificate: certs/gateway.crt, key: certs/gateway.key }',
      '    clientAuth: { trustBundles: [ca/root.crt] }',
      '    routes:',
      '      - { name: all, path: { prefix: / }, allow: [{ dns: client.internal }], upstream: app }',
      'upstreams:',
      `  app: { url: "http://127.0.0.1:${upstreamPort}" }`,
      'admin: { listen: { host: 127.0.0.1, port: 0 } }',
      'audit: { file: gateway-audit.jsonl }',
      'watch: true',
      '',
    ].join('\n'),
  );
  gatewayPort = await startGateway(path.join(work, 'gateway.yaml'));
}, 120_000);

afterAll(async () => {
  await agent.stop();
  gateway.kill('SIGTERM');
  await waitExit(gateway);
  await ca.stop();
  await new Promise<void>((resolve) => {
    upstream.close(() => {
      resolve();
    });
  });
});

const root = (): Buffer => readFileSync(path.join(caDir, 'root.crt'));
const clientCert = (): Buffer => readFileSync(path.join(work, 'client', 'client.internal.crt'));
const clientKey = (): Buffer => readFileSync(path.join(work, 'client', 'client.internal.key'));

/** One request on a new connection; resolves with the gateway certificate's serial, rejects on any failure. */
function oneRequest(ca: Buffer, cert: Buffer, key: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: '127.0.0.1',
        port: gatewayPort,
        path: '/hello',
        servername: 'localhost',
        ca,
        cert,
        key,
        agent: false,
        timeout: 10_000,
      },
      (res) => {
        const socket = res.socket as unknown as Pick<TLSSocket, 'getPeerCertificate'>;
        const serial = socket.getPeerCertificate().serialNumber.toLowerCase();
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => {
          if (res.statusCode === 200 && body === 'hello from upstream') resolve(serial.replace(/^0+/, ''));
          else reject(new Error(`HTTP ${String(res.statusCode)}: ${body}`));
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end();
  });
}

describe('agent-managed gateway certificate under continuous traffic', () => {
  it('renews at least three times with zero failed requests, and clients see each new certificate', async () => {
    const [ca, cert, key] = [root(), clientCert(), clientKey()];
    const serialsSeen = new Set<string>();
    const failures: string[] = [];
    let requests = 0;
    let running = true;
    const loop = async (): Promise<void> => {
      while (running) {
        try {
          serialsSeen.add(await oneRequest(ca, cert, key));
        } catch (err) {
          failures.push((err as Error).message);
        }
        requests++;
      }
    };
    const loops = [loop(), loop(), loop(), loop()];
    try {
      const renewed = await agent.waitForCount(message('certificate renewed'), 3, 60_000);
      // Keep the traffic going until the clients have been served the newest certificate.
      const newest = String(renewed.at(-1)?.['serial']);
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          reject(new Error(`never served ${newest}; saw ${[...serialsSeen].join(', ')}`));
        }, 20_000);
        const check = setInterval(() => {
          if (serialsSeen.has(newest)) {
            clearInterval(check);
            clearTimeout(timer);
            resolve();
          }
        }, 20);
      });
    } finally {
      running = false;
      await Promise.all(loops);
    }
    console.log(
      `requests: ${requests}, failed: ${failures.length}, gateway certificates served: ${serialsSeen.size}, renewals: ${agent.lines.filter(message('certificate renewed')).length}`,
    );
    expect(failures).toEqual([]);
    expect(serialsSeen.size).toBeGreaterThanOrEqual(4); // the enrolled one and three renewals
    expect(requests).toBeGreaterThan(100);
    expect(gatewayOutput).not.toContain('reload refused');
  }, 120_000);
});
