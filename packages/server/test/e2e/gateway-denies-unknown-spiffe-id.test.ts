import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BATCH, TD, WEB, get, startHarness, type Client, type Harness } from './gateway-harness.js';

/** Authorization outcomes: allow, deny (unknown identity, no route, method, empty allow-list, pin), audit mode. */
describe('gateway authorizes each request by the verified client identity', () => {
  let h: Harness;
  let web: Client;
  let batch: Client;
  let other: Client;
  let dnsClient: Client;

  beforeAll(async () => {
    h = await startHarness({
      routes: [
        {
          name: 'orders',
          path: { prefix: '/orders' },
          methods: ['GET', 'POST'],
          allow: [{ spiffeId: WEB }],
          upstream: 'app',
        },
        { name: 'nobody', path: { prefix: '/nobody' }, allow: [], upstream: 'app' },
        {
          name: 'reports',
          path: { exact: '/reports' },
          mode: 'audit',
          allow: [{ spiffeId: WEB }],
          upstream: 'app',
        },
        {
          name: 'prod',
          path: { prefix: '/prod/' },
          allow: [{ spiffeGlob: `spiffe://${TD}/ns/*/sa/batch` }],
          upstream: 'app',
        },
        { name: 'td', path: { prefix: '/td' }, allow: [{ trustDomain: TD }], upstream: 'app' },
        { name: 'dns', path: { prefix: '/dns' }, allow: [{ dns: 'svc.internal.test' }], upstream: 'app' },
        { name: 'public', path: { exact: '/public' }, anonymous: true, upstream: 'app' },
      ],
    });
    web = h.pki.client('web', { profile: 'client', names: { uri: [WEB] } });
    batch = h.pki.client('batch', { profile: 'client', names: { uri: [BATCH] } });
    other = h.pki.client('other', { profile: 'client', names: { uri: ['spiffe://elsewhere.test/ns/prod/sa/web'] } });
    dnsClient = h.pki.client('dns', { profile: 'client', names: { dns: ['svc.internal.test'] } });
  });
  afterAll(async () => {
    await h.close();
  });

  it('allows the listed SPIFFE ID and forwards the normalized path with the identity header', async () => {
    const r = await get(h, '/orders/42?x=1', { client: web });
    expect(r.status).toBe(200);
    const echo = JSON.parse(r.body) as { url: string; headers: Record<string, string> };
    expect(echo.url).toBe('/orders/42?x=1');
    expect(echo.headers['x-forwarded-client-cert']).toContain(`URI=${WEB}`);
    const rec = await h.audit((a) => a.path === '/orders/42' && a.type === 'request');
    expect(rec).toMatchObject({ decision: 'allow', route: 'orders', identity: WEB, status: 200, method: 'GET' });
    expect(rec.fingerprint).toMatch(/^[0-9a-f]{64}$/);
  });

  it('denies an unknown SPIFFE ID with a bare 403 and audits why', async () => {
    const before = h.upstream.requests.length;
    const r = await get(h, '/orders/1', { client: batch });
    expect(r.status).toBe(403);
    expect(JSON.parse(r.body)).toEqual({ error: { code: 'ERR_GATEWAY_FORBIDDEN' } });
    expect(h.upstream.requests.length).toBe(before);
    const rec = await h.audit((a) => a.identity === BATCH && a.route === 'orders');
    expect(rec).toMatchObject({ decision: 'deny', reason: 'identity-not-allowed', status: 403 });
  });

  it('denies a method the route does not list, and a path no route covers (default deny)', async () => {
    expect((await get(h, '/orders/1', { client: web, method: 'DELETE' })).status).toBe(403);
    expect((await get(h, '/ordersx', { client: web })).status).toBe(403);
    const rec = await h.audit((a) => a.path === '/ordersx');
    expect(rec).toMatchObject({ decision: 'deny', reason: 'no-route', route: null });
  });

  it('admits nobody on an empty allow-list', async () => {
    expect((await get(h, '/nobody', { client: web })).status).toBe(403);
    expect(await h.audit((a) => a.route === 'nobody')).toMatchObject({ reason: 'empty-allow-list' });
  });

  it('forwards in audit mode but records what it would have denied', async () => {
    const r = await get(h, '/reports', { client: batch });
    expect(r.status).toBe(200);
    expect(await h.audit((a) => a.route === 'reports' && a.identity === BATCH)).toMatchObject({
      decision: 'audit-deny',
      reason: 'identity-not-allowed',
      status: 200,
    });
  });

  it('matches globs, trust domains and DNS identities', async () => {
    expect((await get(h, '/prod/x', { client: batch })).status).toBe(200);
    expect((await get(h, '/prod/x', { client: web })).status).toBe(403);
    expect((await get(h, '/td', { client: web })).status).toBe(200);
    expect((await get(h, '/td', { client: other })).status).toBe(403);
    expect((await get(h, '/dns', { client: dnsClient })).status).toBe(200);
    expect((await get(h, '/dns', { client: web })).status).toBe(403);
  });

  it('serves an anonymous route without a certificate, and nothing else', async () => {
    expect((await get(h, '/public')).status).toBe(200);
    expect((await get(h, '/orders/1')).status).toBe(403);
    expect(await h.audit((a) => a.path === '/orders/1' && a.identity === null)).toMatchObject({
      reason: 'no-client-certificate',
    });
  });
});
