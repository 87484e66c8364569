import { afterEach, describe, expect, it } from 'vitest';
import { createRedisRateStore, type RedisRateStore } from '../../src/gateway/index.js';
import { startRedis, type TestRedis } from '../support/redis.js';

/**
 * The Redis token buckets against a real redis-server: two stores stand for two gateways. Time is an
 * argument; a stopped (SIGSTOP) Redis shows that a decision never waits longer than `timeout`.
 */
describe('Redis rate-limit store', () => {
  const stores: RedisRateStore[] = [];
  const redises: TestRedis[] = [];
  afterEach(async () => {
    for (const s of stores.splice(0)) s.close();
    for (const r of redises.splice(0)) {
      r.process.kill('SIGCONT');
      await r.kill();
    }
  });

  const store = async (
    redis: TestRedis,
    opts: { keyPrefix?: string; timeout?: number; failClosed?: boolean; states?: string[] } = {},
  ): Promise<RedisRateStore> => {
    const s = createRedisRateStore({
      url: redis.url,
      keyPrefix: opts.keyPrefix ?? 'p:',
      timeout: opts.timeout ?? 2_000,
      failClosed: opts.failClosed ?? false,
      onState: (up, error) => opts.states?.push(up ? 'up' : `down: ${error ?? ''}`),
    });
    stores.push(s);
    expect(await s.connected(5_000)).toBe(true);
    return s;
  };

  it('refills by rate up to burst, one budget across stores and per key; another prefix is another budget', async () => {
    const redis = await startRedis();
    redises.push(redis);
    const a = (await store(redis)).limiter('identity', { rate: 1, burst: 3 });
    const b = (await store(redis)).limiter('identity', { rate: 1, burst: 3 });
    const other = (await store(redis, { keyPrefix: 'q:' })).limiter('identity', { rate: 1, burst: 3 });
    const t = 1_700_000_000_000;
    expect(await a.take('web', t)).toEqual({ ok: true });
    expect(await b.take('web', t)).toEqual({ ok: true });
    expect(await a.take('web', t)).toEqual({ ok: true });
    expect(await b.take('web', t + 100)).toEqual({ ok: false, retryAfterSeconds: 1 });
    expect(await a.take('batch', t + 100)).toEqual({ ok: true });
    expect(await other.take('web', t + 100)).toEqual({ ok: true });
    // 2.5 s later: 2.5 tokens back (minus the 0.1 s already counted), never more than burst.
    expect(await b.take('web', t + 2_500)).toEqual({ ok: true });
    expect(await a.take('web', t + 2_500)).toEqual({ ok: true });
    expect(await a.take('web', t + 2_500)).toEqual({ ok: false, retryAfterSeconds: 1 });
    // A clock that lags behind the bucket's time refills nothing.
    expect(await b.take('web', t + 1_000)).toEqual({ ok: false, retryAfterSeconds: 1 });
    expect(await b.take('web', t + 60_000)).toEqual({ ok: true });
  });

  it('a failed-handshake budget spent through one store is seen by the other, which then answers at once', async () => {
    const redis = await startRedis();
    redises.push(redis);
    const a = (await store(redis)).limiter('handshake', { rate: 1, burst: 2 });
    const b = (await store(redis)).limiter('handshake', { rate: 1, burst: 2 });
    const t = 1_700_000_000_000;
    expect(await b.exhausted('10.0.0.7', t)).toBe(false);
    await a.take('10.0.0.7', t);
    await a.take('10.0.0.7', t);
    expect(await b.exhausted('10.0.0.7', t)).toBe(true);
    // Known exhausted: answered without asking Redis (synchronously) until a token is due.
    expect(b.exhausted('10.0.0.7', t + 500)).toBe(true);
    expect(await b.exhausted('10.0.0.8', t)).toBe(false);
    expect(await b.exhausted('10.0.0.7', t + 1_000)).toBe(false);
  });

  it('a stopped Redis: after `timeout` the memory bucket decides (or 503 with failClosed), and recovery is reported', async () => {
    const redis = await startRedis();
    redises.push(redis);
    const states: string[] = [];
    const open = (await store(redis, { timeout: 200, states })).limiter('identity', { rate: 1, burst: 1 });
    const closed = (await store(redis, { timeout: 200, failClosed: true })).limiter('identity', { rate: 1, burst: 1 });
    const t = 1_700_000_000_000;
    expect(await open.take('web', t)).toEqual({ ok: true });
    expect(await open.take('web', t)).toMatchObject({ ok: false });
    redis.process.kill('SIGSTOP');
    // The shared bucket is empty, but Redis does not answer: this process's own bucket (full) decides.
    expect(await open.take('web', t)).toEqual({ ok: true });
    expect(await open.take('web', t)).toMatchObject({ ok: false, retryAfterSeconds: 1 });
    expect(await closed.take('web', t)).toEqual({ ok: false, retryAfterSeconds: 1, unavailable: true });
    expect(states[0]).toBe('up');
    expect(states[1]).toMatch(/^down: .*(timed out|did not answer)/i);
    redis.process.kill('SIGCONT');
    // Back: the shared (empty) bucket decides again.
    // (A resumed process may need a moment: at most a few attempts, each bounded by `timeout`.)
    let answer = await open.take('web', t + 10);
    for (let i = 0; i < 5 && states.at(-1) !== 'up'; i++) answer = await open.take('web', t + 10);
    expect(states.at(-1)).toBe('up');
    expect(answer).toMatchObject({ ok: false });
  });
});
