import { describe, expect, it } from 'vitest';
import type { MutualError } from '@mutual/sdk';
import { parseGatewayConfig } from './index.js';

const config = (tls: string): string => `
version: 1
listeners:
  - name: web
    listen: { port: 8443 }
    tls: ${tls}
    clientAuth: { trustBundles: [root.crt] }
upstreams: {}
`;

const issues = (text: string): string[] => {
  try {
    parseGatewayConfig(text, 'gateway.yaml');
    return [];
  } catch (err) {
    const details = (err as MutualError).details as { issues?: { path: string; message: string }[] };
    return (details.issues ?? []).map((i) => `${i.path}: ${i.message}`);
  }
};

describe('gateway.yaml tls.fromCa', () => {
  it('accepts a CA URL, a root file or a fingerprint, a token file, and normalizes them', () => {
    const loaded = parseGatewayConfig(
      config(
        '{ fromCa: { url: "https://ca.internal:8443/", fingerprint: "AB:' +
          'cd'.repeat(30) +
          'EF", tokenFile: t, lifetime: 1h, persist: { certificate: s.crt, key: s.key } } }',
      ),
      'gateway.yaml',
    );
    const tls = loaded.config.listeners[0]?.tls;
    expect(tls && 'fromCa' in tls ? tls.fromCa : undefined).toMatchObject({
      url: 'https://ca.internal:8443',
      fingerprint: `ab${'cd'.repeat(30)}ef`,
      keyType: 'p256',
      lifetime: '1h',
    });
  });

  it('refuses both or neither of rootFile and fingerprint, http URLs, bad lifetimes and unknown keys', () => {
    expect(issues(config('{ fromCa: { url: "https://ca.internal", tokenFile: t } }')).join('\n')).toMatch(
      /exactly one of rootFile and fingerprint/,
    );
    expect(
      issues(config('{ fromCa: { url: "http://ca.internal", rootFile: r, tokenFile: t, lifetime: soon } }')).join('\n'),
    ).toMatch(/lifetime/);
    expect(issues(config('{ fromCa: { url: "https://ca", rootFile: r, tokenFile: t, names: [a] } }'))).not.toEqual([]);
    expect(issues(config('{ certificate: c.crt, key: c.key, fromCa: { url: "https://ca" } }'))).not.toEqual([]);
  });
});
