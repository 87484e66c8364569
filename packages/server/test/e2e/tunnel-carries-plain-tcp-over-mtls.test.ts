// The client-side tunnel: plain local clients (curl, a raw TCP socket) reach an mTLS gateway
// through `startTunnel`, which presents the client certificate and accepts the server only when
// OpenSSL and mutual's verifier both accept it with the expected identity. A server with another
// identity is refused before any byte is relayed; a rotated client certificate is picked up.
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { connect as netConnect, createServer, type AddressInfo, type Socket } from 'node:net';
import { execFile } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import type { GatewayAuditRecord, TunnelConnectionEvent } from '../../src/index.js';
import { startGateway, startTunnel, type RunningTunnel } from '../../src/index.js';
import { BATCH, TD, WEB, gatewayConfig, makePki, startHarness, writeAtomic, writeConfig } from './gateway-harness.js';

const GATEWAY_ID = `spiffe://${TD}/gateway`;

function curl(url: string): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('curl', ['-sS', '--max-time', '10', url], (err, stdout, stderr) => {
      resolve({ status: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

function nextEvent(t: RunningTunnel, pred: (e: TunnelConnectionEvent) => boolean): Promise<TunnelConnectionEvent> {
  return new Promise((resolve) => {
    const on = (e: TunnelConnectionEvent): void => {
      if (pred(e)) {
        t.events.off('connection', on);
        resolve(e);
      }
    };
    t.events.on('connection', on);
  });
}

async function startEcho() {
  let connections = 0;
  const server = createServer((s: Socket) => {
    connections++;
    s.on('error', () => undefined);
    s.pipe(s);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    connections: () => connections,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
      }),
  };
}

describe('tunnel', () => {
  const cleanup: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });

  it('carries curl’s plain HTTP to an HTTP-mode gateway over mTLS, and picks up a rotated client certificate', async () => {
    const h = await startHarness({
      routes: [{ name: 'api', path: { prefix: '/' }, allow: [{ spiffeId: WEB }], upstream: 'app' }],
    });
    cleanup.push(() => h.close());
    const web = h.pki.client('tunnel-client', { profile: 'client', names: { uri: [WEB] } });
    const tunnel = await startTunnel({
      listen: '127.0.0.1:0',
      target: `127.0.0.1:${h.port}`,
      certFile: web.certFile,
      keyFile: web.keyFile,
      caFile: h.pki.trustFile,
      expectSpiffeId: GATEWAY_ID,
    });
    cleanup.push(() => tunnel.close());
    const r = await curl(`http://127.0.0.1:${tunnel.port}/hello`);
    expect(r.status, r.stderr).toBe(0);
    const seen = JSON.parse(r.stdout) as { url: string; headers: Record<string, string> };
    expect(seen.url).toBe('/hello');
    expect(seen.headers['x-forwarded-client-cert']).toContain(`URI=${WEB}`);

    // Rotate the tunnel's certificate to another identity: the gateway now denies it.
    const batch = h.pki.ca.issue({ profile: 'client', names: { uri: [BATCH] } });
    const fingerprint = createHash('sha256').update(batch.der).digest('hex');
    const reloaded = new Promise<void>((resolve) => {
      const on = (r: { ok: boolean; certificateFingerprint?: string }): void => {
        if (r.ok && r.certificateFingerprint === fingerprint) {
          tunnel.events.off('reload', on);
          resolve();
        }
      };
      tunnel.events.on('reload', on);
    });
    writeAtomic(web.keyFile, batch.keyPem ?? '');
    writeAtomic(web.certFile, `${batch.pem}\n${h.pki.ca.intermediate.pem}\n`);
    await reloaded;
    const again = await curl(`http://127.0.0.1:${tunnel.port}/hello`);
    expect(again.stdout).toContain('ERR_GATEWAY_FORBIDDEN');
    const rec = await h.audit((a: GatewayAuditRecord) => a.type === 'request' && a.identity === BATCH);
    expect(rec.decision).toBe('deny');
  });

  it('relays raw TCP to a TCP-mode gateway, and refuses a server whose identity is not the expected one', async () => {
    const pki = makePki();
    const echo = await startEcho();
    cleanup.push(() => echo.close());
    const base = gatewayConfig(pki, 'http://127.0.0.1:1', { routes: [] });
    const l = (base.listeners as Record<string, unknown>[])[0] as Record<string, unknown>;
    delete l.routes;
    Object.assign(l, { mode: 'tcp', allow: [{ spiffeId: WEB }], upstream: `127.0.0.1:${echo.port}` });
    const gw = await startGateway({
      configFile: writeConfig(pki, { ...base, upstreams: {} }),
      env: {},
      sighup: false,
      log: () => undefined,
    });
    cleanup.push(() => gw.close());
    const gwPort = gw.listeners[0]?.port ?? 0;
    const web = pki.client('web', { profile: 'client', names: { uri: [WEB] } });
    const common = {
      listen: '127.0.0.1:0',
      target: `127.0.0.1:${gwPort}`,
      certFile: web.certFile,
      keyFile: web.keyFile,
      caFile: pki.trustFile,
      watch: false,
    };

    const good = await startTunnel({ ...common, expectSpiffeId: GATEWAY_ID });
    cleanup.push(() => good.close());
    const ok = netConnect({ host: '127.0.0.1', port: good.port });
    ok.setEncoding('utf8');
    await once(ok, 'connect');
    const verified = nextEvent(good, () => true);
    ok.write('hello through the tunnel');
    let got = '';
    for await (const chunk of ok) {
      got += chunk as string;
      if (got.length >= 'hello through the tunnel'.length) break;
    }
    expect(got).toBe('hello through the tunnel');
    expect(await verified).toMatchObject({ ok: true, reason: 'verified', identity: GATEWAY_ID });

    const wrong = await startTunnel({ ...common, expectSpiffeId: `spiffe://${TD}/not-the-gateway` });
    cleanup.push(() => wrong.close());
    const refusedEvent = nextEvent(wrong, () => true);
    const bad = netConnect({ host: '127.0.0.1', port: wrong.port });
    bad.on('error', () => undefined);
    const received: Buffer[] = [];
    bad.on('data', (c: Buffer) => received.push(c));
    const closed = once(bad, 'close');
    bad.write('must not be relayed');
    expect(await refusedEvent).toMatchObject({ ok: false, reason: 'SPIFFE_ID_MISMATCH', identity: null });
    await closed;
    expect(Buffer.concat(received).length).toBe(0);

    const byName = await startTunnel({ ...common, expectName: 'not-localhost.example' });
    cleanup.push(() => byName.close());
    const nameEvent = nextEvent(byName, () => true);
    const c = netConnect({ host: '127.0.0.1', port: byName.port });
    c.on('error', () => undefined);
    expect((await nameEvent).ok).toBe(false);
    c.destroy();
    ok.destroy();
  });
});
