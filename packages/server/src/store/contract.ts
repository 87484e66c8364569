// The one behavioural contract every Store adapter must pass, run by sqlite.test.ts and
// postgres.test.ts against real databases. It is test code: production code never imports it.
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type {
  AuditChainVerdict,
  CertificateState,
  ComponentReport,
  IssuanceIntent,
  ReportedAuthFailure,
  SeenCertificate,
  Store,
} from './types.js';
import { MIGRATIONS } from './migrations/index.js';

/** One empty database, on which any number of Store instances can be opened. */
export interface StoreTestDatabase {
  /** Opens another Store instance on this database, as another CA process would. */
  open(): Promise<Store>;
  /** Runs raw SQL with direct database access, as an operator or an attacker would; returns the rows. */
  query(sqlText: string): Promise<Record<string, unknown>[]>;
}

export interface StoreContractOptions {
  /**
   * Whether two instances may run multi-statement write transactions at the same moment in one
   * process. PostgreSQL can; SQLite (one writer, synchronous busy wait) is meant to be owned by one
   * process and one instance.
   */
  readonly concurrentInstanceTransactions: boolean;
}

const NOW = new Date('2030-06-01T12:00:00.000Z');
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

const hex = (bytes: number): string => randomBytes(bytes).toString('hex');
/** A serial in the store's canonical form: lowercase hex of a positive integer, no leading zeros. */
const serialHex = (): string => (BigInt(`0x${hex(16)}`) | 1n).toString(16);

export function makeIntent(overrides: Partial<IssuanceIntent> = {}): IssuanceIntent {
  const serial = overrides.serial ?? serialHex();
  return {
    serial,
    issuerFingerprint: 'a'.repeat(64),
    profile: 'client',
    subject: `CN=svc-${serial.slice(0, 6)}`,
    commonName: `svc-${serial.slice(0, 6)}`,
    identityKind: 'spiffe',
    identity: `spiffe://example.org/svc/${serial.slice(0, 6)}`,
    sans: { dns: [], ip: [], uri: [`spiffe://example.org/svc/${serial.slice(0, 6)}`], email: [] },
    keyType: 'ec-p256',
    notBefore: new Date(NOW.getTime() - 60_000),
    notAfter: new Date(NOW.getTime() + 30 * DAY),
    requester: 'token:bootstrap',
    createdAt: NOW,
    ...overrides,
  };
}

const completion = (at = NOW) => ({
  pem: `-----BEGIN CERTIFICATE-----\n${hex(48)}\n-----END CERTIFICATE-----`,
  fingerprintSha256: hex(32),
  spkiSha256: hex(32),
  issuedAt: at,
});

async function issue(store: Store, overrides: Partial<IssuanceIntent> = {}): Promise<IssuanceIntent> {
  const intent = makeIntent(overrides);
  await store.reserveSerial(intent);
  await store.completeIssuance(intent.serial, completion());
  return intent;
}

const expectCode = async (promise: Promise<unknown>, code: string): Promise<void> => {
  await expect(promise).rejects.toMatchObject({ name: 'MutualError', code });
};

const settle = async (tasks: Promise<unknown>[]): Promise<{ fulfilled: number; rejected: unknown[] }> => {
  const results = await Promise.allSettled(tasks);
  const rejected: unknown[] = [];
  for (const r of results) if (r.status === 'rejected') rejected.push(r.reason);
  return { fulfilled: results.length - rejected.length, rejected };
};

const expectBroken = (verdict: AuditChainVerdict, seq: bigint, reason: RegExp): void => {
  expect(verdict.ok).toBe(false);
  if (verdict.ok) return;
  expect(verdict.brokenAt).toBe(seq);
  expect(verdict.reason).toMatch(reason);
};

function seen(overrides: Partial<SeenCertificate> = {}): SeenCertificate {
  const fp = overrides.fingerprintSha256 ?? hex(32);
  return {
    fingerprintSha256: fp,
    serial: serialHex(),
    subject: `CN=seen-${fp.slice(0, 6)}`,
    issuer: 'CN=Elsewhere CA',
    identity: `seen-${fp.slice(0, 6)}.internal`,
    notBefore: new Date(NOW.getTime() - DAY),
    notAfter: new Date(NOW.getTime() + 10 * DAY),
    pem: `-----BEGIN CERTIFICATE-----\n${hex(48)}\n-----END CERTIFICATE-----`,
    chain: [],
    ...overrides,
  };
}

function failure(overrides: Partial<ReportedAuthFailure> = {}): ReportedAuthFailure {
  return {
    at: NOW,
    listener: 'edge',
    stage: 'handshake',
    reason: 'unknown-ca',
    address: '10.0.0.1',
    identity: null,
    serial: null,
    fingerprintSha256: null,
    issuer: null,
    ...overrides,
  };
}

function report(overrides: Partial<ComponentReport> = {}): ComponentReport {
  return {
    kind: 'gateway',
    name: 'edge',
    reportedBy: 'spiffe://example.org/gw',
    at: NOW,
    health: { status: 'ok' },
    certificates: [],
    sightings: [],
    authFailures: [],
    ...overrides,
  };
}

export function describeStoreContract(
  name: string,
  createDatabase: () => Promise<StoreTestDatabase>,
  options: StoreContractOptions,
): void {
  describe(`Store contract: ${name}`, () => {
    const opened: Store[] = [];
    afterEach(async () => {
      await Promise.all(opened.splice(0).map((s) => s.close()));
    });
    const fresh = async (): Promise<{ db: StoreTestDatabase; store: Store; another: () => Promise<Store> }> => {
      const db = await createDatabase();
      const another = async (): Promise<Store> => {
        const store = await db.open();
        opened.push(store);
        return store;
      };
      return { db, store: await another(), another };
    };

    describe('issuance', () => {
      it('records an intent before signing, completes it, and reads back every field', async () => {
        const { store } = await fresh();
        const intent = makeIntent({
          sans: { dns: ['api.example.org'], ip: ['10.0.0.1'], uri: [], email: ['ops@example.org'] },
          identityKind: 'dns',
          identity: 'api.example.org',
          commonName: null,
        });
        await store.reserveSerial(intent);
        const pending = await store.getCertificate(intent.serial);
        expect(pending).toMatchObject({ ...intent, status: 'pending', pem: null, fingerprintSha256: null });

        const done = completion(new Date(NOW.getTime() + 5));
        await store.completeIssuance(intent.serial, done);
        const record = await store.getCertificate(intent.serial);
        expect(record).toEqual({
          ...intent,
          status: 'issued',
          pem: done.pem,
          fingerprintSha256: done.fingerprintSha256,
          spkiSha256: done.spkiSha256,
          issuedAt: done.issuedAt,
          revokedAt: null,
          revocationReason: null,
          failureReason: null,
        });
        expect(await store.findByFingerprint(done.fingerprintSha256.toUpperCase())).toEqual(record);
        expect(await store.findByFingerprint(hex(32))).toBeUndefined();
        expect(await store.getCertificate(hex(16))).toBeUndefined();

        const page = await store.listCertificates({ now: NOW });
        expect(page).toEqual({ items: [{ ...record, state: 'valid' }], nextCursor: null });
      });

      it('refuses a serial already recorded and keeps the first record as it was', async () => {
        const { store } = await fresh();
        const first = await issue(store);
        await expectCode(
          store.reserveSerial(makeIntent({ serial: first.serial, profile: 'server' })),
          'ERR_STORE_SERIAL_CONFLICT',
        );
        expect(await store.getCertificate(first.serial)).toMatchObject({ profile: 'client', status: 'issued' });
      });

      it('lets exactly one of 50 concurrent reservations of the same serial win', async () => {
        const { store } = await fresh();
        const serial = serialHex();
        const { fulfilled, rejected } = await settle(
          Array.from({ length: 50 }, (_, i) => store.reserveSerial(makeIntent({ serial, requester: `r${i}` }))),
        );
        expect(fulfilled).toBe(1);
        expect(rejected).toHaveLength(49);
        for (const error of rejected) expect(error).toMatchObject({ code: 'ERR_STORE_SERIAL_CONFLICT' });
        expect((await store.listCertificates({ now: NOW })).items).toHaveLength(1);
      });

      it('refuses state changes from the wrong state and names unknown serials', async () => {
        const { store } = await fresh();
        const issued = await issue(store);
        await expectCode(store.completeIssuance(issued.serial, completion()), 'ERR_STORE_STATE_CONFLICT');
        await expectCode(store.failIssuance(issued.serial, 'signer down'), 'ERR_STORE_STATE_CONFLICT');

        const pending = makeIntent();
        await store.reserveSerial(pending);
        await expectCode(
          store.markRevoked(pending.serial, { reason: 'keyCompromise', revokedAt: NOW }),
          'ERR_STORE_STATE_CONFLICT',
        );
        await store.failIssuance(pending.serial, 'signer down');
        await expectCode(store.completeIssuance(pending.serial, completion()), 'ERR_STORE_STATE_CONFLICT');
        await expectCode(store.failIssuance(pending.serial, 'again'), 'ERR_STORE_STATE_CONFLICT');
        expect(await store.getCertificate(pending.serial)).toMatchObject({
          status: 'failed',
          failureReason: 'signer down',
          pem: null,
        });

        await store.markRevoked(issued.serial, { reason: 'keyCompromise', revokedAt: NOW });
        await expectCode(
          store.markRevoked(issued.serial, { reason: 'superseded', revokedAt: NOW }),
          'ERR_STORE_STATE_CONFLICT',
        );
        expect(await store.getCertificate(issued.serial)).toMatchObject({
          status: 'revoked',
          revocationReason: 'keyCompromise',
          revokedAt: NOW,
        });

        const unknown = serialHex();
        await expectCode(store.completeIssuance(unknown, completion()), 'ERR_STORE_NOT_FOUND');
        await expectCode(store.failIssuance(unknown, 'x'), 'ERR_STORE_NOT_FOUND');
        await expectCode(store.markRevoked(unknown, { reason: 'x', revokedAt: NOW }), 'ERR_STORE_NOT_FOUND');
      });

      it('refuses to record the same certificate bytes under two serials', async () => {
        const { store } = await fresh();
        const a = makeIntent();
        const b = makeIntent();
        await store.reserveSerial(a);
        await store.reserveSerial(b);
        const done = completion();
        await store.completeIssuance(a.serial, done);
        await expectCode(store.completeIssuance(b.serial, done), 'ERR_STORE_FINGERPRINT_CONFLICT');
        expect(await store.getCertificate(b.serial)).toMatchObject({ status: 'pending' });
      });

      it('refuses malformed serials and dates as usage errors, and finds serials case-insensitively', async () => {
        const { store } = await fresh();
        await expectCode(store.reserveSerial(makeIntent({ serial: 'not-hex' })), 'ERR_USAGE_INVALID_ARGUMENT');
        await expectCode(store.reserveSerial(makeIntent({ serial: 'ABCDEF' })), 'ERR_USAGE_INVALID_ARGUMENT');
        await expectCode(
          store.reserveSerial(makeIntent({ notAfter: new Date(Number.NaN) })),
          'ERR_USAGE_INVALID_ARGUMENT',
        );
        const intent = await issue(store);
        expect((await store.getCertificate(intent.serial.toUpperCase()))?.serial).toBe(intent.serial);
      });

      it('lists intents left without completion (a crash between reserve and sign) so they can be resolved', async () => {
        const { store } = await fresh();
        const crashed = makeIntent({ createdAt: new Date(NOW.getTime() - HOUR) });
        const recent = makeIntent({ createdAt: NOW });
        await store.reserveSerial(crashed);
        await store.reserveSerial(recent);
        await issue(store, { createdAt: new Date(NOW.getTime() - 2 * HOUR) });
        const failed = makeIntent({ createdAt: new Date(NOW.getTime() - 2 * HOUR) });
        await store.reserveSerial(failed);
        await store.failIssuance(failed.serial, 'signer down');

        const leftOver = await store.listPending(new Date(NOW.getTime() - 60_000));
        expect(leftOver.map((r) => r.serial)).toEqual([crashed.serial]);
        expect(leftOver[0]).toMatchObject({ status: 'pending', requester: crashed.requester });
        expect((await store.listPending(new Date(NOW.getTime() + 1))).map((r) => r.serial).sort()).toEqual(
          [crashed.serial, recent.serial].sort(),
        );
      });
    });

    describe('inventory', () => {
      const seedStates = async (store: Store) => {
        const expired = await issue(store, { notAfter: new Date(NOW.getTime() - 1), profile: 'server' });
        const lastMs = await issue(store, { notAfter: NOW }); // valid through notAfter inclusive
        // A 30-day certificate with one day left: within 7 days and past 2/3 of its life.
        const expiring = await issue(store, {
          notBefore: new Date(NOW.getTime() - 29 * DAY),
          notAfter: new Date(NOW.getTime() + DAY),
        });
        const valid = await issue(store, { notAfter: new Date(NOW.getTime() + 30 * DAY), profile: 'server' });
        // A 24-hour certificate 2 hours into its life: within 7 days of expiry, but not past its renewal point.
        const young = await issue(store, {
          notBefore: new Date(NOW.getTime() - 2 * HOUR),
          notAfter: new Date(NOW.getTime() + 22 * HOUR),
        });
        const revoked = await issue(store, { notAfter: new Date(NOW.getTime() - DAY) });
        await store.markRevoked(revoked.serial, { reason: 'keyCompromise', revokedAt: NOW });
        const pending = makeIntent();
        await store.reserveSerial(pending);
        const failed = makeIntent();
        await store.reserveSerial(failed);
        await store.failIssuance(failed.serial, 'lint failed');
        return { expired, lastMs, expiring, valid, young, revoked, pending, failed };
      };

      it('derives valid, expiring, expired, revoked, pending and failed at an injected time', async () => {
        const { store } = await fresh();
        const s = await seedStates(store);
        const stateOf = async (states: CertificateState[], expiringWithinMs?: number) =>
          (
            await store.listCertificates({
              now: NOW,
              states,
              ...(expiringWithinMs === undefined ? {} : { expiringWithinMs }),
            })
          ).items
            .map((i) => `${i.state}:${i.serial}`)
            .sort();
        expect(await stateOf(['expired'])).toEqual([`expired:${s.expired.serial}`]);
        expect(await stateOf(['expiring'])).toEqual(
          [`expiring:${s.expiring.serial}`, `expiring:${s.lastMs.serial}`].sort(),
        );
        expect(await stateOf(['valid'])).toEqual([`valid:${s.valid.serial}`, `valid:${s.young.serial}`].sort());
        // An explicit window is a plain window: the young 24-hour certificate expires within 7 days.
        expect(await stateOf(['expiring'], 7 * DAY)).toContain(`expiring:${s.young.serial}`);
        expect(await stateOf(['revoked'])).toEqual([`revoked:${s.revoked.serial}`]);
        expect(await stateOf(['pending'])).toEqual([`pending:${s.pending.serial}`]);
        expect(await stateOf(['failed'])).toEqual([`failed:${s.failed.serial}`]);
        expect(await stateOf(['expired', 'revoked'])).toEqual(
          [`expired:${s.expired.serial}`, `revoked:${s.revoked.serial}`].sort(),
        );
        expect(await stateOf([])).toEqual([]);
        // A narrower window moves the 1-day certificate from expiring to valid.
        expect(await stateOf(['valid'], HOUR)).toEqual(
          [`valid:${s.expiring.serial}`, `valid:${s.valid.serial}`, `valid:${s.young.serial}`].sort(),
        );

        expect(await store.countByState(NOW)).toEqual({
          valid: 2,
          expiring: 2,
          expired: 1,
          revoked: 1,
          pending: 1,
          failed: 1,
        });
        expect(await store.countByState(NOW, HOUR)).toEqual({
          valid: 3,
          expiring: 1,
          expired: 1,
          revoked: 1,
          pending: 1,
          failed: 1,
        });
        // A year later every issued certificate has expired; the others keep their state.
        expect(await store.countByState(new Date(NOW.getTime() + 365 * DAY))).toEqual({
          valid: 0,
          expiring: 0,
          expired: 5,
          revoked: 1,
          pending: 1,
          failed: 1,
        });
        const all = await store.listCertificates({ now: NOW });
        expect(all.items).toHaveLength(8);
        expect(new Map(all.items.map((i) => [i.serial, i.state])).get(s.lastMs.serial)).toBe('expiring');
      });

      it('filters by profile, identity, expiry and a case-insensitive search that treats wildcards literally', async () => {
        const { store } = await fresh();
        const s = await seedStates(store);
        const api = await issue(store, {
          identityKind: 'dns',
          identity: 'api.example.org',
          sans: { dns: ['api.example.org', 'API-internal.example.org'], ip: [], uri: [], email: [] },
          subject: 'CN=100%_api',
        });
        const serials = async (filter: Omit<Parameters<Store['listCertificates']>[0], 'now'>) =>
          (await store.listCertificates({ now: NOW, ...filter })).items.map((i) => i.serial).sort();

        expect(await serials({ profile: 'server' })).toEqual([s.expired.serial, s.valid.serial].sort());
        expect(await serials({ identity: 'api.example.org' })).toEqual([api.serial]);
        expect(await serials({ expiresBefore: NOW })).toEqual([s.expired.serial, s.revoked.serial].sort());
        const everything = await serials({});
        expect(await serials({ expiresFrom: NOW })).toEqual(
          everything.filter((x) => x !== s.expired.serial && x !== s.revoked.serial),
        );
        expect(await serials({ states: ['revoked'], expiresFrom: NOW })).toEqual([]);
        expect(await serials({ states: ['revoked'], expiresFrom: new Date(0) })).toEqual([s.revoked.serial]);
        expect(await serials({ search: 'api-INTERNAL' })).toEqual([api.serial]);
        expect(await serials({ search: s.valid.serial.slice(4, 20).toUpperCase() })).toEqual([s.valid.serial]);
        expect(await serials({ search: '100%_' })).toEqual([api.serial]);
        expect(await serials({ search: '%' })).toEqual([api.serial]);
        expect(await serials({ search: 'no such name' })).toEqual([]);
        expect(await serials({ profile: 'server', states: ['valid'] })).toEqual([s.valid.serial]);
        const other = await issue(store, { issuerFingerprint: 'b'.repeat(64) });
        expect(await serials({ issuers: ['b'.repeat(64)] })).toEqual([other.serial]);
        expect(await serials({ issuers: ['c'.repeat(64)] })).toEqual([]);
        expect((await serials({ issuers: ['b'.repeat(64), api.issuerFingerprint] })).length).toBe(
          everything.length + 1,
        );
        await expectCode(store.listCertificates({ now: NOW, issuers: [] }), 'ERR_USAGE_INVALID_ARGUMENT');
      });

      it('pages by notAfter then serial: every certificate exactly once, in order, stable under inserts', async () => {
        const { store } = await fresh();
        const expected: { serial: string; notAfter: number }[] = [];
        for (let i = 0; i < 57; i++) {
          // Groups of equal notAfter make the serial tie-break matter.
          const notAfter = new Date(NOW.getTime() + Math.floor(i / 5) * HOUR + HOUR);
          const intent = await issue(store, { notAfter });
          expected.push({ serial: intent.serial, notAfter: notAfter.getTime() });
        }
        expected.sort((a, b) => a.notAfter - b.notAfter || (a.serial < b.serial ? -1 : 1));

        const seen: string[] = [];
        let cursor: string | null = null;
        let pages = 0;
        do {
          const page: Awaited<ReturnType<Store['listCertificates']>> = await store.listCertificates({
            now: NOW,
            limit: 10,
            ...(cursor === null ? {} : { cursor }),
          });
          pages++;
          expect(page.items.length).toBeLessThanOrEqual(10);
          seen.push(...page.items.map((i) => i.serial));
          if (pages === 2) {
            // Issued while a client pages: one sorts before the cursor (not shown), one after (shown once).
            await issue(store, { notAfter: new Date(NOW.getTime() + 1) });
            const late = await issue(store, { notAfter: new Date(NOW.getTime() + 100 * DAY) });
            expected.push({ serial: late.serial, notAfter: late.notAfter.getTime() });
          }
          cursor = page.nextCursor;
        } while (cursor !== null);
        expect(seen).toEqual(expected.map((e) => e.serial));
        expect(pages).toBe(6);

        const exact = await store.listCertificates({ now: NOW, limit: 59 });
        expect(exact.nextCursor).toBeNull();
        const capped = await store.listCertificates({ now: NOW, limit: 5000 });
        expect(capped.items).toHaveLength(59);
      });

      it('pages one state through certificates that share a notAfter: each once, in serial order', async () => {
        const { store } = await fresh();
        const notAfter = new Date(NOW.getTime() + DAY);
        const revoked: string[] = [];
        for (let i = 0; i < 24; i++) {
          const intent = await issue(store, { notAfter });
          if (i % 3 !== 0) {
            await store.markRevoked(intent.serial, { reason: 'superseded', revokedAt: NOW });
            revoked.push(intent.serial);
          }
        }
        const seen: string[] = [];
        let cursor: string | null = null;
        do {
          const page: Awaited<ReturnType<Store['listCertificates']>> = await store.listCertificates({
            now: NOW,
            states: ['revoked'],
            limit: 5,
            ...(cursor === null ? {} : { cursor }),
          });
          seen.push(...page.items.map((i) => i.serial));
          cursor = page.nextCursor;
        } while (cursor !== null);
        expect(seen).toEqual([...revoked].sort());
      });

      it('refuses a forged cursor and a non-positive limit', async () => {
        const { store } = await fresh();
        await issue(store);
        await expectCode(store.listCertificates({ now: NOW, cursor: 'bm90LWEtY3Vyc29y' }), 'ERR_STORE_INVALID_CURSOR');
        await expectCode(
          store.listCertificates({ now: NOW, cursor: Buffer.from('[1,"x\' or 1=1"]').toString('base64url') }),
          'ERR_STORE_INVALID_CURSOR',
        );
        await expectCode(store.listCertificates({ now: NOW, limit: 0 }), 'ERR_USAGE_INVALID_ARGUMENT');
      });
    });

    describe('tokens and CRL numbers', () => {
      it('consumes a token exactly once under 50 concurrent calls, and still refuses it after a restart', async () => {
        const { store, another } = await fresh();
        const jti = `tok-${hex(8)}`;
        const results = await Promise.all(Array.from({ length: 50 }, () => store.consumeToken(jti, NOW)));
        expect(results.filter(Boolean)).toHaveLength(1);
        expect(await store.consumeToken(`tok-${hex(8)}`, NOW, hex(16))).toBe(true);

        await store.close();
        const reopened = await another();
        expect(await reopened.consumeToken(jti, new Date(NOW.getTime() + DAY))).toBe(false);
        expect(await reopened.consumeToken(`tok-${hex(8)}`, NOW)).toBe(true);
      });

      it('hands out strictly increasing CRL numbers per issuer under concurrency, across restarts', async () => {
        const { store, another } = await fresh();
        const issuer = 'b'.repeat(64);
        const numbers = await Promise.all(Array.from({ length: 50 }, () => store.nextCrlNumber(issuer)));
        expect([...numbers].sort((a, b) => (a < b ? -1 : 1))).toEqual(
          Array.from({ length: 50 }, (_, i) => BigInt(i + 1)),
        );
        expect(await store.nextCrlNumber('c'.repeat(64))).toBe(1n);
        await store.close();
        expect(await (await another()).nextCrlNumber(issuer)).toBe(51n);
      });

      it('lists minted tokens until they are used or expire, soonest expiry first, and never stores the token', async () => {
        const { db, store, another } = await fresh();
        const names = { dns: ['a.internal'], ip: [], uri: [], email: [] };
        const minted = (jti: string, expiresInMs: number) => ({
          jti,
          profile: 'server',
          names,
          mintedAt: NOW,
          expiresAt: new Date(NOW.getTime() + expiresInMs),
          mintedBy: 'admin:ab12',
        });
        await store.recordMintedToken(minted('tok-later', 10 * 60_000));
        await store.recordMintedToken(minted('tok-sooner', 5 * 60_000));
        await store.recordMintedToken(minted('tok-used', 10 * 60_000));
        await store.recordMintedToken(minted('tok-expired', 1000));
        await expectCode(store.recordMintedToken(minted('tok-later', 60_000)), 'ERR_STORE_STATE_CONFLICT');
        expect(await store.consumeToken('tok-used', NOW, 'cd34')).toBe(true);
        const at = new Date(NOW.getTime() + 2000);
        const unused = await store.listUnusedTokens(at);
        expect(unused.map((t) => t.jti)).toEqual(['tok-sooner', 'tok-later']);
        expect(unused[0]).toEqual(minted('tok-sooner', 5 * 60_000));
        expect((await store.listUnusedTokens(at, 1)).map((t) => t.jti)).toEqual(['tok-sooner']);
        await store.close();
        expect((await (await another()).listUnusedTokens(at)).map((t) => t.jti)).toEqual(['tok-sooner', 'tok-later']);
        const columns = Object.keys((await db.query('select * from minted_tokens'))[0] ?? {});
        expect(columns.sort()).toEqual(['expires_at', 'jti', 'minted_at', 'minted_by', 'names_json', 'profile']);
      });

      it('forgets spent tokens only before the given time: used jtis and expired minted records', async () => {
        const { store } = await fresh();
        const names = { dns: ['a.internal'], ip: [], uri: [], email: [] };
        const minted = (jti: string, mintedAt: Date, expiresAt: Date) => ({
          jti,
          profile: 'server',
          names,
          mintedAt,
          expiresAt,
          mintedBy: 'admin:ab12',
        });
        const old = new Date(NOW.getTime() - 3 * DAY);
        await store.recordMintedToken(minted('old-used', old, new Date(old.getTime() + 60_000)));
        await store.recordMintedToken(minted('old-unused', old, new Date(old.getTime() + 60_000)));
        await store.recordMintedToken(minted('fresh', NOW, new Date(NOW.getTime() + 60_000)));
        expect(await store.consumeToken('old-used', new Date(old.getTime() + 1000))).toBe(true);
        expect(await store.consumeToken('fresh-used', NOW)).toBe(true);
        expect(await store.pruneSpentTokens(new Date(NOW.getTime() - DAY))).toEqual({ used: 1, minted: 2 });
        // What is left still works: a recent jti stays spent, the fresh token stays listed.
        expect(await store.consumeToken('fresh-used', NOW)).toBe(false);
        expect((await store.listUnusedTokens(NOW)).map((t) => t.jti)).toEqual(['fresh']);
        expect(await store.pruneSpentTokens(new Date(NOW.getTime() - DAY))).toEqual({ used: 0, minted: 0 });
      });

      it('prunes certificates that expired before the cut-off, oldest first, never a pending intent', async () => {
        const { store, another } = await fresh();
        const at = (days: number): Date => new Date(NOW.getTime() + days * DAY);
        const old = await issue(store, { notBefore: at(-40), notAfter: at(-30) });
        const older = await issue(store, { notBefore: at(-50), notAfter: at(-45) });
        const oldRevoked = await issue(store, { notBefore: at(-40), notAfter: at(-20) });
        await store.markRevoked(oldRevoked.serial, { reason: 'keyCompromise', revokedAt: at(-25) });
        const oldFailed = makeIntent({ notBefore: at(-40), notAfter: at(-35) });
        await store.reserveSerial(oldFailed);
        await store.failIssuance(oldFailed.serial, 'signer down');
        const oldPending = makeIntent({ notBefore: at(-40), notAfter: at(-39) });
        await store.reserveSerial(oldPending);
        const recent = await issue(store, { notBefore: at(-6), notAfter: at(-5) });
        const live = await issue(store);

        const first = await store.pruneExpiredCertificates(at(-10), 2);
        expect(first).toEqual([
          { serial: older.serial, status: 'issued', notAfter: older.notAfter },
          { serial: oldFailed.serial, status: 'failed', notAfter: oldFailed.notAfter },
        ]);
        const rest = await (await another()).pruneExpiredCertificates(at(-10));
        expect(rest).toEqual([
          { serial: old.serial, status: 'issued', notAfter: old.notAfter },
          { serial: oldRevoked.serial, status: 'revoked', notAfter: oldRevoked.notAfter },
        ]);
        expect(await store.pruneExpiredCertificates(at(-10))).toEqual([]);
        for (const gone of [old, older, oldRevoked, oldFailed])
          expect(await store.getCertificate(gone.serial)).toBe(undefined);
        for (const kept of [oldPending, recent, live])
          expect((await store.getCertificate(kept.serial))?.serial).toBe(kept.serial);
        const counts = await store.countByState(NOW);
        expect(counts).toMatchObject({ valid: 1, expired: 1, pending: 1, revoked: 0, failed: 0 });
        await expectCode(store.pruneExpiredCertificates(NOW, 0), 'ERR_USAGE_INVALID_ARGUMENT');
        await expectCode(store.pruneExpiredCertificates(NOW, 10_001), 'ERR_USAGE_INVALID_ARGUMENT');
      });

      it('rolls a prune back with the transaction it ran in', async () => {
        const { store } = await fresh();
        const gone = await issue(store, {
          notBefore: new Date(NOW.getTime() - 3 * DAY),
          notAfter: new Date(NOW.getTime() - 2 * DAY),
        });
        await expect(
          store.transaction(async (tx) => {
            expect(await tx.pruneExpiredCertificates(NOW)).toHaveLength(1);
            throw new Error('audit append failed');
          }),
        ).rejects.toThrow('audit append failed');
        expect((await store.getCertificate(gone.serial))?.status).toBe('issued');
      });

      it('keeps serials, tokens and CRL numbers atomic across two instances on one database', async () => {
        const { store: a, another } = await fresh();
        const b = await another();
        const serial = serialHex();
        const reservations = await settle(
          Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? a : b).reserveSerial(makeIntent({ serial }))),
        );
        expect(reservations.fulfilled).toBe(1);
        for (const error of reservations.rejected) expect(error).toMatchObject({ code: 'ERR_STORE_SERIAL_CONFLICT' });

        const jti = `tok-${hex(8)}`;
        const consumed = await Promise.all(
          Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? a : b).consumeToken(jti, NOW)),
        );
        expect(consumed.filter(Boolean)).toHaveLength(1);

        const issuer = 'd'.repeat(64);
        const numbers = await Promise.all(
          Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? a : b).nextCrlNumber(issuer)),
        );
        expect(new Set(numbers).size).toBe(40);
        expect(numbers.reduce((max, n) => (n > max ? n : max), 0n)).toBe(40n);
      });
    });

    describe('audit chain', () => {
      const entry = (i: number) => ({
        at: new Date(NOW.getTime() + i),
        actor: `admin-${i}`,
        action: 'certificate.revoke',
        subject: `serial:${i}`,
        details: { reason: 'keyCompromise', nested: { b: 2, a: [1, 'x'] }, n: i },
      });

      it('chains records by SHA-256 and verifies them, including under concurrent appends', async () => {
        const { store } = await fresh();
        expect(await store.verifyAuditChain()).toEqual({ ok: true, count: 0 });
        const first = await store.appendAudit(entry(1));
        expect(first.seq).toBe(1n);
        expect(first.hash).toMatch(/^[0-9a-f]{64}$/);
        const appended = await Promise.all(Array.from({ length: 30 }, (_, i) => store.appendAudit(entry(i + 2))));
        expect(appended.map((r) => r.seq).sort((x, y) => (x < y ? -1 : 1))).toEqual(
          Array.from({ length: 30 }, (_, i) => BigInt(i + 2)),
        );
        expect(new Set(appended.map((r) => r.hash)).size).toBe(30);
        expect(await store.verifyAuditChain()).toEqual({ ok: true, count: 31 });
      });

      it('keeps one gap-free chain when members of one group commit fail after appending', async () => {
        const { store } = await fresh();
        await store.appendAudit(entry(1));
        // Queued together, so they share one group commit: every third member appends two records and fails.
        const outcomes = await Promise.allSettled(
          Array.from({ length: 24 }, (_, i) =>
            store.transaction(async (tx) => {
              const first = await tx.appendAudit(entry(100 + i));
              const second = await tx.appendAudit(entry(200 + i));
              expect(second.seq).toBe(first.seq + 1n);
              // Inside the transaction the chain already includes its own records.
              expect(await tx.verifyAuditChain()).toEqual({ ok: true, count: Number(second.seq) });
              if (i % 3 === 1) throw new Error(`member ${i} fails after appending`);
              return [first, second] as const;
            }),
          ),
        );
        const kept = outcomes.flatMap((o) => (o.status === 'fulfilled' ? [...o.value] : []));
        expect(outcomes.filter((o) => o.status === 'rejected')).toHaveLength(8);
        expect(kept.map((r) => r.seq).sort((x, y) => (x < y ? -1 : 1))).toEqual(
          Array.from({ length: 32 }, (_, i) => BigInt(i + 2)),
        );
        const log = await store.listAudit({ limit: 100 });
        expect(log.map((r) => r.seq)).toEqual(Array.from({ length: 33 }, (_, i) => BigInt(i + 1)));
        for (const r of kept) expect(log.find((l) => l.seq === r.seq)?.hash).toBe(r.hash);
        expect(await store.verifyAuditChain()).toEqual({ ok: true, count: 33 });
        // The next record continues the committed chain.
        expect((await store.appendAudit(entry(3))).seq).toBe(34n);
        expect(await store.verifyAuditChain()).toEqual({ ok: true, count: 34 });
      });

      it('keys serials canonically: a lookup with leading zeros finds the record, a non-canonical intent is refused', async () => {
        const { store } = await fresh();
        const intent = await issue(store, { serial: 'ab12' });
        expect((await store.getCertificate('00ab12'))?.serial).toBe(intent.serial);
        await expectCode(store.reserveSerial(makeIntent({ serial: '00cd34' })), 'ERR_USAGE_INVALID_ARGUMENT');
      });

      it('lists records in order with their links, resuming after a sequence number', async () => {
        const { store } = await fresh();
        for (let i = 1; i <= 5; i++) await store.appendAudit(entry(i));
        const all = await store.listAudit();
        expect(all.map((r) => r.seq)).toEqual([1n, 2n, 3n, 4n, 5n]);
        expect(all[0]).toMatchObject({ actor: entry(1).actor, action: entry(1).action, details: entry(1).details });
        all.slice(1).forEach((r, i) => {
          expect(r.prevHash).toBe(all[i]?.hash);
        });
        expect((await store.listAudit({ afterSeq: 3n, limit: 1 })).map((r) => r.seq)).toEqual([4n]);
        expect(await store.listAudit({ afterSeq: 5n })).toEqual([]);
      });

      it('lists records newest first, before a sequence number, and of one action or subject', async () => {
        const { store } = await fresh();
        for (let i = 1; i <= 6; i++) {
          await store.appendAudit({ ...entry(i), action: i % 2 === 0 ? 'even' : 'odd', subject: `s${i % 3}` });
        }
        const seqs = (records: { seq: bigint }[]): bigint[] => records.map((r) => r.seq);
        expect(seqs(await store.listAudit({ order: 'desc', limit: 3 }))).toEqual([6n, 5n, 4n]);
        expect(seqs(await store.listAudit({ order: 'desc', beforeSeq: 4n }))).toEqual([3n, 2n, 1n]);
        expect(seqs(await store.listAudit({ action: 'even' }))).toEqual([2n, 4n, 6n]);
        expect(seqs(await store.listAudit({ subject: 's1', order: 'desc' }))).toEqual([4n, 1n]);
        expect(seqs(await store.listAudit({ afterSeq: 1n, beforeSeq: 5n, action: 'odd' }))).toEqual([3n]);
      });

      it('detects an edited record', async () => {
        const { db, store } = await fresh();
        for (let i = 1; i <= 4; i++) await store.appendAudit(entry(i));
        await db.query(`update audit_log set actor = 'someone-else' where seq = 2`);
        expectBroken(await store.verifyAuditChain(), 2n, /altered/);
      });

      it('detects a record whose link to its predecessor was rewritten', async () => {
        const { db, store } = await fresh();
        for (let i = 1; i <= 3; i++) await store.appendAudit(entry(i));
        await db.query(`update audit_log set prev_hash = '${'f'.repeat(64)}' where seq = 3`);
        expectBroken(await store.verifyAuditChain(), 3n, /link/);
      });

      it('detects a deleted record, in the middle or at the end', async () => {
        const { db, store } = await fresh();
        for (let i = 1; i <= 4; i++) await store.appendAudit(entry(i));
        await db.query('delete from audit_log where seq = 4');
        expectBroken(await store.verifyAuditChain(), 4n, /missing/);
        await db.query('delete from audit_log where seq = 2');
        expectBroken(await store.verifyAuditChain(), 2n, /missing/);
      });
    });

    describe('transactions', () => {
      it('commits a change and its audit record together', async () => {
        const { store } = await fresh();
        const issued = await issue(store);
        const result = await store.transaction(async (tx) => {
          await tx.markRevoked(issued.serial, { reason: 'keyCompromise', revokedAt: NOW });
          return tx.appendAudit({
            at: NOW,
            actor: 'admin',
            action: 'certificate.revoke',
            subject: issued.serial,
            details: {},
          });
        });
        expect(result.seq).toBe(1n);
        expect(await store.getCertificate(issued.serial)).toMatchObject({ status: 'revoked' });
        expect(await store.verifyAuditChain()).toEqual({ ok: true, count: 1 });
      });

      it('leaves nothing written when the callback fails: change, audit, token and CRL number all roll back', async () => {
        const { store } = await fresh();
        const issued = await issue(store);
        const intent = makeIntent();
        const jti = `tok-${hex(8)}`;
        const failure = new Error('signing failed after the audit record was written');
        await expect(
          store.transaction(async (tx) => {
            await tx.reserveSerial(intent);
            await tx.markRevoked(issued.serial, { reason: 'keyCompromise', revokedAt: NOW });
            expect(await tx.consumeToken(jti, NOW)).toBe(true);
            expect(await tx.nextCrlNumber('e'.repeat(64))).toBe(1n);
            await tx.appendAudit({
              at: NOW,
              actor: 'admin',
              action: 'certificate.issue',
              subject: intent.serial,
              details: {},
            });
            expect(await tx.getCertificate(intent.serial)).toMatchObject({ status: 'pending' });
            throw failure;
          }),
        ).rejects.toBe(failure);

        expect(await store.getCertificate(intent.serial)).toBeUndefined();
        expect(await store.getCertificate(issued.serial)).toMatchObject({ status: 'issued' });
        expect(await store.verifyAuditChain()).toEqual({ ok: true, count: 0 });
        expect(await store.consumeToken(jti, NOW)).toBe(true);
        expect(await store.nextCrlNumber('e'.repeat(64))).toBe(1n);
        // The chain continues from where the committed log ends, not from the rolled-back record.
        expect((await store.appendAudit({ at: NOW, actor: 'a', action: 'b', subject: 'c', details: {} })).seq).toBe(1n);
        expect(await store.verifyAuditChain()).toEqual({ ok: true, count: 1 });
      });

      it('rolls back on a store error inside the transaction and reports that error', async () => {
        const { store } = await fresh();
        const taken = await issue(store);
        const intent = makeIntent();
        await expectCode(
          store.transaction(async (tx) => {
            await tx.reserveSerial(intent);
            await tx.appendAudit({ at: NOW, actor: 'a', action: 'b', subject: 'c', details: {} });
            await tx.reserveSerial(makeIntent({ serial: taken.serial }));
          }),
          'ERR_STORE_SERIAL_CONFLICT',
        );
        expect(await store.getCertificate(intent.serial)).toBeUndefined();
        expect(await store.verifyAuditChain()).toEqual({ ok: true, count: 0 });
      });

      it('refuses the outer store inside the callback and the transaction store after it ends', async () => {
        const { store } = await fresh();
        const escaped: Store[] = [];
        await expectCode(
          store.transaction(async (tx) => {
            escaped.push(tx);
            await store.getCertificate(hex(16));
          }),
          'ERR_INTERNAL_UNEXPECTED',
        );
        expect(escaped).toHaveLength(1);
        for (const tx of escaped) await expectCode(tx.getCertificate(hex(16)), 'ERR_INTERNAL_UNEXPECTED');
        // A nested transaction joins the outer one.
        const serial = await store.transaction((tx) =>
          tx.transaction(async (inner) => {
            const intent = makeIntent();
            await inner.reserveSerial(intent);
            return intent.serial;
          }),
        );
        expect(await store.getCertificate(serial)).toBeDefined();
      });

      if (options.concurrentInstanceTransactions) {
        it('keeps one audit chain when two instances append at once', async () => {
          const { store: a, another } = await fresh();
          const b = await another();
          await Promise.all(
            Array.from({ length: 40 }, (_, i) =>
              (i % 2 === 0 ? a : b).appendAudit({ at: NOW, actor: `i${i}`, action: 'x', subject: 'y', details: { i } }),
            ),
          );
          expect(await a.verifyAuditChain()).toEqual({ ok: true, count: 40 });
        });
      }
    });

    describe('group commit (concurrent write transactions share one commit)', () => {
      it('rolls back only the failing callers: the others commit, each failure is reported as its own', async () => {
        const { store } = await fresh();
        const taken = await issue(store);
        const takenFingerprint = (await store.getCertificate(taken.serial))?.fingerprintSha256 ?? '';
        const outcomes = await Promise.allSettled(
          Array.from({ length: 40 }, async (_, i) => {
            const intent = makeIntent();
            const failure = new Error(`caller ${i} failed after writing`);
            try {
              await store.transaction(async (tx) => {
                await tx.reserveSerial(intent);
                expect(await tx.consumeToken(`tok-${intent.serial}`, NOW, intent.serial)).toBe(true);
                await tx.appendAudit({
                  at: NOW,
                  actor: `c${i}`,
                  action: 'certificate.issue',
                  subject: intent.serial,
                  details: { i },
                });
                if (i % 4 === 1) throw failure;
                // A database error inside the callback (a unique violation aborts a PostgreSQL transaction).
                if (i % 4 === 2)
                  await tx.completeIssuance(intent.serial, { ...completion(), fingerprintSha256: takenFingerprint });
                if (i % 4 === 3) await tx.reserveSerial(makeIntent({ serial: taken.serial }));
              });
            } catch (error) {
              if (i % 4 === 1) expect(error).toBe(failure);
              throw error;
            }
            return intent.serial;
          }),
        );
        const kept: string[] = [];
        outcomes.forEach((outcome, i) => {
          if (i % 4 === 0) {
            expect(outcome.status).toBe('fulfilled');
            if (outcome.status === 'fulfilled') kept.push(outcome.value);
          } else {
            expect(outcome.status).toBe('rejected');
            if (outcome.status === 'rejected' && i % 4 === 2) {
              expect(outcome.reason).toMatchObject({ code: 'ERR_STORE_FINGERPRINT_CONFLICT' });
            }
            if (outcome.status === 'rejected' && i % 4 === 3) {
              expect(outcome.reason).toMatchObject({ code: 'ERR_STORE_SERIAL_CONFLICT' });
            }
          }
        });
        expect(kept).toHaveLength(10);
        for (const serial of kept) expect(await store.getCertificate(serial)).toMatchObject({ status: 'pending' });
        const page = await store.listCertificates({ now: NOW, states: ['pending'] });
        expect(page.items.map((c) => c.serial).sort()).toEqual([...kept].sort());
        // The failed callers' tokens were not consumed; the kept ones were.
        for (const serial of kept) expect(await store.consumeToken(`tok-${serial}`, NOW)).toBe(false);
        // Gap-free: the rolled-back audit records left no holes in the sequence.
        const audit = await store.listAudit();
        expect(audit.map((r) => r.seq)).toEqual(Array.from({ length: 10 }, (_, i) => BigInt(i + 1)));
        expect(audit.map((r) => r.subject).sort()).toEqual([...kept].sort());
        expect(await store.verifyAuditChain()).toEqual({ ok: true, count: 10 });
      });

      it('resolves a caller only once its work is committed: another connection already sees it', async () => {
        const { db, store } = await fresh();
        const seen = await Promise.all(
          Array.from({ length: 30 }, (_, i) => {
            const intent = makeIntent();
            const write =
              i % 3 === 0
                ? store.reserveSerial(intent)
                : store.transaction(async (tx) => {
                    await tx.reserveSerial(intent);
                    await tx.appendAudit({ at: NOW, actor: 'a', action: 'b', subject: intent.serial, details: {} });
                  });
            return write.then(() => db.query(`select status from certificates where serial = '${intent.serial}'`));
          }),
        );
        for (const rows of seen) expect(rows).toEqual([{ status: 'pending' }]);
        expect(await store.verifyAuditChain()).toEqual({ ok: true, count: 20 });
      });

      it('keeps exactly one winner when concurrent transactions race for one serial and one token', async () => {
        const { store } = await fresh();
        const serial = serialHex();
        const jti = `tok-${hex(8)}`;
        const { fulfilled, rejected } = await settle(
          Array.from({ length: 30 }, (_, i) =>
            store.transaction(async (tx) => {
              await tx.reserveSerial(makeIntent({ serial, requester: `r${i}` }));
              if (!(await tx.consumeToken(jti, NOW, serial))) throw new Error('token replayed');
              await tx.appendAudit({ at: NOW, actor: `r${i}`, action: 'token.use', subject: jti, details: {} });
            }),
          ),
        );
        expect(fulfilled).toBe(1);
        for (const error of rejected) expect(error).toMatchObject({ code: 'ERR_STORE_SERIAL_CONFLICT' });

        const tokenOnly = await Promise.all(
          Array.from({ length: 30 }, () =>
            store.transaction(async (tx) => {
              const intent = makeIntent();
              await tx.reserveSerial(intent);
              return tx.consumeToken(`${jti}-2`, NOW, intent.serial);
            }),
          ),
        );
        expect(tokenOnly.filter(Boolean)).toHaveLength(1);
        expect(await store.verifyAuditChain()).toEqual({ ok: true, count: 1 });
      });

      it('commits what was queued before close, and refuses writes after it', async () => {
        const { store, another } = await fresh();
        const intents = Array.from({ length: 10 }, () => makeIntent());
        const writes = intents.map((intent) => store.reserveSerial(intent));
        await store.close();
        await Promise.all(writes);
        await expectCode(store.reserveSerial(makeIntent()), 'ERR_STORE_UNAVAILABLE');
        const reopened = await another();
        for (const intent of intents) expect(await reopened.getCertificate(intent.serial)).toBeDefined();
      });
    });

    describe('component reports, sightings, failed authentications and alerts', () => {
      it('records a component once and updates it on later reports; newComponent only on the first', async () => {
        const { store, another } = await fresh();
        expect(await store.recordReport(report())).toEqual({ newComponent: true });
        const later = new Date(NOW.getTime() + 30_000);
        expect(
          await store.recordReport(
            report({ at: later, health: { status: 'degraded', detail: 'crl old' }, certificates: [{ name: 'a' }] }),
          ),
        ).toEqual({ newComponent: false });
        await store.recordReport(report({ kind: 'agent', name: 'web-1', reportedBy: null }));
        const components = await (await another()).listComponents();
        expect(components).toEqual([
          expect.objectContaining({ kind: 'agent', name: 'web-1', reportedBy: null }),
          {
            kind: 'gateway',
            name: 'edge',
            reportedBy: 'spiffe://example.org/gw',
            firstSeen: NOW,
            lastSeen: later,
            health: { status: 'degraded', detail: 'crl old' },
            certificates: [{ name: 'a' }],
          },
        ]);
      });

      it('keeps one row per discovered certificate and one per place, with first and last seen', async () => {
        const { store } = await fresh();
        const a = seen({ notAfter: new Date(NOW.getTime() + 2 * DAY), chain: ['x'] });
        const b = seen({ notAfter: new Date(NOW.getTime() + DAY) });
        await store.recordReport(
          report({
            sightings: [
              { certificate: a, place: 'gateway edge 0.0.0.0:8444', role: 'server', at: NOW },
              { certificate: b, place: 'gateway edge 0.0.0.0:8444', role: 'client', at: NOW },
            ],
          }),
        );
        const later = new Date(NOW.getTime() + HOUR);
        await store.recordReport(
          report({
            kind: 'discover',
            name: 'cli',
            at: later,
            sightings: [
              { certificate: a, place: 'gateway edge 0.0.0.0:8444', role: 'server', at: later },
              { certificate: a, place: '/etc/tls/edge.crt', role: 'file', at: later },
            ],
          }),
        );
        const found = await store.listDiscovered();
        expect(found.map((f) => f.fingerprintSha256)).toEqual([b.fingerprintSha256, a.fingerprintSha256]);
        const first = found[1];
        expect(first).toMatchObject({ serial: a.serial, identity: a.identity, notAfter: a.notAfter, chain: ['x'] });
        expect(first?.places).toEqual([
          {
            where: 'gateway edge 0.0.0.0:8444',
            role: 'server',
            component: 'discover/cli',
            firstSeen: NOW,
            lastSeen: later,
          },
          { where: '/etc/tls/edge.crt', role: 'file', component: 'discover/cli', firstSeen: later, lastSeen: later },
        ]);
        expect(await store.listDiscovered({ limit: 1 })).toHaveLength(1);
      });

      it('summarizes failed authentications in a window by reason, identity, address and hour, and prunes old ones', async () => {
        const { store } = await fresh();
        const events = [
          ...Array.from({ length: 600 }, (_, i) =>
            failure({ at: new Date(NOW.getTime() - (i % 3) * HOUR), address: `10.0.0.${i % 2}` }),
          ),
          failure({ stage: 'request', reason: 'denied', identity: 'spiffe://example.org/bad', address: '10.0.0.9' }),
          failure({ at: new Date(NOW.getTime() - 3 * DAY) }),
        ];
        await store.recordReport(report({ authFailures: events }));
        const window = { since: new Date(NOW.getTime() - DAY), until: new Date(NOW.getTime() + 1) };
        const summary = await store.summarizeAuthFailures(window, 5);
        expect(summary.total).toBe(601);
        expect(summary.byReason).toEqual([
          { key: 'unknown-ca', count: 600 },
          { key: 'denied', count: 1 },
        ]);
        expect(summary.byIdentity).toEqual([{ key: 'spiffe://example.org/bad', count: 1 }]);
        expect(summary.byAddress[0]).toEqual({ key: '10.0.0.0', count: 300 });
        expect(summary.hourly.map((h) => h.count)).toEqual([200, 200, 201]);
        expect(summary.hourly[2]?.start.getTime()).toBe(Math.floor(NOW.getTime() / HOUR) * HOUR);
        expect(summary.recent).toHaveLength(5);
        expect(summary.recent[0]).toMatchObject({ component: 'gateway/edge', at: NOW });
        expect(await store.countAuthFailures(window, 'address', 300)).toEqual([
          { key: '10.0.0.0', count: 300 },
          { key: '10.0.0.1', count: 300 },
        ]);
        expect(await store.countAuthFailures(window, 'address', 1, 1)).toHaveLength(1);
        expect(await store.countAuthFailures(window, 'identity', 1)).toEqual([
          { key: 'spiffe://example.org/bad', count: 1 },
        ]);
        expect(await store.countAuthFailures(window, 'address', 301)).toEqual([]);
        const byIdentity = await store.summarizeAuthFailures({ ...window, identity: 'spiffe://example.org/bad' });
        expect([byIdentity.total, byIdentity.recent[0]?.reason]).toEqual([1, 'denied']);
        expect(await store.pruneAuthFailures(new Date(NOW.getTime() - DAY))).toBe(1);
        const all = await store.summarizeAuthFailures({ since: new Date(0), until: new Date(NOW.getTime() + 1) });
        expect(all.total).toBe(601);
      });

      it('records alerts once per id, updates their delivery, and lists newest first by rule and key', async () => {
        const { store } = await fresh();
        const alert = (id: string, key: string, at: Date) => ({
          id,
          rule: 'expiring',
          key,
          at,
          severity: 'warning' as const,
          message: `certificate ${key} expires soon`,
          details: { serial: key },
          delivery: 'pending' as const,
          attempts: 0,
        });
        await store.recordAlert(alert('a1', 'ab', NOW));
        await store.recordAlert(alert('a2', 'cd', new Date(NOW.getTime() + 1000)));
        await expectCode(store.recordAlert(alert('a1', 'ab', NOW)), 'ERR_STORE_STATE_CONFLICT');
        await store.setAlertDelivery('a1', 'delivered', 2);
        await expectCode(store.setAlertDelivery('nope', 'failed', 1), 'ERR_STORE_NOT_FOUND');
        expect((await store.listAlerts()).map((a) => a.id)).toEqual(['a2', 'a1']);
        expect(await store.listAlerts({ rule: 'expiring', key: 'ab', limit: 1 })).toEqual([
          { ...alert('a1', 'ab', NOW), delivery: 'delivered', attempts: 2 },
        ]);
        expect(await store.listAlerts({ rule: 'revoked-in-use' })).toEqual([]);
        expect(await store.pruneAlerts(new Date(NOW.getTime() + 1))).toBe(1);
        expect((await store.listAlerts()).map((a) => a.id)).toEqual(['a2']);
      });

      it('writes a report in one transaction: a bad event leaves nothing of it', async () => {
        const { store } = await fresh();
        await expect(
          store.recordReport(
            report({
              sightings: [{ certificate: seen(), place: 'x', role: 'server', at: NOW }],
              authFailures: [failure(), failure({ reason: '' })],
            }),
          ),
        ).rejects.toMatchObject({ code: 'ERR_USAGE_INVALID_ARGUMENT' });
        expect(await store.listComponents()).toEqual([]);
        expect(await store.listDiscovered()).toEqual([]);
      });
    });

    describe('lifecycle', () => {
      it('keeps data across close and reopen, and refuses calls once closed', async () => {
        const { store, another } = await fresh();
        const issued = await issue(store);
        await store.appendAudit({ at: NOW, actor: 'a', action: 'b', subject: 'c', details: {} });
        await store.close();
        await store.close();
        await expectCode(store.getCertificate(issued.serial), 'ERR_STORE_UNAVAILABLE');
        const reopened = await another();
        expect(await reopened.getCertificate(issued.serial)).toMatchObject({ status: 'issued' });
        expect(await reopened.verifyAuditChain()).toEqual({ ok: true, count: 1 });
      });

      it('migrates once, and refuses a database written by a newer mutual', async () => {
        const { db, another } = await fresh();
        await another();
        const [row] = await db.query('select count(*) as n, max(version) as v from schema_migrations');
        expect(Number(row?.['n'])).toBe(MIGRATIONS.length);
        await db.query(`insert into schema_migrations (version, name, applied_at) values (999, 'from-the-future', 0)`);
        await expectCode(another(), 'ERR_STORE_MIGRATION_FAILED');
      });
    });
  });
}
