// The dashboard's backend over real HTTPS: admin reads (audit log with the chain verdict, one
// certificate in detail, unused tokens), one-time login links exchanged for a session cookie, CSRF
// on cookie-authenticated mutations, and refusal of cross-site browser requests.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CaClient } from '@mutual/sdk';
import { auditResponse, certificateDetail, sessionResponse, tokensResponse } from '@mutual/sdk/contract';
import {
  admin,
  call,
  cleanupDirs,
  enroll,
  errorCode,
  mintToken,
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

const secretOf = (link: string): string => new URL(link).hash.slice(1);

async function login(): Promise<{ cookie: string; csrf: string; setCookie: string }> {
  const r = await call(ca, { path: '/ui/session', body: { secret: secretOf(ca.server.loginLink()) } });
  expect(r.status, r.body.toString()).toBe(200);
  const setCookie = String(r.headers['set-cookie']);
  const body = sessionResponse.parse(r.json());
  return { cookie: setCookie.split(';')[0] ?? '', csrf: body.csrfToken ?? '', setCookie };
}

describe('ca server: dashboard sessions and admin reads', () => {
  it('GET /v1/audit: admins only, newest first, filtered, with the verdict of the whole chain', async () => {
    const anonymous = await call(ca, { path: '/v1/audit' });
    expect(anonymous.status).toBe(401);
    const r = await call(ca, { path: '/v1/audit?limit=5', ...admin(ca) });
    expect(r.status, r.body.toString()).toBe(200);
    const body = auditResponse.parse(r.json());
    expect(body.chain).toMatchObject({ ok: true, brokenAt: null });
    expect(body.items.length).toBeGreaterThan(0);
    const seqs = body.items.map((i) => i.seq);
    expect([...seqs].sort((a, b) => b - a)).toEqual(seqs);
    const starts = auditResponse.parse((await call(ca, { path: '/v1/audit?action=ca.start', ...admin(ca) })).json());
    expect(starts.items.every((i) => i.action === 'ca.start')).toBe(true);
    expect(starts.items.length).toBeGreaterThan(0);
    expect((await call(ca, { path: '/v1/audit?bogus=1', ...admin(ca) })).status).toBe(400);
  });

  it('GET /v1/certificates/:serial: chain, fingerprints, extensions in words and audit history', async () => {
    const issued = await enroll(ca, 'detail', 'DNS:detail.internal', { dns: ['detail.internal'] }, 'server');
    const r = await call(ca, { path: `/v1/certificates/${issued.serial}`, ...admin(ca) });
    expect(r.status, r.body.toString()).toBe(200);
    const d = certificateDetail.parse(r.json());
    expect(d.summary).toMatchObject({ serial: issued.serial, state: 'valid', profile: 'server' });
    expect(d.chain).toHaveLength(3);
    expect(d.fingerprints.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(d.issuer).toContain('CN=');
    const names = d.extensions.map((e) => e.name);
    expect(names).toEqual(expect.arrayContaining(['Key Usage', 'Extended Key Usage', 'Subject Alternative Name']));
    expect(d.extensions.find((e) => e.name === 'Extended Key Usage')?.value).toContain('serverAuth');
    expect(d.extensions.find((e) => e.name === 'Subject Alternative Name')?.value).toContain('detail.internal');
    expect(d.audit.map((a) => a.action)).toContain('certificate.issue');
    expect(d.places).toEqual([]);
    expect((await call(ca, { path: '/v1/certificates/abcdef0123', ...admin(ca) })).status).toBe(404);
    expect((await call(ca, { path: '/v1/certificates/not-hex', ...admin(ca) })).status).toBe(400);
    expect((await call(ca, { path: `/v1/certificates/${issued.serial}` })).status).toBe(401);
  });

  it('GET /v1/tokens lists minted tokens until they are used, and never the token itself', async () => {
    const unused = await mintToken(ca, { dns: ['unused.internal'] }, 'server');
    await enroll(ca, 'used', 'DNS:used.internal', { dns: ['used.internal'] }, 'server');
    const r = await call(ca, { path: '/v1/tokens', ...admin(ca) });
    expect(r.status, r.body.toString()).toBe(200);
    const body = tokensResponse.parse(r.json());
    const dns = body.items.flatMap((t) => t.names.dns);
    expect(dns).toContain('unused.internal');
    expect(dns).not.toContain('used.internal');
    expect(r.body.toString()).not.toContain(unused);
    expect(body.items[0]?.mintedBy).toMatch(/^admin:[0-9a-f]+$/);
    expect((await call(ca, { path: '/v1/tokens' })).status).toBe(401);
    expect(ca.audit().map((a) => a.action)).toContain('tokens.list.refused');
  });

  it('the SDK client reads the same endpoints as typed calls', async () => {
    const client = new CaClient({ url: ca.server.url, ca: ca.server.rootPem, ...admin(ca) });
    const audit = await client.audit({ action: 'ca.start', limit: 1 });
    expect(audit.items).toHaveLength(1);
    expect(audit.chain.ok).toBe(true);
    const issued = await enroll(ca, 'sdk', 'DNS:sdk.internal', { dns: ['sdk.internal'] }, 'server');
    expect((await client.certificate(issued.serial)).summary.identity).toBe('sdk.internal');
    await mintToken(ca, { dns: ['sdk-unused.internal'] }, 'server');
    expect((await client.unusedTokens()).items.flatMap((t) => t.names.dns)).toContain('sdk-unused.internal');
  });

  it('a login link works once; the session cookie is HttpOnly, Secure, SameSite=Strict; the login is audited', async () => {
    const link = ca.server.loginLink();
    expect(link).toMatch(new RegExp(`^${ca.server.url}/ui/login#[A-Za-z0-9_-]{43}$`));
    const first = await call(ca, { path: '/ui/session', body: { secret: secretOf(link) } });
    expect(first.status).toBe(200);
    const setCookie = String(first.headers['set-cookie']);
    expect(setCookie).toMatch(/^__Host-mutual_session=[A-Za-z0-9_-]{43}; /);
    for (const flag of ['HttpOnly', 'Secure', 'SameSite=Strict', 'Path=/']) expect(setCookie).toContain(flag);
    expect(first.headers['cache-control']).toBe('no-store');
    const again = await call(ca, { path: '/ui/session', body: { secret: secretOf(link) } });
    expect(again.status).toBe(401);
    expect(errorCode(again)).toBe('ERR_AUTH_LOGIN_LINK_INVALID');
    const made = await call(ca, { path: '/ui/session', body: { secret: 'x'.repeat(43) } });
    expect(errorCode(made)).toBe('ERR_AUTH_LOGIN_LINK_INVALID');
    const actions = ca.audit().map((a) => a.action);
    expect(actions).toContain('dashboard.login');
    expect(actions).toContain('dashboard.login.refused');
    expect(JSON.stringify(ca.audit())).not.toContain(secretOf(link));
  });

  it('a login link expires after 15 minutes', async () => {
    const link = ca.server.loginLink();
    ca.clock.advance(15 * 60_000 + 1);
    try {
      const r = await call(ca, { path: '/ui/session', body: { secret: secretOf(link) } });
      expect(errorCode(r)).toBe('ERR_AUTH_LOGIN_LINK_INVALID');
    } finally {
      ca.clock.advance(-(15 * 60_000 + 1));
    }
  });

  it('with the session cookie: reads work; a mutation needs the CSRF header; then it is audited as the session', async () => {
    const { cookie, csrf } = await login();
    const who = sessionResponse.parse((await call(ca, { path: '/ui/session', headers: { cookie } })).json());
    expect(who).toMatchObject({ via: 'session', csrfToken: csrf });
    expect((await call(ca, { path: '/v1/certificates', headers: { cookie } })).status).toBe(200);
    const issued = await enroll(ca, 'victim', 'DNS:victim.internal', { dns: ['victim.internal'] }, 'server');
    const noCsrf = await call(ca, {
      path: '/v1/revoke',
      body: { serial: issued.serial, reason: 'keyCompromise' },
      headers: { cookie },
    });
    expect(noCsrf.status).toBe(403);
    expect(errorCode(noCsrf)).toBe('ERR_AUTH_CSRF');
    const wrongCsrf = await call(ca, {
      path: '/v1/tokens',
      body: { names: { dns: ['x.internal'] }, profile: 'server' },
      headers: { cookie, 'x-mutual-csrf': 'A'.repeat(43) },
    });
    expect(errorCode(wrongCsrf)).toBe('ERR_AUTH_CSRF');
    const ok = await call(ca, {
      path: '/v1/revoke',
      body: { serial: issued.serial, reason: 'keyCompromise' },
      headers: { cookie, 'x-mutual-csrf': csrf },
    });
    expect(ok.status, ok.body.toString()).toBe(200);
    const record = ca.audit().find((a) => a.action === 'certificate.revoke' && a.subject === issued.serial);
    expect(record?.actor).toMatch(/^admin-session:[0-9a-f]{12}$/);
    expect(record?.details['by']).toBe('admin');
    const minted = await call(ca, {
      path: '/v1/tokens',
      body: { names: { dns: ['y.internal'] }, profile: 'server' },
      headers: { cookie, 'x-mutual-csrf': csrf },
    });
    expect(minted.status).toBe(201);
  });

  it('refuses without a session, with a forged cookie, and after logout', async () => {
    expect((await call(ca, { path: '/v1/certificates' })).status).toBe(401);
    const forged = await call(ca, {
      path: '/v1/certificates',
      headers: { cookie: `__Host-mutual_session=${'a'.repeat(43)}` },
    });
    expect(forged.status).toBe(401);
    const nobody = sessionResponse.parse((await call(ca, { path: '/ui/session' })).json());
    expect(nobody.via).toBe('none');
    const { cookie, csrf } = await login();
    const out = await call(ca, {
      path: '/ui/logout',
      method: 'POST',
      rawBody: '{}',
      contentType: 'application/json',
      headers: { cookie, 'x-mutual-csrf': csrf },
    });
    expect(out.status).toBe(204);
    expect((await call(ca, { path: '/v1/certificates', headers: { cookie } })).status).toBe(401);
  });

  it('refuses mutating requests a browser marks as cross-site, even with the admin certificate', async () => {
    const body = { names: { dns: ['z.internal'] }, profile: 'server' };
    const evil = await call(ca, {
      path: '/v1/tokens',
      body,
      headers: { origin: 'https://evil.example' },
      ...admin(ca),
    });
    expect(evil.status).toBe(403);
    expect(errorCode(evil)).toBe('ERR_AUTH_CSRF');
    const site = await call(ca, {
      path: '/v1/tokens',
      body,
      headers: { 'sec-fetch-site': 'cross-site' },
      ...admin(ca),
    });
    expect(site.status).toBe(403);
    const same = await call(ca, {
      path: '/v1/tokens',
      body,
      headers: { origin: new URL(ca.server.url).origin, 'sec-fetch-site': 'same-origin' },
      ...admin(ca),
    });
    expect(same.status).toBe(201);
  });

  it('serves /ui with a strict content security policy', async () => {
    const r = await call(ca, { path: '/ui/' });
    expect([200, 503]).toContain(r.status);
    expect(r.headers['content-security-policy']).toContain("default-src 'self'");
    expect(r.headers['content-security-policy']).toContain("script-src 'self'");
    expect(r.headers['x-frame-options']).toBe('DENY');
    expect((await call(ca, { path: '/ui/../ca.yaml' })).status).not.toBe(200);
    expect((await call(ca, { path: '/ui/%2e%2e/%2e%2e/package.json' })).status).toBe(404);
  });
});
