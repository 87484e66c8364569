// Start-up of the online CA: from a ca.yaml path (as `mutual ca serve --config` does), with the
// configuration audited, a token key made for a CA that predates tokens, and intents a crashed
// process left pending marked failed — never delivered, never reused.
import { randomBytes } from 'node:crypto';
import { existsSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openSqliteStore, startCaServer } from '../../src/index.js';
import { admin, call, cleanupDirs, mintToken, startTestCa } from './support/ca-server.js';

afterAll(cleanupDirs);

describe('ca server: start-up', () => {
  it('starts from a config file path, audits the configuration, and creates a missing token key (0600)', async () => {
    const ca = await startTestCa();
    await ca.close();
    rmSync(path.join(ca.dir, 'token.key'));
    const server = await startCaServer({
      configFile: path.join(ca.dir, 'ca.yaml'),
      env: {},
      clock: ca.clock,
      listen: { host: '127.0.0.1', port: 0 },
    });
    ca.server = server;
    try {
      expect(existsSync(path.join(ca.dir, 'token.key'))).toBe(true);
      expect(statSync(path.join(ca.dir, 'token.key')).mode & 0o777).toBe(0o600);
      expect(await mintToken(ca, { dns: ['x.internal'] })).toMatch(/^eyJ/);
      const actions = ca.audit().map((a) => a.action);
      expect(actions.filter((a) => a === 'ca.start')).toHaveLength(2);
      expect(actions).toContain('token-key.create');
      const start = ca
        .audit()
        .filter((a) => a.action === 'ca.start')
        .at(-1);
      expect(start?.details).toMatchObject({
        publicUrl: server.url,
        configSha256: expect.stringMatching(/^[0-9a-f]{64}$/) as string,
      });
      expect((await ca.server.close(), true)).toBe(true);
      await expect(
        startCaServer({
          configFile: path.join(ca.dir, 'missing.yaml'),
          env: {},
          listen: { host: '127.0.0.1', port: 0 },
        }),
      ).rejects.toMatchObject({ code: 'ERR_CONFIG_NOT_FOUND' });
    } finally {
      await server.close();
    }
  });

  it('marks an intent a crashed process left pending as failed at the next start, with an audit record', async () => {
    const ca = await startTestCa();
    await ca.close();
    const store = await openSqliteStore({ file: path.join(ca.dir, 'mutual.db') });
    const serial = `7${randomBytes(16).toString('hex')}`; // canonical: no leading zeros
    await store.reserveSerial({
      serial,
      issuerFingerprint: ca.init.intermediateFingerprint,
      profile: 'client',
      subject: 'CN=lost.internal',
      commonName: 'lost.internal',
      identityKind: 'dns',
      identity: 'lost.internal',
      sans: { dns: ['lost.internal'], ip: [], uri: [], email: [] },
      keyType: 'p256',
      notBefore: ca.clock.now(),
      notAfter: new Date(ca.clock.now().getTime() + 86_400_000),
      requester: 'token:lost',
      createdAt: new Date(ca.clock.now().getTime() - 11 * 60_000), // the crash was 11 minutes ago
    });
    await store.close();
    await ca.restart();
    try {
      const r = await call(ca, { path: '/v1/certificates?state=failed', ...admin(ca) });
      expect(r.json<{ items: { serial: string }[] }>().items.map((i) => i.serial)).toEqual([serial]);
      expect(ca.audit().find((a) => a.action === 'certificate.abandon')).toMatchObject({ subject: serial });
    } finally {
      await ca.close();
    }
  });
});
