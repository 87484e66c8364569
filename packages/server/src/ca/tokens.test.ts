import { randomBytes, sign as rawSign } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { SignJWT } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { generateKeyPair } from '@mutual/sdk';
import { openSqliteStore, type Store } from '../store/index.js';
import { compileProfilePolicy, type LeafProfile, type ProfilePolicyInput } from './policy.js';
import { createTokenService, sameNames, type TokenServiceDeps } from './tokens.js';

const NOW = new Date('2031-05-04T10:00:00Z');
const policyInput: ProfilePolicyInput = {
  dns: { allow: ['**.internal'], allowWildcards: false },
  ip: { allow: ['127.0.0.0/8'] },
  spiffe: { trustDomain: 'example.org', paths: ['/**'] },
  email: { allow: [] },
  maxLifetimeMs: 30 * 86_400_000,
  keyTypes: ['p256'],
};
const policies = Object.fromEntries(
  (['server', 'client', 'both'] as const).map((p) => [p, compileProfilePolicy(p, policyInput)]),
) as Record<LeafProfile, ReturnType<typeof compileProfilePolicy>>;
const names = (dns: string[]) => ({ dns, ip: [], uri: [], email: [] });

const stores: Store[] = [];
afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.close()));
});

async function service(over: Partial<TokenServiceDeps> = {}) {
  const store = await openSqliteStore({ file: path.join(mkdtempSync(path.join(tmpdir(), 'mutual-tokens-')), 'ca.db') });
  stores.push(store);
  let now = NOW.getTime();
  const deps: TokenServiceDeps = {
    signingKey: generateKeyPair('p256').privateKey,
    issuer: 'urn:mutual:ca:test',
    audience: 'https://ca.internal:8443/v1/sign',
    policies,
    defaultTtlMs: 5 * 60_000,
    maxTtlMs: 3_600_000,
    clock: { now: () => new Date(now) },
    random: (n) => randomBytes(n),
    store,
    ...over,
  };
  return { svc: createTokenService(deps), deps, store, setNow: (d: Date) => (now = d.getTime()) };
}

describe('enrollment tokens', () => {
  it('round-trips: names normalized by the policy, profile, expiry; the audit record names the jti, never the token', async () => {
    const { svc, store } = await service();
    const minted = await svc.mint({ names: names(['API.internal']), profile: 'server', actor: 'admin:1' });
    expect(minted.names.dns).toEqual(['api.internal']);
    expect(minted.expiresAt.getTime()).toBe(NOW.getTime() + 5 * 60_000);
    const claims = await svc.verify(minted.token);
    expect(claims).toEqual({ jti: minted.jti, profile: 'server', names: minted.names, expiresAt: minted.expiresAt });
    expect(await store.verifyAuditChain()).toEqual({ ok: true, count: 1 });
    const page = JSON.stringify(await store.listCertificates({ now: NOW }));
    expect(page).not.toContain(minted.token);
  });

  it('refuses at mint: a ttl above the maximum and names outside the policy', async () => {
    const { svc } = await service();
    await expect(
      svc.mint({ names: names(['a.internal']), profile: 'client', ttlMs: 2 * 3_600_000, actor: 'a' }),
    ).rejects.toMatchObject({
      code: 'ERR_TOKEN_TTL_EXCEEDED',
    });
    await expect(svc.mint({ names: names(['a.example.com']), profile: 'client', actor: 'a' })).rejects.toMatchObject({
      code: 'ERR_POLICY_DNS_NOT_ALLOWED',
    });
  });

  it('refuses at verify: expired, not yet valid, another audience, another key, another issuer', async () => {
    const { svc, deps, setNow } = await service();
    const t = (await svc.mint({ names: names(['a.internal']), profile: 'client', actor: 'a' })).token;
    setNow(new Date(NOW.getTime() + 5 * 60_000));
    await expect(svc.verify(t)).rejects.toMatchObject({ code: 'ERR_TOKEN_EXPIRED' });
    setNow(new Date(NOW.getTime() - 60_000));
    await expect(svc.verify(t)).rejects.toMatchObject({ code: 'ERR_TOKEN_NOT_YET_VALID' });
    setNow(NOW);
    const elsewhere = createTokenService({ ...deps, audience: 'https://other.internal/v1/sign' });
    await expect(elsewhere.verify(t)).rejects.toMatchObject({ code: 'ERR_TOKEN_AUDIENCE' });
    const rekeyed = createTokenService({ ...deps, signingKey: generateKeyPair('p256').privateKey });
    await expect(rekeyed.verify(t)).rejects.toMatchObject({ code: 'ERR_TOKEN_INVALID' });
    const otherIssuer = createTokenService({ ...deps, issuer: 'urn:mutual:ca:other' });
    await expect(otherIssuer.verify(t)).rejects.toMatchObject({ code: 'ERR_TOKEN_INVALID' });
  });

  it('refuses a token signed by its own key that lives longer than any token it mints', async () => {
    const { svc, deps } = await service();
    const iat = Math.floor(NOW.getTime() / 1000);
    const forged = await new SignJWT({ mutual: { profile: 'client', names: names(['a.internal']) } })
      .setProtectedHeader({ alg: 'ES256', typ: 'mutual-enroll+jwt' })
      .setIssuer(deps.issuer)
      .setAudience(deps.audience)
      .setJti('abcdefghijklmnopqrstuv')
      .setIssuedAt(iat)
      .setNotBefore(iat)
      .setExpirationTime(iat + 30 * 86_400)
      .sign(deps.signingKey);
    await expect(svc.verify(forged)).rejects.toMatchObject({ code: 'ERR_TOKEN_INVALID' });
  });

  it('verifies only our exact JWS form: strict header, P1363 signature, typed registered claims', async () => {
    const { svc, deps } = await service();
    const iat = Math.floor(NOW.getTime() / 1000);
    type Header = Parameters<SignJWT['setProtectedHeader']>[0];
    const sign = (header: Header, claims: Record<string, unknown> = {}) =>
      new SignJWT({ mutual: { profile: 'client', names: names(['a.internal']) }, ...claims })
        .setProtectedHeader(header)
        .setIssuer(deps.issuer)
        .setJti('abcdefghijklmnopqrstuv')
        .setIssuedAt(iat)
        .setNotBefore(iat)
        .setExpirationTime(iat + 300)
        .sign(deps.signingKey);
    const base = { alg: 'ES256', typ: 'mutual-enroll+jwt' };
    // Headers jose will not sign, signed by hand with the CA's token key.
    const craft = async (header: Record<string, unknown>, claims: Record<string, unknown> = {}): Promise<string> => {
      const [, body] = (await sign(base, { aud: deps.audience })).split('.') as [string, string, string];
      const decoded = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as Record<string, unknown>;
      const payload = Buffer.from(JSON.stringify({ ...decoded, ...claims })).toString('base64url');
      const head = Buffer.from(JSON.stringify(header)).toString('base64url');
      const sig = rawSign('sha256', Buffer.from(`${head}.${payload}`), {
        key: deps.signingKey,
        dsaEncoding: 'ieee-p1363',
      });
      return `${head}.${payload}.${sig.toString('base64url')}`;
    };
    // A list of audiences that holds ours is accepted, as RFC 7519 allows.
    const listed = await sign(base, { aud: ['https://elsewhere.internal', deps.audience] });
    await expect(svc.verify(listed)).resolves.toMatchObject({ profile: 'client' });
    const refused: [string, Promise<string>, string][] = [
      ['no audience', sign(base), 'ERR_TOKEN_AUDIENCE'],
      ['crit header', craft({ ...base, crit: ['exp'], exp: 1 }), 'ERR_TOKEN_INVALID'],
      ['b64 header', craft({ ...base, b64: true }), 'ERR_TOKEN_INVALID'],
      ['no typ', sign({ alg: 'ES256' }, { aud: deps.audience }), 'ERR_TOKEN_INVALID'],
      ['exp as text', craft(base, { exp: String(iat + 300) }), 'ERR_TOKEN_MALFORMED'],
      ['no nbf', craft(base, { nbf: undefined }), 'ERR_TOKEN_MALFORMED'],
      ['another issuer', craft(base, { iss: 'urn:mutual:ca:other' }), 'ERR_TOKEN_INVALID'],
    ];
    for (const [what, token, code] of refused) {
      await expect(svc.verify(await token), what).rejects.toMatchObject({ code });
    }
    // The same signature in DER form (what node:crypto makes by default) is not a JWS signature.
    const good = await sign(base, { aud: deps.audience });
    const [h, p, sig] = good.split('.') as [string, string, string];
    const raw = Buffer.from(sig, 'base64url');
    const int = (b: Buffer) => {
      let v = b;
      while (v.length > 1 && v[0] === 0 && (v[1] ?? 0) < 0x80) v = v.subarray(1);
      return (v[0] ?? 0) >= 0x80 ? Buffer.concat([Buffer.from([0]), v]) : v;
    };
    const r = int(raw.subarray(0, 32));
    const sv = int(raw.subarray(32));
    const der = Buffer.concat([
      Buffer.from([0x30, r.length + sv.length + 4, 0x02, r.length]),
      r,
      Buffer.from([0x02, sv.length]),
      sv,
    ]);
    await expect(svc.verify(`${h}.${p}.${der.toString('base64url')}`)).rejects.toMatchObject({
      code: 'ERR_TOKEN_INVALID',
    });
    await expect(svc.verify(`${h}.${p}.`)).rejects.toMatchObject({ code: 'ERR_TOKEN_INVALID' });
    // A payload that is not a JSON object, correctly signed, is malformed.
    const notObject = Buffer.from('[1,2]').toString('base64url');
    const arraySig = rawSign('sha256', Buffer.from(`${h}.${notObject}`), {
      key: deps.signingKey,
      dsaEncoding: 'ieee-p1363',
    });
    await expect(svc.verify(`${h}.${notObject}.${arraySig.toString('base64url')}`)).rejects.toMatchObject({
      code: 'ERR_TOKEN_MALFORMED',
    });
    await expect(svc.verify(good)).resolves.toMatchObject({ jti: 'abcdefghijklmnopqrstuv' });
  });

  it('refuses malformed input before any parsing and keys other than P-256', async () => {
    const { svc, deps } = await service();
    for (const bad of ['', 'a.b', 'a.b.c.d', `${'a'.repeat(9000)}.b.c`, 'é.b.c']) {
      await expect(svc.verify(bad)).rejects.toMatchObject({ code: 'ERR_TOKEN_MALFORMED' });
    }
    expect(() => createTokenService({ ...deps, signingKey: generateKeyPair('p384').privateKey })).toThrow(/P-256/);
    expect(() => createTokenService({ ...deps, signingKey: generateKeyPair('ed25519').privateKey })).toThrow(/P-256/);
  });

  it('compares names as sets per type', () => {
    expect(sameNames(names(['a', 'b']), names(['b', 'a', 'a']))).toBe(true);
    expect(sameNames(names(['a']), names(['a', 'b']))).toBe(false);
    expect(sameNames({ ...names([]), ip: ['127.0.0.1'] }, names(['127.0.0.1']))).toBe(false);
  });
});
