import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseGatewayConfig } from '../config/index.js';

describe('docs/reference/gateway.md', () => {
  it('its example configuration is valid', () => {
    const doc = readFileSync(new URL('../../../../docs/reference/gateway.md', import.meta.url), 'utf8');
    const example = /```yaml\n([\s\S]*?)```/.exec(doc)?.[1];
    expect(example).toBeDefined();
    const loaded = parseGatewayConfig(example ?? '', 'gateway.yaml');
    expect(loaded.config.listeners[0]?.routes.map((r) => r.name)).toEqual([
      'orders-read',
      'admin',
      'new-batch-api',
      'health',
    ]);
    expect(loaded.config.revocation.sources).toHaveLength(2);
    expect(loaded.config.rateLimits.store).toEqual({
      redis: { url: 'redis://10.0.0.9:6379', keyPrefix: 'mutual:ratelimit:', timeout: 50, failClosed: false },
    });
    expect(loaded.config.workers).toBe('auto');
  });
});
