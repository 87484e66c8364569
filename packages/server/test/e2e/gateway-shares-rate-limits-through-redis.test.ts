import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startRedis, type TestRedis } from '../support/redis.js';
import { BATCH, WEB, get, makePki, startHarness, type Harness, type Pki } from './gateway-harness.js';

/**
 * Two gateways with `rateLimits.store.redis` spend one token bucket per identity through a real
 * redis-server; when Redis dies they fall back to their own buckets (default) or refuse with 503
 * (`failClosed: true`). Time is injected (one clock for both gateways).
 */
describe('gateway rate limits shared through Redis', () => {
  const open: Harness[] = [];
  const redises: TestRedis[] = [];
  afterEach(async () => {
    for (const h of open.splice(0)) await h.close();
    for (const r of redises.splice(0)) await r.kill();
  });

  const start = async (
    pki: Pki,
    name: string,
    redis: TestRedis,
    now: () => Date,
    store: Record<string, unknown> = {},
  ): Promise<Harness> => {
    const h = await startHarness(
      {
        routes: [
          { name: 'api', path: { prefix: '/' }, allow: [{ spiffeId: WEB }, { spiffeId: BATCH }], upstream: 'app' },
        ],
        // A generous timeout: this test is about sharing, not about a slow Redis on a busy machine.
        rateLimits: {
          perIdentity: { rate: 1, burst: 4 },
          store: { redis: { url: redis.url, keyPrefix: `t${redis.port}:`, timeout: '2s', ...store } },
        },
        audit: { file: path.join(pki.dir, `${name}-audit.jsonl`) },
        watch: false,
      },
      { pki, now, configName: `${name}.yaml` },
    );
    open.push(h);
    return h;
  };

  it('two gateways share one budget per identity: 429 with Retry-After once it is spent, others unaffected', async () => {
    const redis = await startRedis();
    redises.push(redis);
    let t = Date.now();
    const now = (): Date => new Date(t);
    const pki = makePki();
    const a = await start(pki, 'a', redis, now);
    const b = await start(pki, 'b', redis, now);
    const web = pki.client('web', { profile: 'client', names: { uri: [WEB] } });
    const batch = pki.client('batch', { profile: 'client', names: { uri: [BATCH] } });

    const statuses: number[] = [];
    for (const h of [a, b, a, b]) statuses.push((await get(h, '/x', { client: web })).status);
    expect(statuses).toEqual([200, 200, 200, 200]);
    // Each gateway alone would still have 2 tokens: the budget of 4 is shared.
    for (const h of [a, b]) {
      const limited = await get(h, '/x', { client: web });
      expect(limited.status).toBe(429);
      expect(limited.headers['retry-after']).toBe('1');
      expect(JSON.parse(limited.body)).toEqual({ error: { code: 'ERR_GATEWAY_RATE_LIMITED' } });
    }
    expect(await b.audit((r) => r.status === 429)).toMatchObject({ identity: WEB, reason: 'rate-limited-identity' });
    expect((await get(a, '/x', { client: batch })).status).toBe(200);
    expect((await get(b, '/x', { client: batch })).status).toBe(200);

    // One second later the shared bucket holds one token: one gateway gets it, the other does not.
    t += 1000;
    expect((await get(b, '/x', { client: web })).status).toBe(200);
    expect((await get(a, '/x', { client: web })).status).toBe(429);

    // Redis dies: each gateway falls back to its own bucket (burst 4 each), says so, and never stalls.
    await redis.kill();
    const afterKill: number[] = [];
    for (let i = 0; i < 5; i++) afterKill.push((await get(a, '/x', { client: web })).status);
    expect(afterKill).toEqual([200, 200, 200, 200, 429]);
    expect(a.logs.some((l) => l.startsWith('warn redis unavailable'))).toBe(true);
    const metrics = await fetch(`http://127.0.0.1:${a.gw.adminPort}/metrics`).then((r) => r.text());
    expect(metrics).toMatch(/mutual_gateway_rate_limit_store_up\{store="redis"\} 0/);
  });

  it('with failClosed: true a gateway answers 503 while Redis is unreachable', async () => {
    const redis = await startRedis();
    redises.push(redis);
    const pki = makePki();
    const h = await start(pki, 'closed', redis, () => new Date(), { failClosed: true });
    const web = pki.client('web', { profile: 'client', names: { uri: [WEB] } });
    expect((await get(h, '/x', { client: web })).status).toBe(200);
    await redis.kill();
    const refused = await get(h, '/x', { client: web });
    expect(refused.status).toBe(503);
    expect(JSON.parse(refused.body)).toEqual({ error: { code: 'ERR_GATEWAY_RATE_LIMIT_UNAVAILABLE' } });
    expect(await h.audit((r) => r.status === 503)).toMatchObject({
      identity: WEB,
      reason: 'rate-limit-store-unavailable',
    });
  });
});
