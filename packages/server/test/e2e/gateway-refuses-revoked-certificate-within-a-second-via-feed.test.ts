// A gateway following a real CA's revocation feed: a certificate revoked through the CA's API is
// refused on new handshakes and its open keep-alive connection is closed, without any CRL file or
// reload. The delay from the revoke call to the closure is printed, never asserted.
import 'reflect-metadata';
import { once } from 'node:events';
import { request, Agent } from 'node:https';
import { request as httpRequest } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin, call, cleanupDirs, enroll, startTestCa, type TestCa } from './support/ca-server.js';
import { makePki, startHarness, type Harness, nextRevocationUpdate } from './gateway-harness.js';

const WEB = 'spiffe://example.test/ns/prod/sa/web';
const bare = (s: string | null | undefined): string => (s ?? '').toLowerCase().replace(/^0+(?=.)/, '');

let ca: TestCa;
beforeAll(async () => {
  ca = await startTestCa();
});
afterAll(async () => {
  await ca.close();
  cleanupDirs();
});

/** The gateway's count of revocations held from its feed, read from its /metrics. */
function feedEntries(h: Harness): Promise<number | undefined> {
  return new Promise((resolve, reject) => {
    httpRequest({ host: '127.0.0.1', port: h.gw.adminPort, path: '/metrics' }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => {
        const m = /^mutual_gateway_revocation_feed_entries\{feed="[^"]+"\} (\d+)$/m.exec(body);
        resolve(m ? Number(m[1]) : undefined);
      });
    })
      .on('error', reject)
      .end();
  });
}

/** One GET over `agent`; resolves with the status and the TLS socket the request used. */
function getOver(
  h: Harness,
  agent: Agent,
  client: { chain: string; key: string },
): Promise<{ status: number; socket: TLSSocket }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: h.port,
        path: '/hello',
        servername: 'localhost',
        ca: h.pki.ca.root.pem,
        cert: client.chain,
        key: client.key,
        agent,
      },
      (res) => {
        res.resume();
        res.on('end', () => {
          resolve({ status: res.statusCode ?? 0, socket: req.socket as TLSSocket });
        });
      },
    );
    req.on('error', reject);
    req.end();
  });
}

describe('gateway: revocation feed', () => {
  it('a certificate revoked at the CA is refused on new handshakes and its open connection closed, via the feed', async () => {
    const web = await enroll(ca, 'feed-web', `URI:${WEB}`, { uri: [WEB] });
    const other = await enroll(ca, 'feed-other', `URI:${WEB}`, { uri: [WEB] });
    const pki = makePki();
    const h = await startHarness(
      {
        routes: [{ name: 'api', path: { prefix: '/' }, allow: [{ spiffeId: WEB }], upstream: 'app' }],
        listener: { clientAuth: { trustBundles: [ca.files.root] } },
        revocation: { sources: [{ feed: ca.server.url, ca: ca.files.root }] },
      },
      { pki },
    );
    try {
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      const first = await getOver(h, agent, web);
      expect(first.status).toBe(200);
      const openSocket = first.socket;
      const closed = once(openSocket, 'close');
      const otherAgent = new Agent({ keepAlive: true, maxSockets: 1 });
      const otherFirst = await getOver(h, otherAgent, other);
      expect(otherFirst.status).toBe(200);

      const closedByGateway = h.audit(
        (a) =>
          a.type === 'handshake' &&
          a.reason === 'REVOKED' &&
          (a.detail ?? '').startsWith('open connection closed') &&
          bare(a.serial) === bare(web.serial),
      );
      const t0 = performance.now();
      const revoked = await call(ca, { path: '/v1/revoke', body: { serial: web.serial }, ...admin(ca) });
      expect(revoked.status).toBe(200);
      const record = await closedByGateway;
      const t1 = performance.now();
      expect(record.detail).toContain('revocation feed');
      await closed;
      expect(openSocket.destroyed).toBe(true);

      // A new handshake with the revoked certificate is refused; the other client is untouched.
      expect((await getOver(h, new Agent({ keepAlive: false }), web)).status).toBe(403);
      const refused = await h.audit(
        (a) =>
          a.type === 'handshake' &&
          a.reason === 'REVOKED' &&
          !(a.detail ?? '').startsWith('open') &&
          bare(a.serial) === bare(web.serial),
      );
      expect(refused.decision).toBe('refused');
      expect(otherFirst.socket.destroyed).toBe(false);
      expect((await getOver(h, otherAgent, other)).status).toBe(200);
      console.log(
        `revoke (POST /v1/revoke sent) → open connection closed and new handshakes refused by the gateway: ${(t1 - t0).toFixed(1)} ms`,
      );
      agent.destroy();
      otherAgent.destroy();
    } finally {
      await h.close();
    }
  });
  it('after the CA restarts, the feed reconnects (resuming from its last event) and a new revocation still closes the connection', async () => {
    const web = await enroll(ca, 'feed-web-2', `URI:${WEB}`, { uri: [WEB] });
    const pki = makePki();
    const h = await startHarness(
      {
        routes: [{ name: 'api', path: { prefix: '/' }, allow: [{ spiffeId: WEB }], upstream: 'app' }],
        listener: { clientAuth: { trustBundles: [ca.files.root] } },
        revocation: { sources: [{ feed: ca.server.url, ca: ca.files.root }] },
      },
      { pki },
    );
    try {
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      const first = await getOver(h, agent, web);
      expect(first.status).toBe(200);
      const closed = once(first.socket, 'close');
      const feedUrl = ca.server.url.replace(/\/+$/, '');
      const dropped = nextRevocationUpdate(h, (e) => e.source === feedUrl && !e.ok);
      await ca.restart();
      await dropped; // the gateway saw its feed end
      const closedByGateway = h.audit(
        (a) =>
          a.type === 'handshake' &&
          a.reason === 'REVOKED' &&
          (a.detail ?? '').startsWith('open connection closed') &&
          bare(a.serial) === bare(web.serial),
      );
      expect((await call(ca, { path: '/v1/revoke', body: { serial: web.serial }, ...admin(ca) })).status).toBe(200);
      await closedByGateway;
      await closed;
      expect((await getOver(h, new Agent({ keepAlive: false }), web)).status).toBe(403);
      expect(h.logs.some((l) => l.includes('revocation source failed'))).toBe(true);
      agent.destroy();
    } finally {
      await h.close();
    }
  });
  it('forgets the revocations of certificates that have expired (they are refused as expired), so it holds what the CRLs hold', async () => {
    const early = await enroll(ca, 'feed-expiring', `URI:${WEB}`, { uri: [WEB] });
    const pki = makePki();
    let offsetMs = 0;
    const h = await startHarness(
      {
        routes: [{ name: 'api', path: { prefix: '/' }, allow: [{ spiffeId: WEB }], upstream: 'app' }],
        listener: { clientAuth: { trustBundles: [ca.files.root] } },
        revocation: { sources: [{ feed: ca.server.url, ca: ca.files.root }] },
      },
      { pki, now: () => new Date(Date.now() + offsetMs) },
    );
    try {
      const refusedAs = (reason: string): Promise<unknown> =>
        h.audit((a) => a.type === 'handshake' && a.reason === reason && bare(a.serial) === bare(early.serial));
      expect((await call(ca, { path: '/v1/revoke', body: { serial: early.serial }, ...admin(ca) })).status).toBe(200);
      // Retry until the feed has delivered it: every revocation the CA knows arrived before it, in order.
      for (let status = 0; status !== 403;) status = (await getOver(h, new Agent({ keepAlive: false }), early)).status;
      await refusedAs('REVOKED');
      const held = await feedEntries(h);
      expect(held).toBeGreaterThanOrEqual(1); // this one, and those of the tests before

      // Every certificate revoked so far expires within the profile's 30 days; the gateway's clock moves past that.
      offsetMs = 31 * 24 * 3_600_000;
      const later = await enroll(ca, 'feed-later', `URI:${WEB}`, { uri: [WEB] });
      const swept = nextRevocationUpdate(h, (e) => e.source === ca.server.url.replace(/\/+$/, '') && e.changed);
      expect((await call(ca, { path: '/v1/revoke', body: { serial: later.serial }, ...admin(ca) })).status).toBe(200);
      await swept;
      // Expired by the gateway's clock: the new event is not held either, and nothing held before is left.
      expect(await feedEntries(h)).toBe(0);
      expect((await getOver(h, new Agent({ keepAlive: false }), early)).status).toBe(403);
      await refusedAs('EXPIRED');
    } finally {
      await h.close();
    }
  });
});
