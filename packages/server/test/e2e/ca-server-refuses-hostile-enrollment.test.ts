// DESIGN §6 "hostile requests to the CA" against POST /v1/sign: expired, not-yet-valid and
// wrong-audience tokens, alg none and algorithm confusion, forged and tampered tokens, a token
// for other names than the CSR's, CSRs asking for CA rights or extra EKUs, oversized bodies,
// unknown fields. Each: a clear 4xx with a catalog code, nothing issued, a refusal in the audit log.
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { SignJWT, decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importPrivateKey } from '@mutual/sdk';
import {
  admin,
  call,
  cleanupDirs,
  errorCode,
  mintToken,
  opensslCsr,
  opensslCsrForKey,
  run,
  startTestCa,
  type TestCa,
} from './support/ca-server.js';

let ca: TestCa;
beforeAll(async () => {
  ca = await startTestCa();
});
afterAll(async () => {
  await ca.close();
  cleanupDirs();
});

/** The CA's own token key, read the way an attacker who stole nothing could not — to build tokens that differ in one claim only. */
function tokenKey() {
  const pass = readFileSync(path.join(ca.dir, 'secrets/ca-passphrase'), 'utf8').trim();
  return importPrivateKey(readFileSync(path.join(ca.dir, 'token.key'), 'utf8'), pass);
}

async function craft(
  over: {
    aud?: string;
    typ?: string;
    alg?: string;
    key?: Parameters<SignJWT['sign']>[0];
    exp?: number;
    names?: object;
  } = {},
): Promise<string> {
  const real = decodeJwt(await mintToken(ca, { dns: ['x.internal'] }));
  const now = Math.floor(ca.clock.now().getTime() / 1000);
  return new SignJWT({
    mutual: { profile: 'client', names: over.names ?? { dns: ['x.internal'], ip: [], uri: [], email: [] } },
  })
    .setProtectedHeader({ alg: over.alg ?? 'ES256', typ: over.typ ?? 'mutual-enroll+jwt' })
    .setIssuer(real.iss ?? '')
    .setAudience(over.aud ?? (real.aud as string))
    .setJti(`crafted${Math.random().toString(36).slice(2)}xxxxxxxx`)
    .setIssuedAt(now)
    .setNotBefore(now - 30)
    .setExpirationTime(over.exp ?? now + 300)
    .sign(over.key ?? tokenKey());
}

async function signWith(token: string, sans = 'DNS:x.internal', extra: string[] = []) {
  const { csr } = opensslCsr(ca, `h${Math.random().toString(36).slice(2)}`, sans, extra);
  return call(ca, { path: '/v1/sign', body: { token, csr } });
}

async function clientCount(): Promise<number> {
  const r = await call(ca, { path: '/v1/certificates?profile=client', ...admin(ca) });
  return r.json<{ items: unknown[] }>().items.length;
}

describe('ca server: hostile enrollment requests', () => {
  it('refuses an expired token (clock moved past exp) and a not-yet-valid one (clock moved back)', async () => {
    const token = await mintToken(ca, { dns: ['x.internal'] }, 'client', '5m');
    ca.clock.advance(6 * 60_000);
    try {
      const r = await signWith(token);
      expect([r.status, errorCode(r)]).toEqual([401, 'ERR_TOKEN_EXPIRED']);
    } finally {
      ca.clock.advance(-6 * 60_000);
    }
    const early = await mintToken(ca, { dns: ['x.internal'] });
    ca.clock.advance(-10 * 60_000);
    try {
      const r = await signWith(early);
      expect([r.status, errorCode(r)]).toEqual([401, 'ERR_TOKEN_NOT_YET_VALID']);
    } finally {
      ca.clock.advance(10 * 60_000);
    }
  });

  it('refuses a token signed by the CA key but minted for another CA endpoint (audience)', async () => {
    const r = await signWith(await craft({ aud: 'https://other-ca.example:8443/v1/sign' }));
    expect([r.status, errorCode(r)]).toEqual([401, 'ERR_TOKEN_AUDIENCE']);
  });

  it('refuses alg none, HS256 keyed with the public key, another ES256 key, ES384, a wrong typ and a tampered payload', async () => {
    const good = await craft();
    const [h, p] = good.split('.') as [string, string, string];
    const header = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const none = `${header({ alg: 'none', typ: 'mutual-enroll+jwt' })}.${p}.`;
    const spkiPem = createPublicKey(tokenKey()).export({ type: 'spki', format: 'pem' }).toString();
    const hs256 = await craft({ alg: 'HS256', key: new TextEncoder().encode(spkiPem) });
    const otherKey = await craft({ key: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey });
    const es384 = await craft({ alg: 'ES384', key: generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey });
    const wrongTyp = await craft({ typ: 'JWT' });
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString('utf8')) as { mutual: { names: { dns: string[] } } };
    claims.mutual.names.dns = ['admin.internal'];
    const tampered = `${h}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${good.split('.')[2] ?? ''}`;
    for (const token of [none, hs256, otherKey, es384, wrongTyp, tampered]) {
      const r = await signWith(token, token === tampered ? 'DNS:admin.internal' : 'DNS:x.internal');
      expect([r.status, errorCode(r)], token.slice(0, 40)).toEqual([401, 'ERR_TOKEN_INVALID']);
    }
    expect((await signWith('not-a-jwt-at-all')).status).toBe(401);
  });

  it('refuses a CSR for other names than the token binds, and keeps the token usable for the right CSR', async () => {
    const before = await clientCount();
    const token = await mintToken(ca, { dns: ['x.internal'] });
    for (const sans of ['DNS:y.internal', 'DNS:x.internal,DNS:y.internal', 'URI:spiffe://example.test/x']) {
      const r = await signWith(token, sans);
      expect([r.status, errorCode(r)], sans).toEqual([403, 'ERR_TOKEN_NAMES_MISMATCH']);
    }
    expect(await clientCount()).toBe(before);
    expect((await signWith(token, 'DNS:X.internal')).status).toBe(201);
  });

  it('ignores a CSR asking for CA rights and extra EKUs: the profile decides (openssl shows CA:FALSE, clientAuth only)', async () => {
    const token = await mintToken(ca, { dns: ['x.internal'] });
    const r = await signWith(token, 'DNS:x.internal', [
      '-addext',
      'basicConstraints=critical,CA:TRUE,pathlen:3',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
      '-addext',
      'extendedKeyUsage=serverAuth,codeSigning,OCSPSigning',
    ]);
    expect(r.status).toBe(201);
    const file = ca.work('ca-rights.crt');
    writeFileSync(file, r.json<{ certificate: string }>().certificate);
    const text = run('openssl', ['x509', '-in', file, '-noout', '-text']).stdout;
    expect(text).toContain('CA:FALSE');
    expect(text).toMatch(/Extended Key Usage: *\n *TLS Web Client Authentication\n/);
    expect(text).not.toContain('Certificate Sign');
    expect(text).not.toContain('Code Signing');
  });

  it('refuses oversized bodies with 413 before parsing, unknown fields and malformed JSON with 400, other media types with 415', async () => {
    const token = await mintToken(ca, { dns: ['x.internal'] });
    const { csr } = opensslCsr(ca, 'body', 'DNS:x.internal');
    const big = await call(ca, { path: '/v1/sign', rawBody: `{"token":"${'a'.repeat(2 * 1024 * 1024)}"}` });
    expect([big.status, errorCode(big)]).toEqual([413, 'ERR_HTTP_BODY_TOO_LARGE']);
    const unknown = await call(ca, { path: '/v1/sign', body: { token, csr, profile: 'both', isCA: true } });
    expect([unknown.status, errorCode(unknown)]).toEqual([400, 'ERR_HTTP_INVALID_REQUEST']);
    expect(JSON.stringify(unknown.json())).toContain('isCA');
    const broken = await call(ca, { path: '/v1/sign', rawBody: '{"token": ' });
    expect([broken.status, errorCode(broken)]).toEqual([400, 'ERR_HTTP_MALFORMED_BODY']);
    const form = await call(ca, {
      path: '/v1/sign',
      rawBody: 'token=x',
      contentType: 'application/x-www-form-urlencoded',
    });
    expect([form.status, errorCode(form)]).toEqual([415, 'ERR_HTTP_UNSUPPORTED_MEDIA_TYPE']);
    const proto = await call(ca, {
      path: '/v1/sign',
      rawBody: `{"token":"${token}","csr":"x","__proto__":{"admin":true}}`,
    });
    expect(proto.status).toBe(400);
    // The token was never consumed by any of these.
    expect((await call(ca, { path: '/v1/sign', body: { token, csr } })).status).toBe(201);
  });

  it('refuses a CSR without proof of possession and one with a weak key; the token stays unused', async () => {
    const token = await mintToken(ca, { dns: ['x.internal'] });
    const { csr } = opensslCsr(ca, 'pop', 'DNS:x.internal');
    // Flip one bit of the signature: the request no longer proves possession of its key.
    const der = Buffer.from(csr.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, ''), 'base64');
    der[der.length - 5] = (der[der.length - 5] ?? 0) ^ 0x01;
    const forged = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
    const pop = await call(ca, { path: '/v1/sign', body: { token, csr: forged } });
    expect([pop.status, errorCode(pop)]).toEqual([422, 'ERR_CSR_SIGNATURE_INVALID']);
    const weakKey = ca.work('weak.key');
    expect(
      run('openssl', ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:1024', '-out', weakKey]).status,
    ).toBe(0);
    const weak = await call(ca, {
      path: '/v1/sign',
      body: { token, csr: opensslCsrForKey(ca, 'weak', weakKey, 'DNS:x.internal') },
    });
    expect(weak.status).toBeGreaterThanOrEqual(400);
    expect(weak.status).toBeLessThan(500);
    expect(errorCode(weak)).toMatch(/^ERR_(KEY_WEAK|CSR_)/);
    expect((await call(ca, { path: '/v1/sign', body: { token, csr } })).status).toBe(201);
  });

  it('audits every refusal with its code, and never a token', () => {
    const refusals = ca.audit().filter((a) => a.action === 'sign.refused');
    const codes = new Set(refusals.map((a) => a.details['code']));
    for (const code of [
      'ERR_TOKEN_EXPIRED',
      'ERR_TOKEN_NOT_YET_VALID',
      'ERR_TOKEN_AUDIENCE',
      'ERR_TOKEN_INVALID',
      'ERR_TOKEN_MALFORMED',
      'ERR_TOKEN_NAMES_MISMATCH',
      'ERR_HTTP_BODY_TOO_LARGE',
      'ERR_HTTP_INVALID_REQUEST',
      'ERR_HTTP_MALFORMED_BODY',
      'ERR_HTTP_UNSUPPORTED_MEDIA_TYPE',
      'ERR_CSR_SIGNATURE_INVALID',
    ]) {
      expect(codes, code).toContain(code);
    }
    expect(refusals.every((a) => a.actor.startsWith('anonymous@127.0.0.1'))).toBe(true);
    expect(JSON.stringify(ca.audit())).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}\.eyJ/);
  });
});
