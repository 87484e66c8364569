// Admin endpoints over mTLS with the admin certificate from `ca init`: the inventory query and
// token minting (bound to policy-checked names, ttl capped), plus health, readiness and metrics.
import { availableParallelism } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { certificatesResponse, rootsResponse, tokenResponse } from '@mutual/sdk/contract';
import {
  admin,
  call,
  cleanupDirs,
  enroll,
  errorCode,
  runAsync,
  startTestCa,
  type TestCa,
} from './support/ca-server.js';

let ca: TestCa;
beforeAll(async () => {
  ca = await startTestCa({ serverYaml: '  tokens: { ttl: 7m, maxTtl: 1h }\n' });
});
afterAll(async () => {
  await ca.close();
  cleanupDirs();
});

describe('ca server: admin inventory and tokens', () => {
  it('GET /v1/roots serves the root and intermediate with the root fingerprint (what bootstrap pins)', async () => {
    const r = await call(ca, { path: '/v1/roots' });
    const body = rootsResponse.parse(r.json());
    expect(body.roots[0]?.trim()).toBe(ca.server.rootPem.trim());
    expect(body.fingerprint).toBe(ca.init.rootFingerprint);
  });

  it('mints tokens bound to normalized names, profile, audience and expiry; ES256 with a kid', async () => {
    const r = await call(ca, {
      path: '/v1/tokens',
      body: { names: { dns: ['API.internal'] }, profile: 'server', ttl: '10m' },
      ...admin(ca),
    });
    expect(r.status).toBe(201);
    const body = tokenResponse.parse(r.json());
    const header = decodeProtectedHeader(body.token);
    expect(header).toMatchObject({ alg: 'ES256', typ: 'mutual-enroll+jwt' });
    expect(header.kid).toMatch(/^[0-9a-f]{16}$/);
    const claims = decodeJwt(body.token);
    expect(claims).toMatchObject({
      aud: `${ca.server.url}/v1/sign`,
      jti: body.jti,
      sub: 'api.internal',
      mutual: { profile: 'server', names: { dns: ['api.internal'], ip: [], uri: [], email: [] } },
    });
    expect((claims.exp ?? 0) * 1000).toBe(new Date(body.expiresAt).getTime());
    expect((claims.exp ?? 0) - (claims.iat ?? 0)).toBe(600);
    // Without a ttl, the CA's server.tokens.ttl applies (7m here).
    const dflt = await call(ca, {
      path: '/v1/tokens',
      body: { names: { dns: ['api.internal'] }, profile: 'server' },
      ...admin(ca),
    });
    const c2 = decodeJwt(tokenResponse.parse(dflt.json()).token);
    expect((c2.exp ?? 0) - (c2.iat ?? 0)).toBe(420);
  });

  it('refuses a ttl over server.tokens.maxTtl, names outside the policy, unknown fields, and non-admins', async () => {
    const long = await call(ca, {
      path: '/v1/tokens',
      body: { names: { dns: ['a.internal'] }, profile: 'client', ttl: '2h' },
      ...admin(ca),
    });
    expect([long.status, errorCode(long)]).toEqual([400, 'ERR_TOKEN_TTL_EXCEEDED']);
    const outside = await call(ca, {
      path: '/v1/tokens',
      body: { names: { dns: ['www.example.com'] }, profile: 'client' },
      ...admin(ca),
    });
    expect([outside.status, errorCode(outside)]).toEqual([403, 'ERR_POLICY_DNS_NOT_ALLOWED']);
    const extra = await call(ca, {
      path: '/v1/tokens',
      body: { names: { dns: ['a.internal'] }, profile: 'client', admin: true },
      ...admin(ca),
    });
    expect([extra.status, errorCode(extra)]).toEqual([400, 'ERR_HTTP_INVALID_REQUEST']);
    const caProfile = await call(ca, {
      path: '/v1/tokens',
      body: { names: { dns: ['a.internal'] }, profile: 'intermediate' },
      ...admin(ca),
    });
    expect([caProfile.status, errorCode(caProfile)]).toEqual([400, 'ERR_HTTP_INVALID_REQUEST']);
    const leaf = await enroll(ca, 'not-admin', 'DNS:na.internal', { dns: ['na.internal'] });
    const denied = await call(ca, {
      path: '/v1/tokens',
      body: { names: { dns: ['a.internal'] }, profile: 'client' },
      cert: leaf.chain,
      key: leaf.key,
    });
    expect([denied.status, errorCode(denied)]).toEqual([403, 'ERR_AUTH_NOT_ADMIN']);
    const refused = ca
      .audit()
      .filter((a) => a.action === 'token.create.refused')
      .map((a) => a.details['code']);
    expect(refused).toEqual([
      'ERR_TOKEN_TTL_EXCEEDED',
      'ERR_POLICY_DNS_NOT_ALLOWED',
      'ERR_HTTP_INVALID_REQUEST',
      'ERR_HTTP_INVALID_REQUEST',
      'ERR_AUTH_NOT_ADMIN',
    ]);
  });

  it('GET /v1/certificates filters by state, profile, identity and search, and pages with a cursor (curl with the admin cert)', async () => {
    for (let i = 0; i < 3; i++)
      await enroll(ca, `inv${i}`, `DNS:inv${i}.internal`, { dns: [`inv${i}.internal`] }, 'server');
    const doomed = await enroll(ca, 'inv-doomed', 'DNS:doomed.internal', { dns: ['doomed.internal'] }, 'server');
    expect((await call(ca, { path: '/v1/revoke', body: { serial: doomed.serial }, ...admin(ca) })).status).toBe(200);

    const r = await runAsync('curl', [
      '-sS',
      '--fail-with-body',
      '--cacert',
      ca.files.root,
      '--cert',
      ca.files.adminCert,
      '--key',
      ca.files.adminKey,
      `${ca.server.url}/v1/certificates?profile=server&limit=2`,
    ]);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    const page1 = certificatesResponse.parse(JSON.parse(r.stdout));
    expect(page1.items).toHaveLength(2);
    expect(page1.nextCursor).not.toBeNull();
    const page2 = certificatesResponse.parse(
      (
        await call(ca, {
          path: `/v1/certificates?profile=server&limit=2&cursor=${encodeURIComponent(page1.nextCursor ?? '')}`,
          ...admin(ca),
        })
      ).json(),
    );
    const serials = [...page1.items, ...page2.items].map((c) => c.serial);
    expect(new Set(serials).size).toBe(4);

    const revoked = certificatesResponse.parse(
      (await call(ca, { path: '/v1/certificates?state=revoked', ...admin(ca) })).json(),
    );
    expect(revoked.items.map((c) => c.serial)).toEqual([doomed.serial]);
    expect(revoked.items[0]).toMatchObject({
      state: 'revoked',
      revocationReason: 'unspecified',
      identity: 'doomed.internal',
    });
    const byIdentity = certificatesResponse.parse(
      (await call(ca, { path: '/v1/certificates?identity=inv1.internal', ...admin(ca) })).json(),
    );
    expect(byIdentity.items).toHaveLength(1);
    const search = certificatesResponse.parse(
      (await call(ca, { path: '/v1/certificates?search=INV2', ...admin(ca) })).json(),
    );
    expect(search.items.map((c) => c.identity)).toEqual(['inv2.internal']);
    const admins = certificatesResponse.parse(
      (await call(ca, { path: '/v1/certificates?profile=admin', ...admin(ca) })).json(),
    );
    expect(admins.items[0]).toMatchObject({ identity: 'spiffe://example.test/mutual/admin', state: 'valid' });

    for (const bad of ['state=bogus', 'limit=0', 'limit=5000', 'cursor=%21%21', 'frobnicate=1']) {
      const b = await call(ca, { path: `/v1/certificates?${bad}`, ...admin(ca) });
      expect([b.status, errorCode(b)], bad).toEqual([400, 'ERR_HTTP_INVALID_REQUEST']);
    }
  });

  it('answers /healthz, /readyz and /metrics (prom-client text with the CA counters)', async () => {
    expect((await call(ca, { path: '/healthz' })).json()).toEqual({ status: 'ok' });
    const ready = await call(ca, { path: '/readyz' });
    expect([ready.status, ready.json()]).toEqual([200, { status: 'ready', checks: { store: 'ok', crl: 'ok' } }]);
    const metrics = await call(ca, { path: '/metrics' });
    expect(metrics.status).toBe(200);
    expect(String(metrics.headers['content-type'])).toContain('text/plain');
    const text = metrics.body.toString('utf8');
    expect(text).toMatch(/mutual_ca_certificates_issued_total\{via="sign",profile="server"\} [1-9]/);
    expect(text).toMatch(/mutual_ca_refusals_total\{route="\/v1\/tokens",code="ERR_TOKEN_TTL_EXCEEDED"\} 1/);
    expect(text).toMatch(/mutual_ca_revocations_total\{reason="unspecified"\} [1-9]/);
    expect(text).toMatch(/mutual_ca_crl_number\{level="intermediate"\} [1-9]/);
    expect(text).toMatch(/mutual_ca_certificates\{state="revoked"\} 1/);
    expect(text).toMatch(/mutual_ca_http_requests_total\{route="\/v1\/sign",method="POST",status="201"\}/);
    expect(text).toContain('mutual_ca_process_cpu_seconds_total');
    // The CA does its pki work on threads (server.workers: auto = one per core beyond the first).
    expect(text).toMatch(new RegExp(`mutual_ca_pki_threads ${Math.max(0, availableParallelism() - 1)}\\n`));
    expect(text).toMatch(/mutual_ca_pki_jobs_in_flight 0\n/);
    expect(text).toMatch(/mutual_ca_pki_thread_stops_total 0\n/);
    const missing = await call(ca, { path: '/v2/anything' });
    expect([missing.status, errorCode(missing)]).toEqual([404, 'ERR_HTTP_NOT_FOUND']);
  });

  it('readiness fails when the CRL is past its nextUpdate (the clock moved on without a refresh)', async () => {
    ca.clock.advance(25 * 3_600_000);
    try {
      const r = await call(ca, { path: '/readyz' });
      expect([r.status, r.json()]).toEqual([503, { status: 'not-ready', checks: { store: 'ok', crl: 'stale' } }]);
    } finally {
      ca.clock.advance(-25 * 3_600_000);
    }
  });
});
