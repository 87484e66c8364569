import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadCaConfig, parseGatewayConfig } from './index.js';

const base = `
version: 1
name: Example CA
keys: { passphrase: null }
root: { certificate: root.crt, key: root.key }
intermediate: { certificate: intermediate.crt, key: intermediate.key }
store: { sqlite: { file: mutual.db } }
policy: { server: {}, client: {}, both: {} }
`;

const load = (extra: string) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'mutual-alerts-config-'));
  const file = path.join(dir, 'ca.yaml');
  writeFileSync(file, base + extra);
  return loadCaConfig(file).config;
};

const caught = (fn: () => unknown): unknown => {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected a throw');
};

describe('ca.yaml alerts: and reports:', () => {
  it('has no rules without the section, and defaults for what a rule leaves out', () => {
    const none = load('');
    expect(none.alerts).toEqual({ cooldown: 3_600_000, retention: 90 * 86_400_000, interval: 30_000 });
    expect(none.reports).toEqual({ staleAfter: 120_000, authFailureRetention: 7 * 86_400_000 });
    const some = load(`
alerts:
  expiring: {}
  authFailures: { per: address }
  revokedInUse: {}
  webhook: { url: "https://hooks.example/x", headers: { authorization: { env: HOOK_AUTH }, x-team: pki } }
  cooldown: 2h
`);
    expect(some.alerts).toEqual({
      expiring: { within: 7 * 86_400_000 },
      authFailures: { threshold: 20, window: 300_000, per: 'address' },
      revokedInUse: {},
      webhook: {
        url: 'https://hooks.example/x',
        headers: { authorization: { env: 'HOOK_AUTH' }, 'x-team': 'pki' },
        timeout: 5000,
        retries: 3,
      },
      cooldown: 7_200_000,
      retention: 90 * 86_400_000,
      interval: 30_000,
    });
  });

  it('refuses unknown keys, bad durations, a non-http webhook and too many retries, all at once', () => {
    const err = caught(() =>
      load(`
alerts:
  expiring: { within: soon }
  authFailures: { threshold: 0, per: port }
  webhook: { url: "ftp://hooks.example/x", retries: 11 }
  snooze: 1h
`),
    ) as { code: string; message: string };
    expect(err.code).toBe('ERR_CONFIG_INVALID');
    for (const where of [
      'alerts.expiring.within',
      'alerts.authFailures.threshold',
      'alerts.authFailures.per',
      'alerts.webhook.url',
      'alerts.webhook.retries',
      'snooze',
    ]) {
      expect(err.message).toContain(where);
    }
  });
});

describe('ca.yaml inventory:', () => {
  it('keeps expired records 90 days by default; a duration or forever', () => {
    expect(load('').inventory).toEqual({ keepExpired: 90 * 86_400_000 });
    expect(load('inventory: { keepExpired: 30d }').inventory).toEqual({ keepExpired: 30 * 86_400_000 });
    expect(load('inventory: { keepExpired: forever }').inventory).toEqual({ keepExpired: null });
  });

  it('refuses less than an hour, less than the renewal grace, and words that are not durations', () => {
    for (const [yaml, says] of [
      ['inventory: { keepExpired: 30m }', 'at least 1h'],
      ['inventory: { keepExpired: 2d }\nserver: { renewal: { graceAfterExpiry: 3d } }', 'graceAfterExpiry'],
      ['inventory: { keepExpired: always }', 'inventory.keepExpired'],
      ['inventory: { keep: 1d }', 'keep'],
    ] as const) {
      const err = caught(() => load(yaml)) as { code: string; message: string };
      expect(err.code).toBe('ERR_CONFIG_INVALID');
      expect(err.message).toContain(says);
    }
    expect(load('inventory: { keepExpired: 3d }\nserver: { renewal: { graceAfterExpiry: 3d } }').inventory).toEqual({
      keepExpired: 3 * 86_400_000,
    });
  });
});

describe('gateway.yaml report:', () => {
  const gateway = (report: string) => `
version: 1
listeners:
  - name: main
    listen: { port: 8444 }
    tls: { certificate: server.crt, key: server.key }
    clientAuth: { trustBundles: [root.crt] }
upstreams: {}
${report}
`;

  it('is optional; defaults the name, interval and bounds', () => {
    expect(parseGatewayConfig(gateway(''), '/etc/gw/gateway.yaml').config.report).toBeUndefined();
    const { report } = parseGatewayConfig(
      gateway('report: { url: "https://ca.internal:8443/", ca: root.crt }'),
      '/etc/gw/gateway.yaml',
    ).config;
    expect(report).toEqual({
      url: 'https://ca.internal:8443',
      ca: 'root.crt',
      name: 'gateway',
      interval: 30_000,
      maxItems: 1000,
    });
  });

  it('wants an https CA URL, and a certificate with its key', () => {
    const err = caught(() =>
      parseGatewayConfig(
        gateway('report: { url: "http://ca.internal", ca: root.crt, certificate: me.crt }'),
        '/etc/gw/gateway.yaml',
      ),
    ) as { message: string };
    expect(err.message).toContain('report.url');
    expect(err.message).toContain('set both certificate and key');
  });
});
