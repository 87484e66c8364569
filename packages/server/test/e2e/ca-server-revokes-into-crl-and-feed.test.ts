// POST /v1/revoke by an admin or by the holder (mTLS with that very certificate), RFC 5280 reasons;
// the served CRLs (one per CA level) judged by openssl crl / openssl verify -crl_check_all; the
// revocation feed pushes each revocation the moment it commits and resumes from Last-Event-ID.
import 'reflect-metadata';
import { writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import * as x509 from '@peculiar/x509';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  admin,
  call,
  cleanupDirs,
  enroll,
  errorCode,
  run,
  runAsync,
  startTestCa,
  subscribe,
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

const HOUR = 3_600_000;
/** Serials are keyed without leading zeros; tools print the INTEGER's content octets (a leading 0 or 00). */
const bare = (serial: string): string => serial.replace(/^0+(?=.)/, '');

async function crlFiles(): Promise<{ leafCrl: string; rootCrl: string; number: string }> {
  const inter = await call(ca, { path: '/v1/crl' });
  const root = await call(ca, { path: '/v1/crl/root' });
  expect(inter.status).toBe(200);
  expect(root.status).toBe(200);
  expect(inter.headers['content-type']).toBe('application/pkix-crl');
  const leafCrl = ca.work(`int-${Date.now()}-${Math.random()}.crl.der`);
  const rootCrl = ca.work(`root-${Date.now()}-${Math.random()}.crl.der`);
  writeFileSync(leafCrl, inter.body);
  writeFileSync(rootCrl, root.body);
  const number = run('openssl', ['crl', '-inform', 'DER', '-in', leafCrl, '-noout', '-crlnumber']).stdout.trim();
  return { leafCrl, rootCrl, number };
}

function pemCrl(der: string): string {
  const out = `${der}.pem`;
  run('openssl', ['crl', '-inform', 'DER', '-in', der, '-out', out]);
  return out;
}

describe('ca server: revocation', () => {
  it('a holder revokes its own certificate with curl over mTLS, but not anyone else’s and never as caCompromise', async () => {
    const a = await enroll(ca, 'holder-a', 'DNS:ha.internal', { dns: ['ha.internal'] });
    const b = await enroll(ca, 'holder-b', 'DNS:hb.internal', { dns: ['hb.internal'] });
    const other = await call(ca, { path: '/v1/revoke', body: { serial: b.serial }, cert: a.chain, key: a.key });
    expect([other.status, errorCode(other)]).toEqual([403, 'ERR_REVOKE_FORBIDDEN']);
    const ca2 = await call(ca, {
      path: '/v1/revoke',
      body: { serial: a.serial, reason: 'caCompromise' },
      cert: a.chain,
      key: a.key,
    });
    expect([ca2.status, errorCode(ca2)]).toEqual([403, 'ERR_REVOKE_NOT_ALLOWED']);
    const body = ca.work('revoke.json');
    writeFileSync(body, JSON.stringify({ serial: a.serial, reason: 'keyCompromise' }));
    const r = await runAsync('curl', [
      '-sS',
      '--fail-with-body',
      '--cacert',
      ca.files.root,
      '--cert',
      a.certFile,
      '--key',
      a.keyFile,
      '-H',
      'content-type: application/json',
      '--data-binary',
      `@${body}`,
      `${ca.server.url}/v1/revoke`,
    ]);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ serial: a.serial, reason: 'keyCompromise' });
    const again = await call(ca, { path: '/v1/revoke', body: { serial: a.serial }, ...admin(ca) });
    expect([again.status, errorCode(again)]).toEqual([409, 'ERR_REVOKE_ALREADY_REVOKED']);
    const anonymous = await call(ca, { path: '/v1/revoke', body: { serial: b.serial } });
    expect([anonymous.status, errorCode(anonymous)]).toEqual([401, 'ERR_AUTH_CLIENT_CERT_REQUIRED']);
    expect(ca.audit().find((x) => x.action === 'certificate.revoke' && x.subject === a.serial)).toMatchObject({
      actor: `cert:${a.serial}`,
      details: { reason: 'keyCompromise', reasonCode: 1, by: 'holder' },
    });
  });

  it('an admin revokes any leaf; unknown serials are 404, CA certificates are not revocable, bad reasons are 400', async () => {
    const c = await enroll(ca, 'adm-c', 'DNS:ac.internal', { dns: ['ac.internal'] });
    const r = await call(ca, { path: '/v1/revoke', body: { serial: c.serial, reason: 'superseded' }, ...admin(ca) });
    expect(r.status).toBe(200);
    const missing = await call(ca, { path: '/v1/revoke', body: { serial: 'abcdef0123' }, ...admin(ca) });
    expect([missing.status, errorCode(missing)]).toEqual([404, 'ERR_REVOKE_NOT_FOUND']);
    const inventory = await call(ca, { path: '/v1/certificates?profile=intermediate', ...admin(ca) });
    const intermediate = inventory.json<{ items: { serial: string }[] }>().items[0];
    const int = await call(ca, { path: '/v1/revoke', body: { serial: intermediate?.serial }, ...admin(ca) });
    expect([int.status, errorCode(int)]).toEqual([403, 'ERR_REVOKE_NOT_ALLOWED']);
    const bad = await call(ca, {
      path: '/v1/revoke',
      body: { serial: c.serial, reason: 'removeFromCRL' },
      ...admin(ca),
    });
    expect([bad.status, errorCode(bad)]).toEqual([400, 'ERR_HTTP_INVALID_REQUEST']);
  });

  it('serves one CRL per CA level that openssl verifies, listing revoked leaves with their reason; CRL numbers increase', async () => {
    const before = await crlFiles();
    const d = await enroll(ca, 'crl-d', 'DNS:cd.internal', { dns: ['cd.internal'] });
    const good = await enroll(ca, 'crl-good', 'DNS:cg.internal', { dns: ['cg.internal'] });
    expect(
      (await call(ca, { path: '/v1/revoke', body: { serial: d.serial, reason: 'keyCompromise' }, ...admin(ca) }))
        .status,
    ).toBe(200);
    const after = await crlFiles();
    const num = (text: string) => BigInt(text.split('=')[1] ?? '0');
    expect(num(after.number)).toBeGreaterThan(num(before.number));

    const chainFile = ca.work('chain.pem');
    writeFileSync(
      chainFile,
      `${(await call(ca, { path: '/v1/roots' })).json<{ roots: string[]; intermediates: string[] }>().intermediates[0] ?? ''}\n${ca.server.rootPem}`,
    );
    const check = run('openssl', [
      'crl',
      '-inform',
      'DER',
      '-in',
      after.leafCrl,
      '-CAfile',
      chainFile,
      '-noout',
      '-text',
    ]);
    expect(check.stderr + check.stdout).toContain('verify OK');
    expect(check.stdout.toUpperCase()).toContain(bare(d.serial).toUpperCase());
    expect(check.stdout).toContain('Key Compromise');
    const rootCheck = run('openssl', [
      'crl',
      '-inform',
      'DER',
      '-in',
      after.rootCrl,
      '-CAfile',
      ca.files.root,
      '-noout',
      '-text',
    ]);
    expect(rootCheck.stderr + rootCheck.stdout).toContain('verify OK');
    expect(rootCheck.stdout).toContain('No Revoked Certificates');

    const crls = [pemCrl(after.leafCrl), pemCrl(after.rootCrl)];
    const verify = (certFile: string) =>
      run('openssl', [
        'verify',
        '-crl_check_all',
        '-CAfile',
        chainFile,
        ...crls.flatMap((c) => ['-CRLfile', c]),
        certFile,
      ]);
    const leafOnly = (file: string, pem: string) => {
      writeFileSync(file, `${pem.split('-----END CERTIFICATE-----')[0] ?? ''}-----END CERTIFICATE-----\n`);
      return file;
    };
    const revokedOut = verify(leafOnly(ca.work('d-leaf.pem'), d.chain));
    expect(revokedOut.stdout + revokedOut.stderr).toContain('certificate revoked');
    const goodOut = verify(leafOnly(ca.work('good-leaf.pem'), good.chain));
    expect(goodOut.stdout + goodOut.stderr).toContain(': OK');
  });

  it('answers CRLs with ETag, Last-Modified and Cache-Control, and 304 for an unchanged ETag', async () => {
    const first = await call(ca, { path: '/v1/crl' });
    const etag = String(first.headers['etag']);
    expect(etag).toMatch(/^"[0-9a-f]{16}-\d+"$/);
    expect(first.headers['cache-control']).toMatch(/^public, max-age=\d+, must-revalidate$/);
    expect(first.headers['last-modified']).toBeDefined();
    const again = await call(ca, { path: '/v1/crl', headers: { 'if-none-match': etag } });
    expect(again.status).toBe(304);
  });

  it('republishes on the timer with a new number; revoked-but-unexpired entries stay, expired ones leave', async () => {
    const e = await enroll(ca, 'timer-e', 'DNS:te.internal', { dns: ['te.internal'] });
    expect((await call(ca, { path: '/v1/revoke', body: { serial: e.serial }, ...admin(ca) })).status).toBe(200);
    const n1 = (await crlFiles()).number;
    ca.clock.advance(23 * HOUR);
    await ca.server.refreshRevocations();
    const later = await crlFiles();
    expect(later.number).not.toBe(n1);
    expect(
      run('openssl', ['crl', '-inform', 'DER', '-in', later.leafCrl, '-noout', '-text']).stdout.toUpperCase(),
    ).toContain(bare(e.serial).toUpperCase());
    ca.clock.advance(2 * HOUR); // past the certificate's notAfter (24h)
    await ca.server.refreshRevocations();
    const expired = await crlFiles();
    expect(
      run('openssl', ['crl', '-inform', 'DER', '-in', expired.leafCrl, '-noout', '-text']).stdout.toUpperCase(),
    ).not.toContain(bare(e.serial).toUpperCase());
    ca.clock.advance(-25 * HOUR);
    await ca.server.refreshRevocations();
  });

  it('pushes each revocation on GET /v1/revocations as it commits, resumes exactly after Last-Event-ID, and is in the CRL by the time revoke answers', async () => {
    const feed = await subscribe(ca, '/v1/revocations');
    expect(feed.status).toBe(200);
    await feed.live;
    const f = await enroll(ca, 'feed-f', 'DNS:ff.internal', { dns: ['ff.internal'] });
    const g = await enroll(ca, 'feed-g', 'DNS:fg.internal', { dns: ['fg.internal'] });
    const seen: string[] = [];
    const t0 = performance.now();
    const revoked = await call(ca, {
      path: '/v1/revoke',
      body: { serial: f.serial, reason: 'cessationOfOperation' },
      ...admin(ca),
    });
    const t1 = performance.now();
    expect(revoked.status).toBe(200);
    const crl = new x509.X509Crl((await call(ca, { path: '/v1/crl' })).body);
    const t2 = performance.now();
    expect(crl.entries.map((e) => bare(e.serialNumber.toLowerCase()))).toContain(bare(f.serial));
    console.log(
      `revoke → listed in the served CRL: ${(t2 - t0).toFixed(1)} ms from sending the revoke (its answer took ${(t1 - t0).toFixed(1)} ms and the CRL was already rebuilt then; fetching it: ${(t2 - t1).toFixed(1)} ms, each over a new TLS connection)`,
    );
    // The stream first replays earlier revocations, then pushes the new one.
    for (;;) {
      const ev = await feed.next();
      seen.push(ev.id);
      if ((JSON.parse(ev.data) as { serial: string }).serial === f.serial) {
        expect(ev.event).toBe('revoked');
        // It says when the certificate expires, so a follower can forget it then.
        const leaf = new x509.X509Certificate(
          `${f.chain.split('-----END CERTIFICATE-----')[0] ?? ''}-----END CERTIFICATE-----`,
        );
        expect(JSON.parse(ev.data)).toMatchObject({
          serial: f.serial,
          reason: 'cessationOfOperation',
          notAfter: leaf.notAfter.toISOString(),
        });
        break;
      }
    }
    const lastId = seen[seen.length - 1] ?? '';
    feed.close();
    expect((await call(ca, { path: '/v1/revoke', body: { serial: g.serial }, ...admin(ca) })).status).toBe(200);
    const resumed = await subscribe(ca, '/v1/revocations', { 'last-event-id': lastId });
    const first = await resumed.next();
    expect(JSON.parse(first.data)).toMatchObject({ serial: g.serial, reason: 'unspecified' });
    expect(BigInt(first.id)).toBeGreaterThan(BigInt(lastId));
    resumed.close();
  });
});
