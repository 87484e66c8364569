import { afterEach, describe, expect, it } from 'vitest';
import { BATCH, WEB, get, makePki, startHarness, type Harness, CERTIFICATE_REFUSED } from './gateway-harness.js';

/** Token buckets per verified identity, per source address, and for failed handshakes; time is injected. */
describe('gateway rate limits', () => {
  const open: Harness[] = [];
  afterEach(async () => {
    for (const h of open.splice(0)) await h.close();
  });

  it('limits each identity to its bucket with 429 and Retry-After; other identities are unaffected', async () => {
    let t = Date.now();
    const h = await startHarness(
      {
        routes: [
          { name: 'api', path: { prefix: '/' }, allow: [{ spiffeId: WEB }, { spiffeId: BATCH }], upstream: 'app' },
        ],
        rateLimits: { perIdentity: { rate: 1, burst: 3 } },
      },
      { now: () => new Date(t) },
    );
    open.push(h);
    const web = h.pki.client('web', { profile: 'client', names: { uri: [WEB] } });
    const batch = h.pki.client('batch', { profile: 'client', names: { uri: [BATCH] } });
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await get(h, '/x', { client: web })).status);
    expect(statuses).toEqual([200, 200, 200, 429]);
    const limited = await get(h, '/x', { client: web });
    expect(limited.status).toBe(429);
    expect(limited.headers['retry-after']).toBe('1');
    expect(JSON.parse(limited.body)).toEqual({ error: { code: 'ERR_GATEWAY_RATE_LIMITED' } });
    expect((await get(h, '/x', { client: batch })).status).toBe(200);
    expect(await h.audit((a) => a.status === 429)).toMatchObject({ identity: WEB, reason: 'rate-limited-identity' });
    t += 1000;
    expect((await get(h, '/x', { client: web })).status).toBe(200);
  });

  it('limits a source address across identities', async () => {
    const h = await startHarness({
      routes: [
        { name: 'api', path: { prefix: '/' }, allow: [{ spiffeId: WEB }, { spiffeId: BATCH }], upstream: 'app' },
      ],
      rateLimits: { perAddress: { rate: 0.001, burst: 2 } },
    });
    open.push(h);
    const web = h.pki.client('web', { profile: 'client', names: { uri: [WEB] } });
    const batch = h.pki.client('batch', { profile: 'client', names: { uri: [BATCH] } });
    expect((await get(h, '/x', { client: web })).status).toBe(200);
    expect((await get(h, '/x', { client: batch })).status).toBe(200);
    expect((await get(h, '/x', { client: batch })).status).toBe(429);
    expect(await h.audit((a) => a.status === 429)).toMatchObject({ reason: 'rate-limited-address' });
  });

  it('drops connections from an address that used up its failed-handshake bucket, before any handshake', async () => {
    let t = Date.now();
    const pki = makePki();
    const h = await startHarness(
      {
        routes: [{ name: 'api', path: { prefix: '/' }, allow: [{ spiffeId: WEB }], upstream: 'app' }],
        rateLimits: { failedHandshakes: { rate: 1, burst: 2 } },
      },
      { pki, now: () => new Date(t) },
    );
    open.push(h);
    const web = pki.client('web', { profile: 'client', names: { uri: [WEB] } });
    expect(await get(h, '/x')).toMatchObject(CERTIFICATE_REFUSED);
    expect(await get(h, '/x')).toMatchObject(CERTIFICATE_REFUSED);
    // Now even a valid client from this address is dropped until the bucket refills.
    await expect(get(h, '/x', { client: web })).rejects.toThrow();
    const refused = h.audits.filter((a) => a.type === 'handshake').map((a) => a.reason);
    // The drop is audited too, and it does not take from the bucket it was refused by.
    expect(refused).toEqual(['NO_CERTIFICATE', 'NO_CERTIFICATE', 'RATE_LIMITED']);
    expect(h.audits.at(-1)).toMatchObject({ decision: 'refused', identity: null, status: null });
    t += 1000;
    expect((await get(h, '/x', { client: web })).status).toBe(200);
  });
});
