import 'reflect-metadata';
import { X509Certificate, createPublicKey, webcrypto } from 'node:crypto';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as x509 from '@peculiar/x509';
import { describe, expect, it } from 'vitest';
import { removeAfterFile } from '../../test/temp-dirs.js';
import { MutualError, parseDuration } from '@mutual/sdk';
import { reportRequest, type CertificateResponse } from '@mutual/sdk/contract';
import {
  RenewalAgent,
  agentConfigSchema,
  readAgentState,
  renderMetrics,
  type AgentCa,
  type LoadedAgentConfig,
} from './index.js';

x509.cryptoProvider.set(webcrypto as never);

/** A CA in memory with its own clock (possibly skewed from the agent's), backdating 60 s like the real one. */
async function fakeCa(clock: () => Date) {
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const keys = await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify']);
  const root = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: 'CN=fake root',
    notBefore: new Date(clock().getTime() - 86_400_000),
    notAfter: new Date(clock().getTime() + 86_400_000 * 30),
    keys,
    signingAlgorithm: alg,
    extensions: [new x509.BasicConstraintsExtension(true, undefined, true)],
  });
  let serial = 0x100;
  let down = false;
  let refuseRenewals = false;
  const calls: Array<{
    op: 'sign' | 'renew' | 'revoke';
    spki: string;
    presented?: string;
    serial?: string;
    reason?: string;
  }> = [];
  const issue = async (csrPem: string, lifetime: string | undefined): Promise<CertificateResponse> => {
    if (down) throw new MutualError('ERR_CA_CLIENT_UNREACHABLE', { details: { url: 'https://ca.test' } });
    const csr = new x509.Pkcs10CertificateRequest(csrPem);
    const now = clock().getTime();
    const s = (serial++).toString(16);
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: s,
      subject: '',
      issuer: root.subject,
      notBefore: new Date(Math.floor((now - 60_000) / 1000) * 1000),
      notAfter: new Date(Math.floor((now + (parseDuration(lifetime ?? '1h') ?? 0)) / 1000) * 1000),
      publicKey: csr.publicKey,
      signingKey: keys.privateKey,
      signingAlgorithm: alg,
      extensions: csr.extensions.filter((e) => e.type === '2.5.29.17'),
    });
    const pem = cert.toString('pem') + '\n';
    calls.push({ op: 'sign', spki: Buffer.from(csr.publicKey.rawData).toString('hex') });
    return {
      serial: s,
      certificate: pem,
      chain: [pem],
      notBefore: cert.notBefore.toISOString(),
      notAfter: cert.notAfter.toISOString(),
      profile: 'server',
    };
  };
  const ca: AgentCa = {
    sign: async (req) => issue(req.csr, req.lifetime),
    renew: async (req, identity) => {
      if (down) throw new MutualError('ERR_CA_CLIENT_UNREACHABLE', { details: { url: 'https://ca.test' } });
      if (refuseRenewals)
        throw new MutualError('ERR_CA_CLIENT_RESPONSE', { message: 'revoked', details: { status: 403 } });
      // The CA judges the presented certificate by its own clock, as the real one does.
      const presented = new X509Certificate(identity.chainPem);
      if (clock().getTime() > new Date(presented.validTo).getTime()) {
        throw new MutualError('ERR_CA_CLIENT_RESPONSE', {
          message: 'expired client certificate',
          details: { status: 401 },
        });
      }
      const res = await issue(req.csr, req.lifetime);
      const last = calls[calls.length - 1];
      if (last) {
        last.op = 'renew';
        last.presented = presented.serialNumber.toLowerCase().replace(/^0+/, '');
      }
      return res;
    },
    report: () => Promise.reject(new MutualError('ERR_CA_CLIENT_RESPONSE', { details: { status: 404 } })),
    revoke: async (body, identity) => {
      if (down) throw new MutualError('ERR_CA_CLIENT_UNREACHABLE', { details: { url: 'https://ca.test' } });
      const presented = new X509Certificate(identity.chainPem);
      calls.push({
        op: 'revoke',
        spki: '',
        presented: presented.serialNumber.toLowerCase().replace(/^0+/, ''),
        serial: body.serial,
        reason: body.reason,
      });
      await Promise.resolve();
    },
  };
  return {
    ca,
    calls,
    setDown: (v: boolean) => {
      down = v;
    },
    setRefuseRenewals: (v: boolean) => {
      refuseRenewals = v;
    },
  };
}

function setup(extra: Record<string, unknown> = {}, lifetime = '60s') {
  const dir = removeAfterFile(mkdtempSync(path.join(tmpdir(), 'mutual-agent-')));
  writeFileSync(path.join(dir, 'token'), 'a-one-time-token-value\n');
  const config = agentConfigSchema.parse({
    version: 1,
    report: { enabled: false },
    certificates: [
      {
        name: 'web',
        cert: 'tls.crt',
        key: 'tls.key',
        names: { dns: ['web.internal'] },
        token: { file: 'token' },
        lifetime,
      },
    ],
    ...extra,
  });
  const loaded: LoadedAgentConfig = {
    config,
    file: path.join(dir, 'agent.yaml'),
    resolve: (p) => path.resolve(dir, p),
    stateFile: path.join(dir, 'agent.state.json'),
  };
  return { dir, loaded };
}

function makeClock(start: number) {
  let t = start;
  return {
    now: () => new Date(t),
    set: (ms: number) => {
      t = ms;
    },
    add: (ms: number) => {
      t += ms;
    },
  };
}

const serialOnDisk = (dir: string): string =>
  new X509Certificate(readFileSync(path.join(dir, 'tls.crt'))).serialNumber.toLowerCase().replace(/^0+/, '');
const keyMatches = (dir: string): boolean => {
  const cert = new X509Certificate(readFileSync(path.join(dir, 'tls.crt')));
  const pub = createPublicKey(readFileSync(path.join(dir, 'tls.key')));
  return cert.publicKey.equals(pub);
};

describe('RenewalAgent: revoking what it stops using', () => {
  const agentFor = async (
    loaded: LoadedAgentConfig,
    ca: AgentCa,
    clock: { now: () => Date },
    logs: Array<{ level: string; message: string; fields: Record<string, unknown> }>,
    reload?: () => Promise<string>,
  ): Promise<RenewalAgent> => {
    const agent = new RenewalAgent({
      config: loaded,
      ca,
      clock,
      env: {},
      log: (level, message, fields = {}) => logs.push({ level, message, fields }),
      random: () => 0.5,
      ...(reload === undefined ? {} : { reload }),
    });
    await agent.init();
    return agent;
  };

  it('revokeReplaced: after a renewal and its reload actions, revokes the replaced certificate presenting it (superseded)', async () => {
    const clock = makeClock(Date.parse('2030-01-01T00:00:00Z'));
    const fake = await fakeCa(clock.now);
    const { dir, loaded } = setup({ revokeReplaced: true });
    const logs: Array<{ level: string; message: string; fields: Record<string, unknown> }> = [];
    const agent = await agentFor(loaded, fake.ca, clock, logs);
    const plan = await agent.tick();
    const first = serialOnDisk(dir);
    expect(fake.calls.map((c) => c.op)).toEqual(['sign']);
    clock.set(plan.items[0]?.renewAt?.getTime() ?? 0);
    await agent.tick();
    expect(fake.calls.map((c) => c.op)).toEqual(['sign', 'renew', 'revoke']);
    expect(fake.calls[2]).toMatchObject({ serial: first, presented: first, reason: 'superseded' });
    expect(serialOnDisk(dir)).not.toBe(first);
    expect(logs.find((l) => l.message === 'replaced certificate revoked')?.fields).toMatchObject({ serial: first });
    expect(agent.revocations()).toEqual({ success: 1, failure: 0 });
    expect(renderMetrics(agent.views(), clock.now(), agent.revocations())).toContain(
      'mutual_agent_revocations_total{outcome="success"} 1',
    );
  });

  it('revokeReplaced: not when a reload action failed (the old certificate may still be in use), nor by default', async () => {
    const clock = makeClock(Date.parse('2030-01-01T00:00:00Z'));
    const fake = await fakeCa(clock.now);
    const { loaded } = setup({
      revokeReplaced: true,
      certificates: [
        {
          name: 'web',
          cert: 'tls.crt',
          key: 'tls.key',
          names: { dns: ['web.internal'] },
          token: { file: 'token' },
          lifetime: '60s',
          reload: [{ signal: { pidFile: 'app.pid', signal: 'SIGHUP' } }],
        },
      ],
    });
    const logs: Array<{ level: string; message: string; fields: Record<string, unknown> }> = [];
    const agent = await agentFor(loaded, fake.ca, clock, logs, () => Promise.reject(new Error('no such process')));
    const plan = await agent.tick();
    clock.set(plan.items[0]?.renewAt?.getTime() ?? 0);
    await agent.tick();
    expect(fake.calls.map((c) => c.op)).toEqual(['sign', 'renew']);
    expect(logs.some((l) => l.message.startsWith('replaced certificate not revoked: a reload action failed'))).toBe(
      true,
    );

    const other = await fakeCa(clock.now);
    const { loaded: plain } = setup();
    const quiet = await agentFor(plain, other.ca, clock, []);
    const p2 = await quiet.tick();
    clock.set(p2.items[0]?.renewAt?.getTime() ?? 0);
    await quiet.tick();
    expect(other.calls.map((c) => c.op)).toEqual(['sign', 'renew']);
  });

  it('revokeOnRemove: a certificate dropped from the config is revoked presenting it, then forgotten; a renamed one is not', async () => {
    const clock = makeClock(Date.parse('2030-01-01T00:00:00Z'));
    const fake = await fakeCa(clock.now);
    const { dir, loaded } = setup();
    await (await agentFor(loaded, fake.ca, clock, [])).tick();
    const web = serialOnDisk(dir);
    writeFileSync(path.join(dir, 'token2'), 'another-token\n');
    const api = {
      name: 'api',
      cert: 'api.crt',
      key: 'api.key',
      names: { dns: ['api.internal'] },
      token: { file: 'token2' },
      lifetime: '60s',
    };
    // Without revokeOnRemove the removed certificate is left alone.
    const keep = {
      ...loaded,
      config: agentConfigSchema.parse({ version: 1, report: { enabled: false }, certificates: [api] }),
    };
    await (await agentFor(keep, fake.ca, clock, [])).tick();
    expect(fake.calls.map((c) => c.op)).toEqual(['sign', 'sign']);
    expect(Object.keys((await readAgentState(loaded.stateFile))?.certificates ?? {}).sort()).toEqual(['api', 'web']);

    // Renamed (same file under another name): forgotten, never revoked.
    const renamed = {
      ...loaded,
      config: agentConfigSchema.parse({
        version: 1,
        report: { enabled: false },
        revokeOnRemove: true,
        certificates: [
          api,
          { ...api, name: 'web-renamed', cert: 'tls.crt', key: 'tls.key', names: { dns: ['web.internal'] } },
        ],
      }),
    };
    const logs: Array<{ level: string; message: string; fields: Record<string, unknown> }> = [];
    await (await agentFor(renamed, fake.ca, clock, logs)).tick();
    expect(fake.calls.filter((c) => c.op === 'revoke')).toEqual([]);
    expect(
      logs.some((l) => l.message.startsWith('removed certificate not revoked: a listed certificate uses its file')),
    ).toBe(true);
    expect(Object.keys((await readAgentState(loaded.stateFile))?.certificates ?? {}).sort()).toEqual([
      'api',
      'web-renamed',
    ]);

    // Removed for good: the CA is down at first (kept, asked again), then revokes it.
    const removed = {
      ...loaded,
      config: agentConfigSchema.parse({
        version: 1,
        report: { enabled: false },
        revokeOnRemove: true,
        certificates: [api],
      }),
    };
    const agent = await agentFor(removed, fake.ca, clock, logs);
    fake.setDown(true);
    await agent.tick();
    expect(Object.keys((await readAgentState(loaded.stateFile))?.certificates ?? {})).toContain('web-renamed');
    expect(
      logs.some((l) => l.message === 'removed certificate: revocation failed; trying again at the next pass'),
    ).toBe(true);
    fake.setDown(false);
    await agent.tick();
    expect(fake.calls.filter((c) => c.op === 'revoke')).toEqual([
      { op: 'revoke', spki: '', presented: web, serial: web, reason: 'cessationOfOperation' },
    ]);
    expect(Object.keys((await readAgentState(loaded.stateFile))?.certificates ?? {})).toEqual(['api']);
    expect(agent.revocations()).toEqual({ success: 1, failure: 1 });
  });
});

describe('RenewalAgent', () => {
  it('enrolls with the token, then renews over mTLS at 2/3 of the lifetime with a new key', async () => {
    const clock = makeClock(Date.parse('2030-01-01T00:00:00Z'));
    const { ca, calls } = await fakeCa(clock.now);
    const { dir, loaded } = setup();
    const logs: Array<{ level: string; message: string }> = [];
    const agent = new RenewalAgent({
      config: loaded,
      ca,
      clock,
      env: {},
      log: (level, message) => logs.push({ level, message }),
      random: () => 0.5,
    });
    await agent.init();

    const first = await agent.tick();
    expect(calls.map((c) => c.op)).toEqual(['sign']);
    expect(statSync(path.join(dir, 'tls.key')).mode & 0o777).toBe(0o600);
    expect(keyMatches(dir)).toBe(true);
    const renewAt = first.items[0]?.renewAt?.getTime() ?? 0;
    // 2/3 of the 60 s granted, counted from receipt on the agent's clock (the CA's 60 s backdating ignored), ±5 % jitter.
    expect(renewAt - clock.now().getTime()).toBeGreaterThanOrEqual(37_000);
    expect(renewAt - clock.now().getTime()).toBeLessThanOrEqual(43_000);
    expect(first.nextWakeAt?.getTime()).toBe(renewAt);

    clock.set(renewAt - 1);
    await agent.tick();
    expect(calls).toHaveLength(1);

    const firstSerial = serialOnDisk(dir);
    clock.set(renewAt);
    await agent.tick();
    expect(calls.map((c) => c.op)).toEqual(['sign', 'renew']);
    expect(calls[1]?.presented).toBe(firstSerial);
    expect(calls[1]?.spki).not.toBe(calls[0]?.spki);
    expect(serialOnDisk(dir)).not.toBe(firstSerial);
    expect(keyMatches(dir)).toBe(true);
    expect(logs.filter((l) => l.message === 'certificate renewed')).toHaveLength(1);

    const state = await readAgentState(loaded.stateFile);
    expect(state?.certificates['web']).toMatchObject({ failures: 0, renewals: 2, lastError: null });
  });

  it('keeps the old certificate while the CA is down, backs off, alerts when overdue, renews when it is back', async () => {
    const clock = makeClock(Date.parse('2030-01-01T00:00:00Z'));
    const fake = await fakeCa(clock.now);
    const { dir, loaded } = setup({ backoff: { base: '1s', max: '8s' } }, '600s');
    const logs: Array<{ level: string; message: string; fields: Record<string, unknown> }> = [];
    const agent = new RenewalAgent({
      config: loaded,
      ca: fake.ca,
      clock,
      env: {},
      log: (level, message, fields = {}) => logs.push({ level, message, fields }),
      random: () => 0.999,
    });
    const plan = await agent.tick();
    const serial = serialOnDisk(dir);
    const keyBefore = readFileSync(path.join(dir, 'tls.key'), 'utf8');
    fake.setDown(true);
    clock.set(plan.items[0]?.renewAt?.getTime() ?? 0);

    const delays: number[] = [];
    let overdueSeen = false;
    for (let i = 0; i < 60 && !overdueSeen; i++) {
      const p = await agent.tick();
      const view = agent.views()[0];
      expect(serialOnDisk(dir)).toBe(serial);
      expect(readFileSync(path.join(dir, 'tls.key'), 'utf8')).toBe(keyBefore);
      if (view?.retryAt) delays.push(view.retryAt.getTime() - clock.now().getTime());
      overdueSeen ||= view?.overdue === true;
      clock.set(p.nextWakeAt?.getTime() ?? clock.now().getTime() + 1000);
    }
    // Exponential, capped at 8 s: ~1, 2, 4, 8, 8 … (random near 1 gives the full step).
    expect(delays.slice(0, 5).map((d) => Math.round(d / 100) * 100)).toEqual([1000, 2000, 4000, 8000, 8000]);
    expect(overdueSeen).toBe(true);
    const alerts = logs.filter((l) => l.message === 'certificate renewal overdue');
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({ level: 'error', fields: { alert: true, certificate: 'web' } });
    expect(renderMetrics(agent.views(), clock.now())).toContain(
      'mutual_agent_certificate_overdue{certificate="web"} 1',
    );
    expect(reportRequest.safeParse(agent.reportBody(clock.now())).success).toBe(true);
    expect(agent.reportBody(clock.now())).toMatchObject({
      component: { kind: 'agent' },
      health: { status: 'failing' },
      certificates: [{ name: 'web', overdue: true }],
    });

    fake.setDown(false);
    const p = await agent.tick();
    const at = p.items[0]?.at.getTime() ?? 0;
    if (at > clock.now().getTime()) {
      clock.set(at);
      await agent.tick();
    }
    expect(serialOnDisk(dir)).not.toBe(serial);
    expect(agent.views()[0]).toMatchObject({ failures: 0, overdue: false, status: 'fresh' });
    expect(renderMetrics(agent.views(), clock.now())).toMatch(
      /mutual_agent_renewals_total\{certificate="web",outcome="failure"\} [1-9][0-9]\n/,
    );
  });

  for (const skewMs of [5 * 60_000, -5 * 60_000]) {
    it(`renews with a CA clock ${skewMs > 0 ? 'ahead' : 'behind'} by 5 minutes`, async () => {
      const clock = makeClock(Date.parse('2030-01-01T00:00:00Z'));
      const fake = await fakeCa(() => new Date(clock.now().getTime() + skewMs));
      const { dir, loaded } = setup();
      const agent = new RenewalAgent({ config: loaded, ca: fake.ca, clock, env: {}, log: () => undefined });
      for (let round = 0; round < 3; round++) {
        const p = await agent.tick();
        expect(p.items[0]?.status).toBe('fresh');
        clock.set(p.nextWakeAt?.getTime() ?? 0);
      }
      await agent.tick();
      expect(fake.calls.map((c) => c.op)).toEqual(['sign', 'renew', 'renew', 'renew']);
      expect(agent.views()[0]).toMatchObject({ failures: 0, overdue: false });
      expect(keyMatches(dir)).toBe(true);
    });
  }

  it('enrolls anew with a token after the CA refused a renewal (e.g. the certificate was revoked)', async () => {
    const clock = makeClock(Date.parse('2030-01-01T00:00:00Z'));
    const fake = await fakeCa(clock.now);
    const { loaded } = setup();
    const agent = new RenewalAgent({ config: loaded, ca: fake.ca, clock, env: {}, log: () => undefined });
    const first = await agent.tick();
    fake.setRefuseRenewals(true);
    clock.set(first.items[0]?.renewAt?.getTime() ?? 0);
    const failed = await agent.tick();
    expect(agent.views()[0]).toMatchObject({ failures: 1 });
    clock.set(failed.nextWakeAt?.getTime() ?? 0);
    await agent.tick();
    expect(fake.calls.map((c) => c.op)).toEqual(['sign', 'sign']);
    expect(agent.views()[0]).toMatchObject({ failures: 0 });
  });

  it('reads the token from an environment reference, and is stuck without one', async () => {
    const clock = makeClock(Date.parse('2030-01-01T00:00:00Z'));
    const fake = await fakeCa(clock.now);
    const { loaded } = setup();
    const cfg = {
      ...loaded,
      config: { ...loaded.config, certificates: [{ ...loaded.config.certificates[0]!, token: { env: 'WEB_TOKEN' } }] },
    };
    const logs: string[] = [];
    const stuck = new RenewalAgent({ config: cfg, ca: fake.ca, clock, env: {}, log: (_l, m) => logs.push(m) });
    expect((await stuck.tick()).items[0]?.action).toBe('stuck');
    expect(logs).toContain('certificate cannot be renewed: no certificate in place and no token');
    const ok = new RenewalAgent({
      config: cfg,
      ca: fake.ca,
      clock,
      env: { WEB_TOKEN: 'tok-from-env-123' },
      log: () => undefined,
    });
    await ok.tick();
    expect(fake.calls.map((c) => c.op)).toEqual(['sign']);
  });

  it('loops on timers: sleeps until the plan says, and a stop waits for the pass in progress', async () => {
    const clock = makeClock(Date.parse('2030-01-01T00:00:00Z'));
    const fake = await fakeCa(clock.now);
    const { loaded } = setup();
    const scheduled: Array<{ fn: () => void; ms: number }> = [];
    const agent = new RenewalAgent({
      config: loaded,
      ca: fake.ca,
      clock,
      env: {},
      log: () => undefined,
      timers: { setTimeout: (fn, ms) => scheduled.push({ fn, ms }), clearTimeout: () => undefined },
    });
    const ticked = agent.nextTick();
    agent.start();
    await ticked;
    await new Promise((r) => setImmediate(r));
    expect(scheduled).toHaveLength(1);
    const renewAt = agent.views()[0]?.renewAt?.getTime() ?? 0;
    expect(scheduled[0]?.ms).toBe(renewAt - clock.now().getTime());
    clock.set(renewAt);
    const second = agent.nextTick();
    scheduled[0]?.fn();
    await second;
    await agent.stop();
    expect(fake.calls.map((c) => c.op)).toEqual(['sign', 'renew']);
  });

  it('runs the reload actions after a write and logs a failing one without undoing the renewal', async () => {
    const clock = makeClock(Date.parse('2030-01-01T00:00:00Z'));
    const fake = await fakeCa(clock.now);
    const { dir, loaded } = setup();
    const marker = path.join(dir, 'reloaded');
    const cfg = {
      ...loaded,
      config: {
        ...loaded.config,
        certificates: [
          {
            ...loaded.config.certificates[0]!,
            reload: [
              {
                command: [process.execPath, '-e', `require('fs').appendFileSync(${JSON.stringify(marker)}, 'x')`],
                timeout: 10_000,
              },
              { command: [process.execPath, '-e', 'process.exit(3)'], timeout: 10_000 },
            ],
          },
        ],
      },
    };
    const logs: Array<{ level: string; message: string }> = [];
    const agent = new RenewalAgent({
      config: cfg,
      ca: fake.ca,
      clock,
      env: {},
      log: (level, message) => logs.push({ level, message }),
    });
    await agent.tick();
    expect(readFileSync(marker, 'utf8')).toBe('x');
    expect(logs).toContainEqual({ level: 'error', message: 'reload action failed' });
    expect(agent.views()[0]).toMatchObject({ failures: 0 });
  });
});

describe('agent configuration', () => {
  it('refuses unknown keys and reports every problem at once', () => {
    const r = agentConfigSchema.safeParse({
      version: 1,
      extra: true,
      certificates: [{ name: 'a', cert: 'c', key: 'k', names: {}, lifetime: '5', reload: [{ signal: {} }] }],
    });
    expect(r.success).toBe(false);
    const paths = r.error?.issues.map((i) => i.path.join('.')) ?? [];
    expect(paths).toEqual(
      expect.arrayContaining(['', 'certificates.0.names', 'certificates.0.lifetime', 'certificates.0.reload.0.signal']),
    );
  });
});

describe('docs/examples/agent.yaml', () => {
  it('is a valid agent configuration', async () => {
    const { fileURLToPath } = await import('node:url');
    const { loadAgentConfig } = await import('./index.js');
    const file = fileURLToPath(new URL('../../../../docs/examples/agent.yaml', import.meta.url));
    const loaded = await loadAgentConfig(file);
    expect(loaded.config.certificates.map((c) => c.name)).toEqual(['web', 'worker']);
    expect(loaded.stateFile).toBe('/var/lib/mutual/agent.state.json');
  });
});

describe('reload actions', () => {
  it('signals the process named by a PID file', async () => {
    const { spawn } = await import('node:child_process');
    const { runReloadAction } = await import('./index.js');
    const dir = removeAfterFile(mkdtempSync(path.join(tmpdir(), 'mutual-reload-')));
    const child = spawn(
      process.execPath,
      [
        '-e',
        "process.on('SIGHUP', () => { console.log('reloaded'); process.exit(0); }); console.log('up'); setInterval(() => {}, 1000);",
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    await new Promise<void>((resolve) => {
      child.stdout.setEncoding('utf8').on('data', (d: string) => {
        out += d;
        if (out.includes('up')) resolve();
      });
    });
    writeFileSync(path.join(dir, 'app.pid'), `${String(child.pid)}\n`);
    const exited = new Promise((resolve) => child.once('exit', resolve));
    expect(
      await runReloadAction({ signal: { pidFile: 'app.pid', signal: 'SIGHUP' } }, (p) => path.resolve(dir, p)),
    ).toBe(`signal SIGHUP to ${String(child.pid)}`);
    expect(await exited).toBe(0);
    expect(out).toContain('reloaded');
    await expect(
      runReloadAction({ signal: { pidFile: 'missing.pid', signal: 'SIGHUP' } }, (p) => path.resolve(dir, p)),
    ).rejects.toMatchObject({ code: 'ERR_AGENT_RELOAD_FAILED' });
  });
});
