import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { appendFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, mutual, tempDir, waitExit } from '../support.js';
import {
  bootstrapAndToken,
  message,
  pairMatches,
  serialOf,
  startAgent,
  startCa,
  type RunningAgent,
} from '../agent-support.js';

// CA + gateway + upstream, with the gateway's own listener certificate managed by the agent with a
// 9 s lifetime. Clients keep sending requests through the gateway, each on a new TLS connection;
// across at least three renewals not one request fails, and the clients see every new certificate.
// The gateway reports to the CA, so `mutual inventory` shows its certificate where it is in use; and
// once the agent stops, the certificate left to near expiry raises an alert at a test webhook.
const work = tempDir('mutual-agent-traffic-');
const caDir = path.join(work, 'ca');
const ctxDir = path.join(work, 'ctx');
const env = { MUTUAL_CONTEXT_DIR: ctxDir };
let ca: Awaited<ReturnType<typeof startCa>>;
let agent: RunningAgent;
interface RunningGateway {
  child: ChildProcess;
  port: number;
  output: () => string;
}
const gateways: RunningGateway[] = [];

/** The alert webhook: keeps every JSON body it receives and wakes whoever waits for one. */
const hookBodies: { alert: { rule: string; key: string; severity: string } }[] = [];
const hookWaiters = new Set<() => void>();
const hook = createServer((req: IncomingMessage, res) => {
  let body = '';
  req.setEncoding('utf8');
  req.on('data', (d: string) => (body += d));
  req.on('end', () => {
    hookBodies.push(JSON.parse(body) as (typeof hookBodies)[number]);
    res.writeHead(204).end();
    for (const w of [...hookWaiters]) w();
  });
});
let upstreamPortNumber = 0;
let upstream: Server;

function startGateway(config: string): Promise<RunningGateway> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, 'gateway', '--config', config], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const timer = setTimeout(() => {
      reject(new Error(`gateway did not start: ${out}`));
    }, 30_000);
    const onData = (d: string): void => {
      out += d;
      const m = /listener public: port (\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        const running = { child, port: Number(m[1]), output: () => out };
        gateways.push(running);
        resolve(running);
      }
    };
    child.stdout.setEncoding('utf8').on('data', onData);
    child.stderr.setEncoding('utf8').on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`gateway exited with ${String(code)}: ${out}`));
    });
  });
}

/** gateway.yaml for the agent-managed listener certificate; `watch: false` leaves reloading to SIGHUP. */
function gatewayYaml(upstreamPort: number, watch: boolean, audit: string, reportTo?: string): string {
  return [
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
    `audit: { file: ${audit} }`,
    `watch: ${String(watch)}`,
    ...(reportTo === undefined ? [] : [`report: { url: "${reportTo}", ca: ca/root.crt, name: edge, interval: 1s }`]),
    '',
  ].join('\n');
}

beforeAll(async () => {
  expect((await mutual(['ca', 'init', '--dir', caDir])).code).toBe(0);
  await new Promise<void>((resolve) => hook.listen(0, '127.0.0.1', resolve));
  const hookPort = (hook.address() as { port: number }).port;
  // Alert on a certificate within 2 s of its end with no newer one for its identity: the agent
  // renews the 9 s certificate with about 3 s left, so only a certificate left alone gets there.
  appendFileSync(
    path.join(caDir, 'ca.yaml'),
    [
      'alerts:',
      '  expiring: { within: 2s }',
      `  webhook: { url: "http://127.0.0.1:${hookPort}/hook", timeout: 5s, retries: 2 }`,
      '  cooldown: 1h',
      '  interval: 1s',
      '',
    ].join('\n'),
  );
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
  agent = startAgent(['--config', path.join(work, 'agent.yaml')], env);
  await agent.waitFor(message('certificate enrolled'));

  upstreamPortNumber = upstreamPort;
  writeFileSync(path.join(work, 'gateway.yaml'), gatewayYaml(upstreamPort, true, 'gateway-audit.jsonl', ca.url));
  await startGateway(path.join(work, 'gateway.yaml'));
}, 120_000);

afterAll(async () => {
  await agent.stop();
  for (const g of gateways) {
    g.child.kill('SIGTERM');
    await waitExit(g.child);
  }
  await ca.stop();
  await new Promise<void>((resolve) => {
    upstream.close(() => {
      resolve();
    });
  });
  await new Promise<void>((resolve) => {
    hook.close(() => {
      resolve();
    });
  });
});

const root = (): Buffer => readFileSync(path.join(caDir, 'root.crt'));
const clientCert = (): Buffer => readFileSync(path.join(work, 'client', 'client.internal.crt'));
const clientKey = (): Buffer => readFileSync(path.join(work, 'client', 'client.internal.key'));

/** One request on a new connection; resolves with the gateway certificate's serial, rejects on any failure. */
function oneRequest(gatewayPort: number, ca: Buffer, cert: Buffer, key: Buffer): Promise<string> {
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

/**
 * Four clients send requests through the gateway on `port`, each on a new connection, until the
 * agent has logged three more renewals and the clients were served the newest certificate.
 */
async function trafficAcrossRenewals(
  port: number,
): Promise<{ requests: number; failures: string[]; served: Set<string> }> {
  const [ca, cert, key] = [root(), clientCert(), clientKey()];
  const served = new Set<string>();
  const failures: string[] = [];
  const mark = agent.lines.length;
  let requests = 0;
  let running = true;
  const loop = async (): Promise<void> => {
    while (running) {
      try {
        served.add(await oneRequest(port, ca, cert, key));
      } catch (err) {
        failures.push((err as Error).message);
      }
      requests++;
    }
  };
  const loops = [loop(), loop(), loop(), loop()];
  try {
    const renewed = await agent.waitForCount(
      (l) => agent.lines.indexOf(l) >= mark && l.message === 'certificate renewed',
      3,
      60_000,
    );
    // Keep the traffic going until the clients have been served the newest certificate.
    const newest = String(renewed.at(-1)?.['serial']);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`never served ${newest}; saw ${[...served].join(', ')}`));
      }, 20_000);
      const check = setInterval(() => {
        if (served.has(newest)) {
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
  return { requests, failures, served };
}

describe('agent-managed gateway certificate under continuous traffic', () => {
  it('renews at least three times with zero failed requests; the gateway picks each pair up from the file swap', async () => {
    const gateway = gateways[0]!;
    const { requests, failures, served } = await trafficAcrossRenewals(gateway.port);
    console.log(
      `file watch: requests ${requests}, failed ${failures.length}, gateway certificates served ${served.size}`,
    );
    expect(failures).toEqual([]);
    expect(served.size).toBeGreaterThanOrEqual(4); // the one in place and three renewals
    expect(requests).toBeGreaterThan(100);
    expect(gateway.output()).not.toContain('reload refused');
  }, 120_000);

  it('does the same through a reload action: the agent signals a gateway that does not watch files', async () => {
    const hupConfig = path.join(work, 'gateway-hup.yaml');
    writeFileSync(hupConfig, gatewayYaml(upstreamPortNumber, false, 'gateway-hup-audit.jsonl'));
    const gateway = await startGateway(hupConfig);
    writeFileSync(path.join(work, 'gateway-hup.pid'), `${String(gateway.child.pid)}\n`);
    // The agent takes the reload action on SIGHUP, without restarting.
    const agentYaml = path.join(work, 'agent.yaml');
    writeFileSync(
      agentYaml,
      readFileSync(agentYaml, 'utf8') + '    reload: [{ signal: { pidFile: gateway-hup.pid, signal: SIGHUP } }]\n',
    );
    const mark = agent.lines.length;
    agent.child.kill('SIGHUP');
    await agent.waitFor(message('configuration reloaded'), 20_000, mark);

    const { requests, failures, served } = await trafficAcrossRenewals(gateway.port);
    const actions = agent.lines.slice(mark).filter(message('reload action done'));
    console.log(
      `signal reload: requests ${requests}, failed ${failures.length}, gateway certificates served ${served.size}, reload actions ${actions.length}`,
    );
    expect(actions.length).toBeGreaterThanOrEqual(3);
    expect(actions[0]?.['action']).toBe(`signal SIGHUP to ${String(gateway.child.pid)}`);
    expect(failures).toEqual([]);
    expect(served.size).toBeGreaterThanOrEqual(4);
    expect(gateway.output()).not.toContain('reload refused');
  }, 120_000);

  it('shows the gateway certificate in the inventory, where the gateway reported it in use', async () => {
    const where = `gateway edge public 127.0.0.1:${String(gateways[0]?.port)}`;
    // The gateway reports every second; wait for a report that carries the certificate it serves now.
    const deadline = Date.now() + 30_000;
    type Item = { serial: string; source: string; places: { where: string; role: string }[] };
    let found: Item | undefined;
    let last = '';
    while (found === undefined && Date.now() < deadline) {
      const current = serialOf(path.join(work, 'certs', 'gateway.crt'));
      const r = await mutual(['inventory', '--json'], { env });
      expect(r.code, r.stderr).toBe(0);
      last = r.stdout;
      const items = (JSON.parse(r.stdout) as { items: Item[] }).items;
      found = items.find((i) => i.serial === current && i.places.some((p) => p.where === where && p.role === 'server'));
    }
    // The agent also publishes the pair for the client tools (`mutual curl --identity gateway`).
    const published = path.join(ctxDir, 'identities', 'gateway');
    expect(pairMatches(path.join(published, 'cert.pem'), path.join(published, 'key.pem'))).toBe(true);
    expect(readFileSync(path.join(published, 'ca.pem'), 'utf8')).toBe(
      readFileSync(path.join(caDir, 'root.crt'), 'utf8'),
    );
    expect(found, `no inventory item for the served certificate at ${where}:\n${last}`).toBeDefined();
    expect(found?.source).toBe('issued');

    // Both report the roots they trust (the agent: its CA root file), which `mutual ca trust` compares with the CA's.
    type Trust = { kind: string; trustsCurrentRoot: boolean | null };
    let kinds: Record<string, boolean | null> = {};
    while (!(kinds['agent'] === true && kinds['gateway'] === true) && Date.now() < deadline) {
      const r = await mutual(['ca', 'trust', '--json'], { env });
      expect(r.code, r.stderr).toBe(0);
      last = r.stdout;
      kinds = Object.fromEntries(
        (JSON.parse(r.stdout) as { components: Trust[] }).components.map((c) => [c.kind, c.trustsCurrentRoot]),
      );
    }
    expect(kinds, last).toMatchObject({ agent: true, gateway: true });
  }, 60_000);

  it('raises an alert at the webhook when the certificate is left to near expiry', async () => {
    expect(await agent.stop()).toBe(0);
    const left = serialOf(path.join(work, 'certs', 'gateway.crt'));
    const isIt = (b: (typeof hookBodies)[number]): boolean => b.alert.rule === 'expiring' && b.alert.key === left;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        hookWaiters.delete(check);
        reject(new Error(`no expiring alert for ${left}; webhook got ${JSON.stringify(hookBodies)}`));
      }, 30_000);
      const check = (): void => {
        if (hookBodies.some(isIt)) {
          clearTimeout(timer);
          hookWaiters.delete(check);
          resolve();
        }
      };
      hookWaiters.add(check);
      check();
    });
    expect(hookBodies.find(isIt)?.alert.severity).toMatch(/^(warning|critical)$/);
  }, 60_000);
});
