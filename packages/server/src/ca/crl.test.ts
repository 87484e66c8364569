import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openSqliteStore, type Store } from '../store/index.js';
import { createRevocationState, RESUME_MARGIN_MS, type CrlBuilder, type FeedEvent } from './crl.js';
import { createCaHierarchy } from './hierarchy.js';

const NOW = new Date('2031-05-04T10:00:00Z');
const DAY = 86_400_000;
const hierarchy = createCaHierarchy({ name: 'Test', keyType: 'p256', now: NOW, random: (n) => randomBytes(n) });
const fp = (der: Uint8Array): string => createHash('sha256').update(der).digest('hex');
const INT = fp(hierarchy.intermediate.der);
const ROOT = fp(hierarchy.root.der);

const stores: Store[] = [];
afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.close()));
});

/** Records what it was asked to sign; the DER is a stand-in (the DER itself is pki's and tested there). */
function recordingBuilder() {
  const calls: Parameters<CrlBuilder>[0][] = [];
  const builder: CrlBuilder = (input) => {
    calls.push(input);
    return Uint8Array.from([0x30, 0x00]);
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
    ],
    builder,
    crlLifetimeMs: DAY,
  });
  let n = 0;
  const revoked = async (o: { issuer?: string; notAfter?: Date; at?: Date; reason?: string } = {}) => {
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
    await store.markRevoked(serial, { reason: o.reason ?? 'keyCompromise', revokedAt: o.at ?? new Date(now) });
    return serial;
  };
  return { store, state, calls, revoked, setNow: (d: Date) => (now = d.getTime()) };
}

describe('revocation state and CRLs', () => {
  it('refresh loads every revocation and publishes each level with its own entries; numbers increase', async () => {
    const { state, calls, revoked } = await setup();
    const leaf = await revoked();
    const intermediateCert = await revoked({ issuer: ROOT, reason: 'caCompromise' });
    await state.refresh();
    expect(state.crl('intermediate')).toMatchObject({ number: 1n, entries: 1, etag: '"intermediate-1"' });
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

  it('add() republishes only the level of the new entry, and a feed listener hears each serial once', async () => {
    const { state, revoked, store } = await setup();
    await state.refresh();
    const heard: FeedEvent[] = [];
    state.onEvent((e) => heard.push(e));
    const serial = await revoked();
    const rec = await store.getCertificate(serial);
    const entry = {
      serial,
      issuerFingerprint: INT,
      revokedAt: rec?.revokedAt ?? NOW,
      reason: 'keyCompromise' as const,
      notAfter: rec?.notAfter ?? NOW,
    };
    await state.add(entry);
    await state.add(entry);
    await state.refresh();
    expect(heard.map((e) => e.entry.serial)).toEqual([serial]);
    expect(state.crl('intermediate')?.entries).toBe(1);
    expect(state.crl('root')?.number).toBe(2n); // refresh twice; add() did not touch it
    expect(state.crl('intermediate')?.number).toBe(3n);
  });

  it('keeps revoked-but-unexpired entries; drops them once the certificate has expired', async () => {
    const { state, revoked, setNow } = await setup();
    await revoked({ notAfter: new Date(NOW.getTime() + 2 * DAY) });
    await state.refresh();
    expect(state.crl('intermediate')?.entries).toBe(1);
    setNow(new Date(NOW.getTime() + 2 * DAY)); // valid through notAfter inclusive
    await state.refresh();
    expect(state.crl('intermediate')?.entries).toBe(1);
    setNow(new Date(NOW.getTime() + 2 * DAY + 1000));
    await state.refresh();
    expect(state.crl('intermediate')?.entries).toBe(0);
  });

  it('serves all revocations to a new subscriber, and on resume those after the last id plus a margin before it', async () => {
    const { state, revoked } = await setup();
    const a = await revoked({ at: new Date(NOW.getTime() - 10 * RESUME_MARGIN_MS) });
    const b = await revoked({ at: new Date(NOW.getTime() - 1000) });
    const c = await revoked({ at: NOW });
    await state.refresh();
    const all = state.since(undefined);
    expect(all.map((e) => e.entry.serial)).toEqual([a, b, c]);
    const afterB = state.since(all[1]?.id);
    expect(afterB.map((e) => e.entry.serial)).toEqual([c]);
    const afterA = state.since(all[0]?.id);
    expect(afterA.map((e) => e.entry.serial)).toEqual([b, c]);
    expect(state.since('garbage').map((e) => e.entry.serial)).toEqual([a, b, c]);
  });
});
