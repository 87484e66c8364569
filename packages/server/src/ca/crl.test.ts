import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openSqliteStore, type Store } from '../store/index.js';
import { createRevocationState, type CrlBuilder, type CrlEntryInput, type FeedEvent } from './crl.js';
import { createRevocationService } from './revoke.js';
import { createCaHierarchy, createIntermediate } from './hierarchy.js';

const NOW = new Date('2031-05-04T10:00:00Z');
const DAY = 86_400_000;
const hierarchy = createCaHierarchy({ name: 'Test', keyType: 'p256', now: NOW, random: (n) => randomBytes(n) });
const fp = (der: Uint8Array): string => createHash('sha256').update(der).digest('hex');
const INT = fp(hierarchy.intermediate.der);
const ROOT = fp(hierarchy.root.der);
/** An intermediate replaced by a rotation: its certificates are still listed on a CRL of its own. */
const older = createIntermediate({
  root: hierarchy.root,
  commonName: 'Test Intermediate CA 0',
  organization: 'Test',
  keyType: 'p256',
  now: NOW,
  random: (n) => randomBytes(n),
});
const OLDER = fp(older.der);

const stores: Store[] = [];
afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.close()));
});

interface SignCall {
  readonly issuer: Parameters<CrlBuilder>[0];
  readonly revoked: CrlEntryInput[];
  readonly thisUpdate: Date;
  readonly nextUpdate: Date;
  readonly number: bigint;
}

/** Records what each level's CRL held when it was signed; the DER is a stand-in (the DER itself is pki's and tested there). */
function recordingBuilder() {
  const calls: SignCall[] = [];
  const builder: CrlBuilder = (issuer) => {
    const listed = new Map<string, CrlEntryInput>();
    return {
      add: (e) => {
        listed.set(e.serial, e);
      },
      remove: (serial) => {
        listed.delete(serial);
      },
      sign: (input) => {
        calls.push({ issuer, revoked: [...listed.values()], ...input });
        return Uint8Array.from([0x30, 0x00]);
      },
    };
  };
  return { calls, builder };
}

async function setup() {
  const store = await openSqliteStore({ file: path.join(mkdtempSync(path.join(tmpdir(), 'mutual-crl-')), 'ca.db') });
  stores.push(store);
  let now = NOW.getTime();
  const clock = { now: () => new Date(now) };
  const { calls, builder } = recordingBuilder();
  const state = createRevocationState({
    store,
    clock,
    levels: [
      { name: 'root', certificateDer: hierarchy.root.der, privateKey: hierarchy.root.privateKey },
      {
        name: 'intermediate',
        certificateDer: hierarchy.intermediate.der,
        privateKey: hierarchy.intermediate.privateKey,
      },
      { name: 'previous', certificateDer: older.der, privateKey: older.privateKey },
    ],
    builder,
    crlLifetimeMs: DAY,
  });
  let n = 0;
  const issued = async (o: { issuer?: string; notAfter?: Date } = {}) => {
    const serial = ((1n << 120n) + BigInt(++n)).toString(16); // canonical: no leading zeros
    await store.reserveSerial({
      serial,
      issuerFingerprint: o.issuer ?? INT,
      profile: 'client',
      subject: '',
      commonName: null,
      identityKind: 'none',
      identity: null,
      sans: { dns: [], ip: [], uri: [], email: [] },
      keyType: 'p256',
      notBefore: NOW,
      notAfter: o.notAfter ?? new Date(NOW.getTime() + DAY),
      requester: 't',
      createdAt: NOW,
    });
    await store.completeIssuance(serial, {
      pem: 'x',
      fingerprintSha256: serial.padStart(64, '0'),
      spkiSha256: 'ab',
      issuedAt: NOW,
    });
    return serial;
  };
  /** Revoked directly in the inventory, without an audit record (as before this instance started). */
  const revoked = async (o: { issuer?: string; notAfter?: Date; at?: Date; reason?: string } = {}) => {
    const serial = await issued(o);
    await store.markRevoked(serial, { reason: o.reason ?? 'keyCompromise', revokedAt: o.at ?? new Date(now) });
    return serial;
  };
  /** Another instance's view (or this one's after a restart) over the same store and clock. */
  const another = () =>
    createRevocationState({
      store,
      clock,
      levels: [
        {
          name: 'intermediate',
          certificateDer: hierarchy.intermediate.der,
          privateKey: hierarchy.intermediate.privateKey,
        },
      ],
      builder: recordingBuilder().builder,
      crlLifetimeMs: DAY,
    });
  return { store, state, calls, issued, revoked, clock, another, setNow: (d: Date) => (now = d.getTime()) };
}

describe('revocation state and CRLs', () => {
  it('start loads every revocation and publishes each level with its own entries; numbers increase', async () => {
    const { state, calls, revoked } = await setup();
    const leaf = await revoked();
    const intermediateCert = await revoked({ issuer: ROOT, reason: 'caCompromise' });
    await state.start(0n);
    expect(state.crl('intermediate')).toMatchObject({ number: 1n, entries: 1, etag: `"${INT.slice(0, 16)}-1"` });
    expect(state.crl('root')).toMatchObject({ number: 1n, entries: 1 });
    const byLevel = (der: Uint8Array) => calls.filter((c) => c.issuer.certificateDer === der).at(-1);
    expect(byLevel(hierarchy.intermediate.der)?.revoked).toEqual([
      { serial: leaf, revokedAt: NOW, reason: 'keyCompromise', reasonCode: 1 },
    ]);
    expect(byLevel(hierarchy.root.der)?.revoked.map((e) => [e.serial, e.reasonCode])).toEqual([[intermediateCert, 2]]);
    expect(byLevel(hierarchy.intermediate.der)?.nextUpdate.getTime()).toBe(NOW.getTime() + DAY);
    await state.refresh();
    expect(state.crl('intermediate')?.number).toBe(2n);
  });

  it('sync() follows the audit log: revocations by any instance, in commit order, once each; only touched CRLs republish', async () => {
    const { state, issued, store, clock } = await setup();
    const start = await store.appendAudit({ at: NOW, actor: 't', action: 'ca.start', subject: 'x', details: {} });
    await state.start(start.seq);
    const heard: FeedEvent[] = [];
    state.onEvent((e) => heard.push(e));
    // Two "instances": two revocation services on one store, only this state listening.
    const here = createRevocationService({ store, clock, protectedFingerprints: new Set() });
    const elsewhere = createRevocationService({ store, clock, protectedFingerprints: new Set() });
    const a = await issued();
    const b = await issued();
    await elsewhere.revoke({ serial: a, reason: 'keyCompromise', by: { kind: 'admin', serial: 'ad' } });
    await here.revoke({ serial: b, reason: 'superseded', by: { kind: 'admin', serial: 'ad' } });
    await state.sync();
    await state.sync();
    expect(heard.map((e) => [e.entry.serial, e.entry.reason])).toEqual([
      [a, 'keyCompromise'],
      [b, 'superseded'],
    ]);
    expect(BigInt(heard[0]?.id ?? '0')).toBeGreaterThan(start.seq);
    expect(BigInt(heard[1]?.id ?? '0')).toBeGreaterThan(BigInt(heard[0]?.id ?? '0'));
    expect(state.crl('intermediate')).toMatchObject({ number: 2n, entries: 2 });
    expect(state.crl('root')?.number).toBe(1n);
  });

  it('keeps revoked-but-unexpired entries; drops them once the certificate has expired', async () => {
    const { state, revoked, setNow } = await setup();
    await revoked({ notAfter: new Date(NOW.getTime() + 2 * DAY) });
    await state.start(0n);
    expect(state.crl('intermediate')?.entries).toBe(1);
    setNow(new Date(NOW.getTime() + 2 * DAY)); // valid through notAfter inclusive
    await state.refresh();
    expect(state.crl('intermediate')?.entries).toBe(1);
    setNow(new Date(NOW.getTime() + 2 * DAY + 1000));
    await state.refresh();
    expect(state.crl('intermediate')?.entries).toBe(0);
  });

  it('resumes exactly after Last-Event-ID; an id from before this instance started, or garbage, replays everything', async () => {
    const { state, issued, revoked, store, clock } = await setup();
    const old = await revoked();
    const start = await store.appendAudit({ at: NOW, actor: 't', action: 'ca.start', subject: 'x', details: {} });
    await state.start(start.seq);
    const svc = createRevocationService({ store, clock, protectedFingerprints: new Set() });
    const serials = [await issued(), await issued(), await issued()];
    for (const serial of serials)
      await svc.revoke({ serial, reason: 'unspecified', by: { kind: 'admin', serial: 'ad' } });
    await state.sync();
    const all = state.since(undefined);
    expect(all.map((e) => e.entry.serial)).toEqual([old, ...serials]);
    expect(all[0]?.id).toBe(start.seq.toString());
    expect(state.since(all[1]?.id).map((e) => e.entry.serial)).toEqual(serials.slice(1));
    expect(state.since(all[3]?.id)).toEqual([]);
    expect(state.since((start.seq - 1n).toString())).toHaveLength(4);
    expect(state.since('garbage')).toHaveLength(4);
  });

  it('keeps in the feed only revocations of certificates not yet expired: expired ones leave it and a restart does not load them', async () => {
    const { state, issued, revoked, store, clock, setNow, another } = await setup();
    const soon = await revoked({ notAfter: new Date(NOW.getTime() + DAY) });
    const later = await revoked({ notAfter: new Date(NOW.getTime() + 3 * DAY) });
    const start = await store.appendAudit({ at: NOW, actor: 't', action: 'ca.start', subject: 'x', details: {} });
    await state.start(start.seq);
    const svc = createRevocationService({ store, clock, protectedFingerprints: new Set() });
    const live = await issued({ notAfter: new Date(NOW.getTime() + DAY) });
    await svc.revoke({ serial: live, reason: 'unspecified', by: { kind: 'admin', serial: 'ad' } });
    await state.sync();
    expect(state.since(undefined).map((e) => e.entry.serial)).toEqual([soon, later, live]);
    expect(state.size).toBe(3);

    setNow(new Date(NOW.getTime() + 2 * DAY));
    expect(state.since(undefined).map((e) => e.entry.serial)).toEqual([later]);
    expect(state.since(start.seq.toString())).toEqual([]);
    expect(state.size).toBe(1);

    // Revoking a certificate that has already expired changes neither the feed nor the CRL.
    const heard: FeedEvent[] = [];
    state.onEvent((e) => heard.push(e));
    const expired = await issued({ notAfter: new Date(NOW.getTime() + DAY) });
    await svc.revoke({ serial: expired, reason: 'unspecified', by: { kind: 'admin', serial: 'ad' } });
    await state.sync();
    await state.refresh();
    expect(heard).toEqual([]);
    expect(state.crl('intermediate')?.entries).toBe(1);
    expect(state.size).toBe(1);

    // A restart reads only the unexpired revocations from the inventory.
    const restarted = another();
    await restarted.start(0n);
    expect(restarted.since(undefined).map((e) => e.entry.serial)).toEqual([later]);
    expect(restarted.crl('intermediate')?.entries).toBe(1);
  });

  it('resumes after any id of a long feed, also when a revocation loaded at start moves to its later audit position', async () => {
    const { state, issued, revoked, store, clock } = await setup();
    // Revoked before the baseline, but with a later revocation time than the one below.
    const old = await revoked({ at: new Date(NOW.getTime() + 60_000) });
    const start = await store.appendAudit({ at: NOW, actor: 't', action: 'ca.start', subject: 'x', details: {} });
    const svc = createRevocationService({ store, clock, protectedFingerprints: new Set() });
    // Committed after the baseline and before start() reads the inventory: loaded with the baseline's
    // id first (ahead of `old`, by revocation time), then moved to its own audit position.
    const moved = await issued();
    await svc.revoke({ serial: moved, reason: 'unspecified', by: { kind: 'admin', serial: 'ad' } });
    await state.start(start.seq);
    const after: string[] = [];
    for (let i = 0; i < 40; i++) {
      const serial = await issued();
      await svc.revoke({ serial, reason: 'superseded', by: { kind: 'admin', serial: 'ad' } });
      after.push(serial);
      if (i % 7 === 0) await state.sync();
    }
    await state.sync();
    const all = state.since(undefined);
    expect(all.map((e) => e.entry.serial)).toEqual([old, moved, ...after]);
    expect(all[0]?.id).toBe(start.seq.toString());
    const ids = all.map((e) => BigInt(e.id));
    for (let i = 1; i < ids.length; i++) expect(ids[i]).toBeGreaterThan(ids[i - 1] as bigint);
    for (let i = 0; i < all.length; i++) {
      expect(state.since(all[i]?.id).map((e) => e.entry.serial)).toEqual(all.slice(i + 1).map((e) => e.entry.serial));
    }
  });
});

describe('revocation state: a previous intermediate (after a rotation)', () => {
  it('lists its revoked certificates on a CRL of its own, with its own numbers; each CRL is found by its issuer', async () => {
    const { state, calls, revoked } = await setup();
    const current = await revoked();
    const old = await revoked({ issuer: OLDER, reason: 'superseded' });
    await state.start(0n);
    const byIssuer = (der: Uint8Array) => calls.filter((c) => c.issuer.certificateDer === der).at(-1);
    expect(byIssuer(older.der)?.revoked.map((e) => e.serial)).toEqual([old]);
    expect(byIssuer(hierarchy.intermediate.der)?.revoked.map((e) => e.serial)).toEqual([current]);
    expect(state.crls().map((c) => [c.level, c.issuerFingerprint])).toEqual([
      ['root', ROOT],
      ['intermediate', INT],
      ['previous', OLDER],
    ]);
    expect(state.crlOfIssuer(OLDER.slice(0, 16))).toMatchObject({ level: 'previous', number: 1n, entries: 1 });
    expect(state.crlOfIssuer(INT.slice(0, 16))?.level).toBe('intermediate');
    expect(state.crlOfIssuer('0000000000000000')).toBeUndefined();
    expect(state.crlOfIssuer('ab')).toBeUndefined(); // too short to name one CA certificate
    // Tags name the issuer: the two intermediates' first CRLs never share one.
    expect(state.crlOfIssuer(OLDER.slice(0, 16))?.etag).not.toBe(state.crl('intermediate')?.etag);
  });
});
