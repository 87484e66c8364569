import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { X509Certificate } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { generateKeyPair } from '@mutual/sdk';
import { openSqliteStore, type Store } from '../store/index.js';
import { createCaHierarchy } from './hierarchy.js';
import { createIssuanceService, type IssuanceServiceDeps } from './issue.js';
import { compileProfilePolicy, type LeafProfile, type ProfilePolicyInput } from './policy.js';
import type { CaStore } from './ports.js';

const NOW = new Date('2031-05-04T10:00:00Z');
const policyInput: ProfilePolicyInput = {
  dns: { allow: ['**.internal'], allowWildcards: false },
  ip: { allow: ['127.0.0.0/8'] },
  spiffe: { trustDomain: 'example.org', paths: ['/**'] },
  email: { allow: [] },
  maxLifetimeMs: 30 * 86_400_000,
  keyTypes: ['p256', 'ed25519'],
};
const policies = Object.fromEntries(
  (['server', 'client', 'both'] as const).map((p) => [p, compileProfilePolicy(p, policyInput)]),
) as Record<LeafProfile, ReturnType<typeof compileProfilePolicy>>;
const hierarchy = createCaHierarchy({ name: 'Test', keyType: 'p256', now: NOW, random: (n) => randomBytes(n) });

const stores: Store[] = [];
afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.close()));
});

async function setup(over: Partial<IssuanceServiceDeps> = {}): Promise<{ store: Store; deps: IssuanceServiceDeps }> {
  const store = await openSqliteStore({ file: path.join(mkdtempSync(path.join(tmpdir(), 'mutual-issue-')), 'ca.db') });
  stores.push(store);
  const deps: IssuanceServiceDeps = {
    store,
    issuer: {
      certificateDer: hierarchy.intermediate.der,
      chainDer: [hierarchy.root.der],
      privateKey: hierarchy.intermediate.privateKey,
    },
    policies,
    defaultLifetimeMs: 86_400_000,
    clock: { now: () => NOW },
    random: (n) => randomBytes(n),
    ...over,
  };
  return { store, deps };
}
const names = (dns: string[]) => ({ dns, ip: [], uri: [], email: [] });

describe('issuance', () => {
  it('records the intent, then the result; the certificate chains to the root and carries the clock-derived validity', async () => {
    const { store, deps } = await setup();
    const issued = await createIssuanceService(deps).issue({
      profile: 'server',
      names: names(['API.internal']),
      publicKey: generateKeyPair('p256').publicKey,
      requester: 'test',
    });
    const rec = await store.getCertificate(issued.serial);
    expect(rec).toMatchObject({
      status: 'issued',
      profile: 'server',
      identity: 'api.internal',
      requester: 'test',
      fingerprintSha256: issued.fingerprintSha256,
    });
    const leaf = new X509Certificate(issued.der);
    expect(leaf.checkIssued(new X509Certificate(hierarchy.intermediate.der))).toBe(true);
    expect(new Date(leaf.validFrom).getTime()).toBe(NOW.getTime() - 60_000);
    expect(new Date(leaf.validTo).getTime()).toBe(NOW.getTime() + 86_400_000);
    // 128 random bits, first octet non-zero, as canonical hex (no leading zeros): 31 or 32 digits.
    expect(issued.serial).toMatch(/^[1-9a-f][0-9a-f]{30,31}$/);
    // The result and its audit record commit together.
    const audit = await store.listAudit();
    expect(audit.map((a) => [a.action, a.subject])).toEqual([['certificate.issue', issued.serial]]);
    expect(audit[0]?.details).toMatchObject({ profile: 'server', identity: 'api.internal', requester: 'test' });
  });

  it('never lets a certificate out without its record: when recording the result fails, nothing is returned', async () => {
    const { store, deps } = await setup();
    // The same store, except that recording a result fails (as a full disk would).
    const failingCompletion = (inner: CaStore): CaStore =>
      new Proxy(inner, {
        get(target, prop, receiver) {
          if (prop === 'completeIssuance') return () => Promise.reject(new Error('disk full'));
          if (prop === 'transaction') {
            return <T>(fn: (tx: CaStore) => Promise<T>) => target.transaction((tx) => fn(failingCompletion(tx)));
          }
          const value: unknown = Reflect.get(target, prop, receiver);
          return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
        },
      });
    const failing = failingCompletion(store);
    await expect(
      createIssuanceService({ ...deps, store: failing }).issue({
        profile: 'server',
        names: names(['a.internal']),
        publicKey: generateKeyPair('p256').publicKey,
        requester: 't',
      }),
    ).rejects.toThrow();
    const pending = await store.listPending(new Date(NOW.getTime() + 1));
    expect(pending).toHaveLength(1);
    expect((await store.listAudit()).map((a) => a.action)).not.toContain('certificate.issue');
    expect(pending[0]?.pem).toBeNull();
  });

  it('draws a new serial when the first collides, so a serial is never used twice', async () => {
    const { store, deps } = await setup();
    const fixed = Buffer.alloc(16, 0x11);
    let calls = 0;
    const random = (n: number): Uint8Array => (calls++ < 2 ? fixed.subarray(0, n) : randomBytes(n));
    const svc = createIssuanceService({ ...deps, random });
    const a = await svc.issue({
      profile: 'server',
      names: names(['a.internal']),
      publicKey: generateKeyPair('p256').publicKey,
      requester: 't',
    });
    const b = await svc.issue({
      profile: 'server',
      names: names(['b.internal']),
      publicKey: generateKeyPair('p256').publicKey,
      requester: 't',
    });
    expect(a.serial).not.toBe(b.serial);
    expect((await store.getCertificate(a.serial))?.identity).toBe('a.internal');
    expect((await store.getCertificate(b.serial))?.identity).toBe('b.internal');
  });

  it('issues unique serials under 200 concurrent requests', async () => {
    const { store, deps } = await setup();
    const svc = createIssuanceService(deps);
    const key = generateKeyPair('p256').publicKey;
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        svc.issue({ profile: 'client', names: names([`w${i}.internal`]), publicKey: key, requester: 't' }),
      ),
    );
    expect(new Set(results.map((r) => r.serial)).size).toBe(200);
    const counts = await store.countByState(NOW);
    expect(counts.valid + counts.expiring).toBe(200);
  });

  it('refuses before recording anything: unknown profile, disallowed key type, names outside policy', async () => {
    const { store, deps } = await setup();
    const svc = createIssuanceService(deps);
    await expect(
      svc.issue({
        profile: 'root',
        names: names(['a.internal']),
        publicKey: generateKeyPair('p256').publicKey,
        requester: 't',
      }),
    ).rejects.toMatchObject({ code: 'ERR_POLICY_PROFILE_UNKNOWN' });
    await expect(
      svc.issue({
        profile: 'server',
        names: names(['a.internal']),
        publicKey: generateKeyPair('rsa2048').publicKey,
        requester: 't',
      }),
    ).rejects.toMatchObject({ code: 'ERR_KEY_NOT_ALLOWED' });
    await expect(
      svc.issue({
        profile: 'server',
        names: names(['a.example.com']),
        publicKey: generateKeyPair('p256').publicKey,
        requester: 't',
      }),
    ).rejects.toMatchObject({ code: 'ERR_POLICY_DNS_NOT_ALLOWED' });
    const all = await store.listCertificates({ now: NOW });
    expect(all.items).toHaveLength(0);
  });

  it('clamps the lifetime to the issuer and refuses once the issuer has expired', async () => {
    const late = new Date(hierarchy.intermediate.notAfter.getTime() - 3_600_000);
    const { deps } = await setup({ clock: { now: () => late } });
    const issued = await createIssuanceService(deps).issue({
      profile: 'server',
      names: names(['a.internal']),
      publicKey: generateKeyPair('p256').publicKey,
      requester: 't',
    });
    expect(issued.notAfter.getTime()).toBeLessThanOrEqual(hierarchy.intermediate.notAfter.getTime());
    const after = new Date(hierarchy.intermediate.notAfter.getTime() + 1000);
    const { deps: d2 } = await setup({ clock: { now: () => after } });
    await expect(
      createIssuanceService(d2).issue({
        profile: 'server',
        names: names(['a.internal']),
        publicKey: generateKeyPair('p256').publicKey,
        requester: 't',
      }),
    ).rejects.toMatchObject({ code: 'ERR_CA_ISSUER_UNUSABLE' });
  });
});
