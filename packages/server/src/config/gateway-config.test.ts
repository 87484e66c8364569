import { describe, expect, it } from 'vitest';
import { MutualError } from '@mutual/sdk';
import { parseGatewayConfig } from './index.js';

/** The rate-limit store and workers keys of gateway.yaml: defaults, and what is refused (with its path). */
describe('gateway.yaml rateLimits.store and workers', () => {
  const text = (extra: Record<string, unknown>): string =>
    JSON.stringify({
      version: 1,
      listeners: [
        {
          name: 'main',
          listen: { port: 0 },
          tls: { certificate: 'c.pem', key: 'k.pem' },
          clientAuth: { trustBundles: ['t.pem'] },
        },
      ],
      upstreams: {},
      ...extra,
    });
  const problems = (extra: Record<string, unknown>): string => {
    try {
      parseGatewayConfig(text(extra), 'gw.json');
      return '';
    } catch (err) {
      expect(err).toBeInstanceOf(MutualError);
      return JSON.stringify((err as MutualError).details);
    }
  };

  it('defaults to memory buckets and one process', () => {
    const c = parseGatewayConfig(text({}), 'gw.json').config;
    expect(c.rateLimits.store).toBeUndefined();
    expect(c.workers).toBe(1);
  });

  it('fills the redis defaults and reads durations', () => {
    const c = parseGatewayConfig(
      text({
        rateLimits: { store: { redis: { url: 'rediss://:pw@r.internal:6380/2', timeout: '200ms' } } },
        workers: 4,
      }),
      'gw.json',
    ).config;
    expect(c.rateLimits.store).toEqual({
      redis: { url: 'rediss://:pw@r.internal:6380/2', keyPrefix: 'mutual:ratelimit:', timeout: 200, failClosed: false },
    });
    expect(c.workers).toBe(4);
  });

  it('refuses unknown keys, other URL schemes, long timeouts and bad worker counts', () => {
    expect(problems({ rateLimits: { store: { redis: { url: 'redis://r:6379', pool: 3 } } } })).toMatch(/pool/);
    expect(problems({ rateLimits: { store: { redis: { url: 'http://r:6379' } } } })).toMatch(
      /rateLimits\.store\.redis\.url/,
    );
    expect(problems({ rateLimits: { store: { redis: { url: 'redis://r:6379', timeout: '10s' } } } })).toMatch(
      /timeout/,
    );
    expect(problems({ rateLimits: { store: 'memory' } })).toMatch(/rateLimits\.store/);
    expect(problems({ rateLimits: { store: {} } })).toMatch(/rateLimits\.store\.redis/);
    expect(problems({ workers: 0 })).toMatch(/workers/);
    expect(problems({ workers: 'all' })).toMatch(/workers/);
  });
});
