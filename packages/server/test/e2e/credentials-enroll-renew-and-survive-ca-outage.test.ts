// The SDK's self-renewing credentials against a real CA server: enrollment with a one-time
// token, renewal over mTLS with a new key at 2/3 of the lifetime, a token used only once, and a
// CA outage (backoff, the certificate kept, the overdue signal, recovery). The CA and the
// credentials share one hand-moved clock; timers fire when it moves. Nothing sleeps.
import { X509Certificate } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  createCredentials,
  startReporting,
  type CreateCredentialsOptions,
  type Credentials,
  type CurrentCredentials,
  type MutualError,
  type OverdueEvent,
} from '@mutual/sdk';
import { admin, call, cleanupDirs, mintToken, startTestCa, TestClock, type TestCa } from './support/ca-server.js';
import { ManualTimers } from './support/manual-time.js';

const MIN = 60_000;
const cas: TestCa[] = [];
const sources: Credentials[] = [];
afterEach(async () => {
  for (const s of sources.splice(0)) s.stop();
  await Promise.all(cas.splice(0).map((c) => c.close()));
});
afterAll(cleanupDirs);

const SVC = 'spiffe://example.test/billing/worker';

async function setup(): Promise<{ ca: TestCa; timers: ManualTimers }> {
  const clock = new TestClock();
  const ca = await startTestCa({ clock });
  cas.push(ca);
  return { ca, timers: new ManualTimers(clock) };
}

/**
 * The network between the holder and the CA: a TCP relay that can go down and come back on the
 * same port (the CA keeps running, so its own TLS certificate stays valid by the real clock).
 */
class Link {
  #server: Server | undefined;
  readonly #sockets = new Set<Socket>();
  port = 0;
  constructor(readonly target: number) {}
  async up(): Promise<void> {
    const server = createServer((s) => {
      const upstream = connect(this.target, '127.0.0.1');
      for (const x of [s, upstream]) {
        this.#sockets.add(x);
        x.on('error', () => undefined);
        x.on('close', () => this.#sockets.delete(x));
      }
      s.pipe(upstream).pipe(s);
    });
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve));
    this.port = (server.address() as AddressInfo).port;
    this.#server = server;
  }
  async down(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((resolve) =>
      this.#server?.close(() => {
        resolve();
      }),
    );
  }
}
const links: Link[] = [];
afterEach(async () => {
  await Promise.all(links.splice(0).map((l) => l.down()));
});

function credentials(
  ca: TestCa,
  timers: ManualTimers,
  extra: Partial<CreateCredentialsOptions>,
  url = ca.server.url,
): Credentials {
  const c = createCredentials({
    ca: { url, root: ca.server.rootPem },
    lifetime: '1h',
    clock: ca.clock,
    timers,
    random: () => 0.5,
    ...extra,
  });
  sources.push(c);
  return c;
}

/** A CA, and credentials that reach it through a link the test can cut. */
async function behindLink(): Promise<{ ca: TestCa; timers: ManualTimers; link: Link; c: Credentials }> {
  const { ca, timers } = await setup();
  const link = new Link(ca.server.port);
  links.push(link);
  await link.up();
  const c = credentials(
    ca,
    timers,
    { token: await mintToken(ca, { uri: [SVC] }, 'both') },
    `https://127.0.0.1:${link.port}`,
  );
  return { ca, timers, link, c };
}

const nextRotation = (c: Credentials): Promise<CurrentCredentials> =>
  new Promise((resolve) =>
    c.once('rotated', (next) => {
      resolve(next);
    }),
  );
const nextError = (c: Credentials): Promise<MutualError> =>
  new Promise((resolve) =>
    c.once('error', (err) => {
      resolve(err);
    }),
  );
const spki = (pem: string): string =>
  new X509Certificate(pem).publicKey.export({ type: 'spki', format: 'der' }).toString('hex');

describe('sdk credentials with a real CA', () => {
  it('enrolls with a token, then renews over mTLS with a new key at 2/3 of the lifetime, not before', async () => {
    const { ca, timers } = await setup();
    const token = await mintToken(ca, { uri: [SVC] }, 'both');
    const c = credentials(ca, timers, { token });
    const first = await c.ready();
    expect(first.identity.spiffeId).toBe(SVC);
    expect(first.notAfter.getTime() - first.notBefore.getTime()).toBeLessThanOrEqual(61 * MIN);
    expect(c.current().chainPem.match(/BEGIN CERTIFICATE/g)).toHaveLength(2);
    const status = c.status();
    expect(status.state).toBe('fresh');
    const renewAt = status.renewAt as Date;
    const life = first.notAfter.getTime() - first.notBefore.getTime();
    expect((renewAt.getTime() - first.notBefore.getTime()) / life).toBeCloseTo(2 / 3, 1);

    const rotations: string[] = [];
    c.on('rotated', (next) => rotations.push(next.serial));
    timers.advanceTo(new Date(renewAt.getTime() - 1000));
    expect(rotations).toEqual([]);
    expect(c.current().serial).toBe(first.serial);

    const rotated = nextRotation(c);
    timers.advanceTo(renewAt);
    const second = await rotated;
    expect(second.serial).not.toBe(first.serial);
    expect(second.identity.spiffeId).toBe(SVC);
    expect(spki(second.certPem)).not.toBe(spki(first.certPem));
    expect(c.current().serial).toBe(second.serial);
    const renewal = ca.audit().find((a) => a.action === 'certificate.renew');
    expect(renewal).toMatchObject({ actor: `cert:${first.serial}`, subject: second.serial });
    expect(c.status()).toMatchObject({ state: 'fresh', failures: 0 });
  });

  it('uses a token once: a second holder of the same token cannot enroll', async () => {
    const { ca, timers } = await setup();
    const token = await mintToken(ca, { uri: [SVC] }, 'client');
    const first = credentials(ca, timers, { token });
    await first.ready();
    const file = ca.work('token');
    writeFileSync(file, `${token}\n`);
    const errors: string[] = [];
    const second = credentials(ca, timers, { tokenFile: file, onError: (e) => errors.push(e.code) });
    const err = await second.ready().then(
      () => undefined,
      (e: unknown) => e as MutualError,
    );
    expect(err?.code).toBe('ERR_CREDENTIALS_CANNOT_ENROLL');
    expect(err?.details).toMatchObject({ last: 'ERR_TOKEN_REPLAYED' });
    expect(errors).toEqual(['ERR_TOKEN_REPLAYED', 'ERR_CREDENTIALS_CANNOT_ENROLL']);
    expect(second.status().state).toBe('stuck');
    expect(() => second.current()).toThrow(/no certificate yet/);
    expect(ca.audit().filter((a) => a.action === 'token.use')).toHaveLength(1);

    // A new token in the file is picked up at the next look (after the longest backoff).
    writeFileSync(file, await mintToken(ca, { uri: [SVC] }, 'client', '15m'));
    const rotated = nextRotation(second);
    timers.advance(5 * MIN);
    expect((await rotated).identity.spiffeId).toBe(SVC);
    expect(second.status().state).toBe('fresh');
  });

  it('keeps its certificate while the CA is down, backs off exponentially, says overdue at 90 %, and recovers', async () => {
    const { ca, timers, link, c } = await behindLink();
    const first = await c.ready();
    const { renewAt, overdueAt } = c.status();
    await link.down();

    const overdue: OverdueEvent[] = [];
    c.on('overdue', (e) => overdue.push(e));
    let failed = nextError(c);
    timers.advanceTo(renewAt as Date);
    expect((await failed).code).toBe('ERR_CA_CLIENT_UNREACHABLE');
    const delays: number[] = [];
    for (let i = 0; i < 5; i++) {
      const s = c.status();
      expect(s.failures).toBe(i + 1);
      expect(c.current().serial).toBe(first.serial); // never dropped
      const next = s.nextAttemptAt as Date;
      delays.push(next.getTime() - ca.clock.now().getTime());
      failed = nextError(c);
      timers.advanceTo(next);
      await failed;
    }
    // Equal jitter with random()=0.5: 3/4 of 1 s, 2 s, 4 s, 8 s, 16 s.
    expect(delays).toEqual([750, 1500, 3000, 6000, 12000]);
    expect(overdue).toEqual([]);

    // Past 90 % of the lifetime the source says so (once), still holding the same certificate.
    failed = nextError(c);
    timers.advanceTo(overdueAt as Date);
    expect(overdue).toHaveLength(1);
    expect(overdue[0]).toMatchObject({ serial: first.serial, failures: 6 });
    expect(c.status().state).toBe('overdue');
    await failed;
    expect(c.current().serial).toBe(first.serial);

    // The CA is reachable again: the next attempt renews.
    await link.up();
    const rotated = nextRotation(c);
    timers.advanceTo(c.status().nextAttemptAt as Date);
    const next = await rotated;
    expect(next.serial).not.toBe(first.serial);
    expect(c.status()).toMatchObject({ state: 'fresh', failures: 0, lastError: null });
    expect(overdue).toHaveLength(1);
  });

  it('reports to the CA as a service: degraded while renewals fail, failing once overdue, ok again after renewing', async () => {
    // Renewals go through the link (which fails); reports go straight to the CA.
    const { ca, timers, link, c } = await behindLink();
    const first = await c.ready();
    const errors: string[] = [];
    const reporting = startReporting(c, {
      caUrl: ca.server.url,
      name: 'billing-worker',
      timers,
      onError: (e) => errors.push(e.code),
    });
    const seen = async (): Promise<Record<string, unknown> | undefined> => {
      await reporting.reportNow();
      const r = await call(ca, { path: '/v1/components', ...admin(ca) });
      return r.json<{ items: Record<string, unknown>[] }>().items.find((x) => x['name'] === 'billing-worker');
    };
    try {
      expect(await seen()).toMatchObject({
        kind: 'service',
        reportedBy: SVC,
        health: { status: 'ok' },
        certificates: [{ name: 'billing-worker', serial: first.serial, overdue: false }],
      });
      const { renewAt, overdueAt } = c.status();
      await link.down();
      const failed = nextError(c);
      timers.advanceTo(renewAt as Date);
      await failed;
      const degraded = await seen();
      expect(degraded).toMatchObject({ health: { status: 'degraded' }, certificates: [{ serial: first.serial }] });
      const held = (degraded?.['certificates'] as { lastError: string | null }[] | undefined)?.[0];
      expect(held?.lastError).toContain('ERR_CA_CLIENT_UNREACHABLE');
      timers.advanceTo(overdueAt as Date);
      expect(await seen()).toMatchObject({ health: { status: 'failing' }, certificates: [{ overdue: true }] });

      await link.up();
      const rotated = nextRotation(c);
      timers.advanceTo(c.status().nextAttemptAt as Date);
      const next = await rotated;
      const recovered = await seen();
      expect(recovered).toMatchObject({
        health: { status: 'ok' },
        certificates: [{ serial: next.serial, overdue: false }],
      });
      const renewed = (recovered?.['certificates'] as { lastRenewalAt: string | null }[] | undefined)?.[0];
      expect(Date.parse(renewed?.lastRenewalAt ?? '')).toBe(ca.clock.now().getTime());
      expect(errors).toEqual([]);
    } finally {
      reporting.stop();
    }
  });

  it('starts from an existing certificate and key (root pinned by fingerprint) and renews it on demand', async () => {
    const { ca, timers } = await setup();
    const a = credentials(ca, timers, { token: await mintToken(ca, { dns: ['api.internal'] }, 'server') });
    const cur = await a.ready();
    a.stop();
    // Only the root's fingerprint is known: the root is fetched, pinned, and then the source is ready.
    const fingerprint = new X509Certificate(ca.server.rootPem).fingerprint256;
    const b = createCredentials({
      ca: { url: ca.server.url, fingerprint },
      initial: { certPem: cur.chainPem, keyPem: cur.keyPem },
      clock: ca.clock,
      timers,
    });
    sources.push(b);
    expect((await b.ready()).serial).toBe(cur.serial);
    expect(b.rootPem()).toContain('BEGIN CERTIFICATE');
    const renewed = await b.renewNow();
    expect(renewed.serial).not.toBe(cur.serial);
    expect(renewed.identity.dnsNames).toEqual(['api.internal']);
  });

  it('persists every certificate as a crash-safe pair and restarts from it without a new token', async () => {
    const { ca, timers } = await setup();
    const persist = { cert: ca.work('svc.crt'), key: ca.work('svc.key') };
    const token = await mintToken(ca, { uri: [SVC] }, 'client');
    const a = credentials(ca, timers, { token, persist });
    const first = await a.ready();
    await a.renewNow().then(() => undefined); // written before 'rotated' is emitted
    const second = a.current();
    a.stop();
    const onDisk = new X509Certificate(readFileSync(persist.cert, 'utf8'));
    expect(onDisk.serialNumber.toLowerCase().replace(/^0+/, '')).toBe(second.serial);
    expect(readFileSync(persist.key, 'utf8')).toBe(second.keyPem);
    expect(statSync(persist.key).mode & 0o777).toBe(0o600);
    expect(second.serial).not.toBe(first.serial);

    // A restarted holder with the same (spent) token starts from the files and never enrolls again.
    const b = credentials(ca, timers, { token, persist });
    expect((await b.ready()).serial).toBe(second.serial);
    expect(ca.audit().filter((x) => x.action === 'token.use')).toHaveLength(1);
    const third = await b.renewNow();
    expect(new X509Certificate(readFileSync(persist.cert, 'utf8')).serialNumber.toLowerCase().replace(/^0+/, '')).toBe(
      third.serial,
    );
  });

  it('revokeReplaced: the certificate a renewal replaced is revoked as superseded by its holder; the new one stays good', async () => {
    const { ca, timers } = await setup();
    const c = credentials(ca, timers, { token: await mintToken(ca, { uri: [SVC] }, 'both'), revokeReplaced: true });
    const first = await c.ready();
    // The enrollment replaced nothing.
    expect(ca.audit().filter((a) => a.action === 'certificate.revoke')).toEqual([]);
    const revoked = new Promise<string>((resolve) => c.once('revoked', resolve));
    const second = await c.renewNow();
    expect(await revoked).toBe(first.serial);
    const records = ca.audit().filter((a) => a.action === 'certificate.revoke');
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({
      actor: `cert:${first.serial}`,
      subject: first.serial,
      details: { reason: 'superseded', by: 'holder' },
    });
    const listed = (await call(ca, { path: '/v1/certificates?state=revoked', ...admin(ca) })).json<{
      items: { serial: string }[];
    }>();
    expect(listed.items.map((i) => i.serial)).toEqual([first.serial]);
    expect(c.current().serial).toBe(second.serial);
    // The new certificate still renews: it is not the one revoked.
    expect((await c.renewNow()).serial).not.toBe(second.serial);
  });

  it('refuses options it cannot work with', () => {
    expect(() => createCredentials({ ca: { url: 'http://ca.internal', root: 'x' }, token: 't' })).toThrow(/https/);
    expect(() => createCredentials({ ca: { url: 'https://ca.internal' }, token: 't' })).toThrow(/root/);
    expect(() => createCredentials({ ca: { url: 'https://ca.internal', root: 'x' } })).toThrow(/token/);
  });
});
