// Components report to the CA (POST /v1/reports, mTLS with a certificate of this CA or an admin's);
// admins read back components, discovered certificates, failed authentications and alerts. Alert
// rules from ca.yaml raise alerts to a real local webhook (retried after a 500, once per cooldown)
// as the injected clock moves.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CaClient } from '@mutual/sdk';
import {
  alertsResponse,
  authFailuresResponse,
  componentsResponse,
  reportResponse,
  sightingsResponse,
} from '@mutual/sdk/contract';
import { admin, call, cleanupDirs, enroll, errorCode, run, startTestCa, type TestCa } from './support/ca-server.js';

const HOUR = 3_600_000;

/** A webhook receiver: answers 500 to the first POST about a key in `failOnce`, else 200; keeps every body. */
class Webhook {
  readonly received: { status: number; body: Record<string, unknown>; headers: IncomingMessage['headers'] }[] = [];
  readonly failOnce = new Set<string>();
  #waiters: (() => void)[] = [];
  server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { alert: { key: string } };
      const status = this.failOnce.delete(body.alert.key) ? 500 : 200;
      this.received.push({ status, body, headers: req.headers });
      res.writeHead(status).end();
      for (const w of this.#waiters.splice(0)) w();
    });
  });
  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hook`;
  }
  /** Resolves once `n` requests have arrived. */
  async count(n: number): Promise<void> {
    while (this.received.length < n) await new Promise<void>((r) => this.#waiters.push(r));
  }
}

const hook = new Webhook();
let ca: TestCa;
beforeAll(async () => {
  await new Promise<void>((r) => hook.server.listen(0, '127.0.0.1', r));
  ca = await startTestCa({
    alertRetryBaseMs: 20,
    yaml: [
      'alerts:',
      '  expiring: { within: 1h }',
      '  authFailures: { threshold: 3, window: 5m, per: address }',
      '  revokedInUse: {}',
      '  renewalOverdue: {}',
      `  webhook: { url: "${hook.url}", headers: { x-hook-token: s3cret }, timeout: 5s, retries: 2 }`,
      '  cooldown: 2h',
      '  interval: 1h',
      '',
    ].join('\n'),
  });
});
afterAll(async () => {
  await ca.close();
  await new Promise((r) => hook.server.close(r));
  cleanupDirs();
});

const now = (): string => ca.clock.now().toISOString();
const heartbeat = (name: string, extra: Record<string, unknown> = {}) => ({
  component: { kind: 'gateway', name },
  at: now(),
  health: { status: 'ok', revocationDataAgeSeconds: 3 },
  ...extra,
});
const failureEvent = (address: string) => ({
  at: now(),
  listener: 'edge',
  stage: 'handshake',
  reason: 'unknown-ca',
  address,
  identity: null,
  serial: null,
  fingerprintSha256: null,
  issuer: null,
});

describe('ca server: component reports', () => {
  it('accepts a report only with a certificate of this CA (or an admin), and audits only the first of a component', async () => {
    const none = await call(ca, { path: '/v1/reports', body: heartbeat('edge') });
    expect([none.status, errorCode(none)]).toEqual([401, 'ERR_AUTH_CLIENT_CERT_REQUIRED']);
    const keyFile = ca.work('foreign.key');
    const certFile = ca.work('foreign.crt');
    const made = run('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', keyFile,
      '-out', certFile, '-subj', '/CN=foreign', '-days', '1',
    ]); // prettier-ignore
    expect(made.status).toBe(0);
    const { readFileSync } = await import('node:fs');
    const foreign = await call(ca, {
      path: '/v1/reports',
      body: heartbeat('edge'),
      cert: readFileSync(certFile, 'utf8'),
      key: readFileSync(keyFile, 'utf8'),
    });
    expect([foreign.status, errorCode(foreign)]).toEqual([401, 'ERR_AUTH_CLIENT_CERT_INVALID']);

    const gw = await enroll(ca, 'gw', 'DNS:gw.internal', { dns: ['gw.internal'] }, 'both');
    const ok = await call(ca, { path: '/v1/reports', body: heartbeat('edge'), cert: gw.chain, key: gw.key });
    expect(ok.status).toBe(200);
    expect(reportResponse.parse(ok.json())).toEqual({ accepted: { authFailures: 0, sightings: 0, certificates: 0 } });
    const again = await call(ca, { path: '/v1/reports', body: heartbeat('edge'), cert: gw.chain, key: gw.key });
    expect(again.status).toBe(200);
    const byAdmin = await call(ca, {
      path: '/v1/reports',
      body: { ...heartbeat('laptop'), component: { kind: 'discover', name: 'laptop' } },
      ...admin(ca),
    });
    expect(byAdmin.status).toBe(200);
    const bad = await call(ca, {
      path: '/v1/reports',
      body: { ...heartbeat('edge'), sightings: [{ where: 'x', role: 'server', at: now(), chain: ['nope'] }] },
      cert: gw.chain,
      key: gw.key,
    });
    expect([bad.status, errorCode(bad)]).toEqual([400, 'ERR_HTTP_INVALID_REQUEST']);

    const registered = ca.audit().filter((a) => a.action === 'component.register');
    expect(registered.map((a) => [a.subject, a.details['reportedBy']])).toEqual([
      ['gateway/edge', 'gw.internal'],
      ['discover/laptop', expect.stringMatching(/^admin:/)],
    ]);
    expect(ca.audit().filter((a) => a.action === 'report.refused')).toHaveLength(3);

    const components = componentsResponse.parse((await call(ca, { path: '/v1/components', ...admin(ca) })).json());
    expect(components.items.map((c) => [c.kind, c.name, c.reportedBy, c.stale, c.health.status])).toEqual([
      ['discover', 'laptop', expect.stringMatching(/^admin:/), false, 'ok'],
      ['gateway', 'edge', 'gw.internal', false, 'ok'],
    ]);
    const notAdmin = await call(ca, { path: '/v1/components', cert: gw.chain, key: gw.key });
    expect([notAdmin.status, errorCode(notAdmin)]).toEqual([403, 'ERR_AUTH_NOT_ADMIN']);
  });

  it('reads back sightings with their places and states, and failed authentications by address and hour', async () => {
    const gw = await enroll(ca, 'gw2', 'DNS:gw2.internal', { dns: ['gw2.internal'] }, 'both');
    const seen = await enroll(ca, 'seen', 'DNS:seen.internal', { dns: ['seen.internal'] }, 'server');
    const r = await call(ca, {
      path: '/v1/reports',
      body: heartbeat('edge2', {
        sightings: [{ where: 'gateway edge2 127.0.0.1:8444', role: 'server', at: now(), chain: [seen.chain] }],
        authFailures: [failureEvent('192.0.2.7'), failureEvent('192.0.2.8')],
      }),
      cert: gw.chain,
      key: gw.key,
    });
    expect(reportResponse.parse(r.json()).accepted).toEqual({ authFailures: 2, sightings: 1, certificates: 0 });
    const sightings = sightingsResponse.parse((await call(ca, { path: '/v1/sightings', ...admin(ca) })).json());
    const item = sightings.items.find((s) => s.serial === seen.serial);
    expect(item).toMatchObject({
      identity: 'seen.internal',
      state: 'valid',
      issuedHere: true,
      places: [{ where: 'gateway edge2 127.0.0.1:8444', role: 'server' }],
    });
    const failures = authFailuresResponse.parse(
      (await call(ca, { path: '/v1/auth-failures?address=192.0.2.7', ...admin(ca) })).json(),
    );
    expect(failures.total).toBe(1);
    expect(failures.byReason).toEqual([{ key: 'unknown-ca', count: 1 }]);
    // Hourly buckets over the default 24 h window: the hours holding `since` and `until` included.
    expect(failures.buckets.length).toBeGreaterThanOrEqual(24);
    expect(new Date(failures.buckets[0]?.start ?? '').getTime()).toBeLessThanOrEqual(Date.parse(failures.since));
    expect(failures.buckets.at(-1)?.count).toBe(1);
    expect(failures.recent[0]).toMatchObject({ component: 'gateway/edge2', address: '192.0.2.7', stage: 'handshake' });
    await ca.server.alertsIdle();
  });
});

describe('ca server: large reports', () => {
  it('accepts a report far over server.bodyLimit (reports have their own 4 MiB limit) in one transaction', async () => {
    const gw = await enroll(ca, 'gw-big', 'DNS:gw-big.internal', { dns: ['gw-big.internal'] }, 'both');
    const events = Array.from({ length: 5000 }, (_, i) => failureEvent(`203.0.113.${i % 200}`));
    const body = heartbeat('edge-big', { authFailures: events });
    expect(JSON.stringify(body).length).toBeGreaterThan(512 * 1024);
    const r = await call(ca, { path: '/v1/reports', body, cert: gw.chain, key: gw.key });
    expect(r.status, r.body.toString()).toBe(200);
    expect(reportResponse.parse(r.json()).accepted.authFailures).toBe(5000);
    const failures = authFailuresResponse.parse(
      (await call(ca, { path: '/v1/auth-failures?address=203.0.113.7', ...admin(ca) })).json(),
    );
    expect(failures.total).toBe(25);
    await ca.server.alertsIdle();
  });
});

describe('ca server: alerts', () => {
  it('raises an alert for a failed-authentication rate per address right after the report, to the webhook', async () => {
    const before = hook.received.length;
    const gw = await enroll(ca, 'gw3', 'DNS:gw3.internal', { dns: ['gw3.internal'] }, 'both');
    await call(ca, {
      path: '/v1/reports',
      body: heartbeat('edge3', { authFailures: [1, 2, 3].map(() => failureEvent('198.51.100.9')) }),
      cert: gw.chain,
      key: gw.key,
    });
    await ca.server.alertsIdle();
    await hook.count(before + 1);
    const body = hook.received[before]?.body as { alert: { rule: string; key: string } };
    expect(body.alert).toMatchObject({ rule: 'auth-failures', key: 'address:198.51.100.9' });
    expect(hook.received[before]?.headers['x-hook-token']).toBe('s3cret');
  });

  it('raises a revoked-in-use alert when a revoked certificate is still reported in use', async () => {
    const gw = await enroll(ca, 'gw4', 'DNS:gw4.internal', { dns: ['gw4.internal'] }, 'both');
    const victim = await enroll(ca, 'victim', 'DNS:victim.internal', { dns: ['victim.internal'] }, 'client');
    expect((await call(ca, { path: '/v1/revoke', body: { serial: victim.serial }, ...admin(ca) })).status).toBe(200);
    ca.clock.advance(1000);
    await call(ca, {
      path: '/v1/reports',
      body: heartbeat('edge4', {
        sightings: [{ where: 'db.internal:5432', role: 'client', at: now(), chain: [victim.chain] }],
      }),
      cert: gw.chain,
      key: gw.key,
    });
    await ca.server.alertsIdle();
    const alerts = alertsResponse.parse(
      (await call(ca, { path: '/v1/alerts?rule=revoked-in-use', ...admin(ca) })).json(),
    );
    expect(alerts.items).toHaveLength(1);
    expect(alerts.items[0]).toMatchObject({ key: victim.serial, severity: 'critical', delivery: 'delivered' });
    const sightings = sightingsResponse.parse((await call(ca, { path: '/v1/sightings', ...admin(ca) })).json());
    expect(sightings.items.find((s) => s.serial === victim.serial)?.state).toBe('revoked');
  });

  it('alerts once when a certificate is left within the expiry threshold without renewal; retries after a 500; quiet in the cooldown', async () => {
    const lonely = await enroll(ca, 'lonely', 'DNS:lonely.internal', { dns: ['lonely.internal'] }, 'client');
    const renewedA = await enroll(ca, 'renewed-a', 'DNS:renewed.internal', { dns: ['renewed.internal'] }, 'client');
    ca.clock.advance(HOUR);
    await enroll(ca, 'renewed-b', 'DNS:renewed.internal', { dns: ['renewed.internal'] }, 'client');
    expect((await ca.server.evaluateAlerts()).filter((a) => a.rule === 'expiring')).toEqual([]);

    // 24 h certificates: 23.5 h later the first ones are within the 1 h threshold.
    ca.clock.advance(22.5 * HOUR);
    const before = hook.received.length;
    hook.failOnce.add(lonely.serial);
    const raised = (await ca.server.evaluateAlerts()).filter((a) => a.rule === 'expiring');
    expect(raised.map((a) => a.key)).toContain(lonely.serial);
    // The renewed identity's older certificate is not alerted: a newer one exists.
    expect(raised.map((a) => a.key)).not.toContain(renewedA.serial);
    await ca.server.alertsIdle();
    const forLonely = hook.received
      .slice(before)
      .filter((h) => (h.body as { alert: { key: string } }).alert.key === lonely.serial);
    expect(forLonely.map((h) => h.status)).toEqual([500, 200]);
    const alerts = alertsResponse.parse((await call(ca, { path: '/v1/alerts?rule=expiring', ...admin(ca) })).json());
    expect(alerts.items.find((a) => a.key === lonely.serial)).toMatchObject({
      delivery: 'delivered',
      severity: 'warning',
      details: { identity: 'lonely.internal', source: 'issued' },
    });

    ca.clock.advance(10 * 60_000);
    expect((await ca.server.evaluateAlerts()).filter((a) => a.key === lonely.serial)).toEqual([]);
    await ca.server.alertsIdle();
  });

  it('raises renewal-overdue for a managed certificate a component reports overdue, and shows a silent component as stale', async () => {
    const agent = await enroll(ca, 'agent-1', 'DNS:agent-1.internal', { dns: ['agent-1.internal'] }, 'client');
    const managed = {
      name: 'web-tls',
      path: '/etc/web/tls.crt',
      serial: agent.serial,
      notAfter: new Date(ca.clock.now().getTime() + 60_000).toISOString(),
      renewAt: null,
      lastRenewalAt: null,
      lastError: 'CA unreachable',
      overdue: true,
    };
    const r = await call(ca, {
      path: '/v1/reports',
      body: { ...heartbeat('x'), component: { kind: 'agent', name: 'web-1' }, certificates: [managed] },
      cert: agent.chain,
      key: agent.key,
    });
    expect(reportResponse.parse(r.json()).accepted.certificates).toBe(1);
    await ca.server.alertsIdle();
    const alerts = alertsResponse.parse(
      (await call(ca, { path: '/v1/alerts?rule=renewal-overdue', ...admin(ca) })).json(),
    );
    expect(alerts.items.map((a) => [a.key, a.severity, a.details['lastError']])).toEqual([
      ['agent/web-1/web-tls', 'critical', 'CA unreachable'],
    ]);
    ca.clock.advance(3 * 60_000); // reports.staleAfter defaults to 2m
    const components = componentsResponse.parse((await call(ca, { path: '/v1/components', ...admin(ca) })).json());
    expect(components.items.find((c) => c.name === 'web-1')).toMatchObject({
      kind: 'agent',
      stale: true,
      certificates: [managed],
    });
  });

  it("the SDK's CaClient reads components, failed authentications and alerts with the admin certificate", async () => {
    const client = new CaClient({ url: ca.server.url, ca: ca.server.rootPem, ...admin(ca) });
    expect((await client.components()).items.map((c) => `${c.kind}/${c.name}`)).toContain('gateway/edge');
    const failures = await client.authFailures({ address: '198.51.100.9', limit: 2 });
    expect([failures.total, failures.recent.length]).toEqual([3, 2]);
    expect((await client.alerts({ rule: 'revoked-in-use' })).items).toHaveLength(1);
    expect((await client.sightings()).items.length).toBeGreaterThan(0);
    const unknownRule = await call(ca, { path: '/v1/alerts?rule=nope', ...admin(ca) });
    expect([unknownRule.status, errorCode(unknownRule)]).toEqual([400, 'ERR_HTTP_INVALID_REQUEST']);
    const anonymous = new CaClient({ url: ca.server.url, ca: ca.server.rootPem });
    await expect(anonymous.alerts()).rejects.toMatchObject({ code: 'ERR_AUTH_CLIENT_CERT_REQUIRED' });
  });

  it('exports seconds left per valid certificate on /metrics', async () => {
    const r = await call(ca, { path: '/metrics' });
    const text = r.body.toString('utf8');
    expect(text).toMatch(
      /mutual_certificate_expiry_seconds\{serial="[0-9a-f]+",identity="lonely\.internal",source="issued"\} \d+/,
    );
  });
});
