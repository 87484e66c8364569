// A gateway with a `report:` section pushes to a real CA: its own server certificate and the client
// certificates it accepted show in GET /v1/sightings, a refused handshake in GET /v1/auth-failures,
// and the gateway in GET /v1/components. A CA that cannot be reached costs nothing but a log line.
import 'reflect-metadata';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { decodeOnePem } from '@mutual/sdk';
import { request } from 'node:https';
import { connect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authFailuresResponse, componentsResponse, sightingsResponse } from '@mutual/sdk/contract';
import { admin, call, cleanupDirs, enroll, startTestCa, type TestCa } from './support/ca-server.js';
import { makePki, startHarness, type Harness } from './gateway-harness.js';

const WEB = 'spiffe://example.test/ns/prod/sa/web';

let ca: TestCa;
let h: Harness;
let serverSerial: string;
let web: { serial: string; chain: string; key: string };
beforeAll(async () => {
  ca = await startTestCa();
  const pki = makePki();
  // The gateway's listener certificate comes from the CA: it serves TLS and authenticates the reports.
  const server = await enroll(
    ca,
    'gw-server',
    'DNS:localhost,IP:127.0.0.1',
    { dns: ['localhost'], ip: ['127.0.0.1'] },
    'both',
  );
  serverSerial = server.serial;
  writeFileSync(pki.serverKeyFile, server.key);
  writeFileSync(pki.serverCertFile, server.chain);
  h = await startHarness(
    {
      routes: [{ name: 'api', path: { prefix: '/' }, allow: [{ spiffeId: WEB }], upstream: 'app' }],
      listener: { clientAuth: { trustBundles: [ca.files.root] } },
      report: { url: ca.server.url, ca: ca.files.root, name: 'edge', interval: '1h' },
    },
    { pki },
  );
});
afterAll(async () => {
  await h.close();
  await ca.close();
  cleanupDirs();
});

/** One GET through the gateway with a client certificate of the CA. */
function getWith(client: { chain: string; key: string }): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: h.port,
        path: '/hello',
        servername: 'localhost',
        ca: ca.server.rootPem,
        cert: client.chain,
        key: client.key,
        agent: false,
      },
      (res) => {
        res.resume();
        res.on('end', () => {
          resolve(res.statusCode ?? 0);
        });
      },
    );
    req.on('error', reject);
    req.end();
  });
}

describe('gateway: reports to the CA', () => {
  it('its server certificate, an accepted client certificate and a refused handshake reach the CA', async () => {
    web = await enroll(ca, 'web', `URI:${WEB}`, { uri: [WEB] });
    expect(await getWith(web)).toBe(200);

    // A client certificate from a CA the gateway does not trust: refused at the handshake.
    const stranger = h.pki.client('stranger', { profile: 'client', names: { uri: [WEB] } });
    const socket = connect({
      host: '127.0.0.1',
      port: h.port,
      servername: 'localhost',
      rejectUnauthorized: false,
      cert: stranger.chainPem,
      key: stranger.keyPem,
    });
    socket.on('error', () => undefined);
    const refused = await h.audit((a) => a.type === 'handshake' && a.decision === 'refused');
    socket.destroy();

    expect(await h.gw.reporter?.flush()).toBe(true);

    const sightings = sightingsResponse.parse((await call(ca, { path: '/v1/sightings', ...admin(ca) })).json());
    const own = sightings.items.find((s) => s.serial === serverSerial);
    expect(own).toMatchObject({ issuedHere: true, state: 'valid', identity: 'localhost' });
    expect(own?.places).toEqual([
      expect.objectContaining({ where: `gateway edge main 127.0.0.1:${h.port}`, role: 'server' }),
    ]);
    const client = sightings.items.find((s) => s.serial === web.serial);
    expect(client?.places).toEqual([
      expect.objectContaining({ role: 'client', where: `gateway edge main 127.0.0.1:${h.port}` }),
    ]);

    const failures = authFailuresResponse.parse((await call(ca, { path: '/v1/auth-failures', ...admin(ca) })).json());
    expect(failures.total).toBe(1);
    expect(failures.recent[0]).toMatchObject({
      component: 'gateway/edge',
      listener: 'main',
      stage: 'handshake',
      reason: refused.reason.toLowerCase().replace(/_/g, '-'),
      address: '127.0.0.1',
    });

    const components = componentsResponse.parse((await call(ca, { path: '/v1/components', ...admin(ca) })).json());
    expect(components.items).toEqual([
      expect.objectContaining({ kind: 'gateway', name: 'edge', reportedBy: 'localhost', stale: false }),
    ]);
    // It says which roots it trusts (its listener's trust bundle): what a root rotation waits for.
    const rootFp = createHash('sha256')
      .update(decodeOnePem(readFileSync(ca.files.root, 'utf8'), 'CERTIFICATE'))
      .digest('hex');
    expect(components.items[0]?.health.trustAnchors).toEqual([rootFp]);
    // Reported once: the next report carries no old events.
    expect(await h.gw.reporter?.flush()).toBe(true);
    const again = authFailuresResponse.parse((await call(ca, { path: '/v1/auth-failures', ...admin(ca) })).json());
    expect(again.total).toBe(1);
  });

  it('keeps serving while the CA is down, and sends what it kept once the CA is back', async () => {
    const port = ca.server.port;
    await ca.server.close();
    expect(await h.gw.reporter?.flush()).toBe(false);
    expect(await getWith(web)).toBe(200);
    expect(h.logs.some((l) => l.startsWith('warn report to the CA failed'))).toBe(true);
    const stranger = h.pki.client('stranger-2', { profile: 'client', names: { uri: [WEB] } });
    const before = h.audits.length;
    const socket = connect({
      host: '127.0.0.1',
      port: h.port,
      servername: 'localhost',
      rejectUnauthorized: false,
      cert: stranger.chainPem,
      key: stranger.keyPem,
    });
    socket.on('error', () => undefined);
    await h.audit((a) => a.type === 'handshake' && a.decision === 'refused' && h.audits.indexOf(a) >= before);
    socket.destroy();
    expect(await h.gw.reporter?.flush()).toBe(false);

    await ca.restart();
    expect(ca.server.port).toBe(port);
    expect(await h.gw.reporter?.flush()).toBe(true);
    const failures = authFailuresResponse.parse((await call(ca, { path: '/v1/auth-failures', ...admin(ca) })).json());
    expect(failures.total).toBe(2);
  });
});
