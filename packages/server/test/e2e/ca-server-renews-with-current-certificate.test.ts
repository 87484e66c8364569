// POST /v1/renew authenticated by the current certificate over mTLS: same identity and profile,
// never more names, a new key unless allowed, unexpired (or within a bounded grace), unrevoked,
// and issued by this very CA — a look-alike with the same subject and serial from another CA fails.
import { randomBytes, X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { exportPrivateKeyPem, generateKeyPair } from '@mutual/sdk';
import { createCaHierarchy } from '../../src/ca/index.js';
import { issueCertificate } from '../../src/pki/index.js';
import {
  admin,
  call,
  cleanupDirs,
  enroll,
  errorCode,
  opensslCsr,
  opensslCsrForKey,
  runAsync,
  startTestCa,
  type TestCa,
} from './support/ca-server.js';

const cas: TestCa[] = [];
afterEach(async () => {
  await Promise.all(cas.splice(0).map((c) => c.close()));
});
afterAll(cleanupDirs);

async function newCa(serverYaml?: string): Promise<TestCa> {
  const ca = await startTestCa(serverYaml === undefined ? {} : { serverYaml });
  cas.push(ca);
  return ca;
}

const HOUR = 3_600_000;

/** A serial as its INTEGER's content octets: even length, a leading 00 when the top bit is set. */
function contentOctets(serialHex: string): Buffer {
  let hex = serialHex.length % 2 === 1 ? `0${serialHex}` : serialHex;
  if (parseInt(hex.slice(0, 2), 16) >= 0x80) hex = `00${hex}`;
  return Buffer.from(hex, 'hex');
}

describe('ca server: renewal with the current certificate', () => {
  it('curl renews over mTLS with a new key: new serial, same names and profile, audited as a renewal', async () => {
    const ca = await newCa();
    const cur = await enroll(
      ca,
      'svc',
      'URI:spiffe://example.test/svc',
      { uri: ['spiffe://example.test/svc'] },
      'both',
    );
    const { csr } = opensslCsr(ca, 'svc-next', undefined);
    const body = ca.work('renew.json');
    writeFileSync(body, JSON.stringify({ csr }));
    const r = await runAsync('curl', [
      '-sS',
      '--fail-with-body',
      '--cacert',
      ca.files.root,
      '--cert',
      cur.certFile,
      '--key',
      cur.keyFile,
      '-H',
      'content-type: application/json',
      '--data-binary',
      `@${body}`,
      `${ca.server.url}/v1/renew`,
    ]);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    const renewed = JSON.parse(r.stdout) as { serial: string; certificate: string; profile: string };
    expect(renewed.serial).not.toBe(cur.serial);
    expect(renewed.profile).toBe('both');
    const next = new X509Certificate(renewed.certificate);
    expect(next.subjectAltName).toBe('URI:spiffe://example.test/svc');
    expect(next.publicKey.export({ type: 'spki', format: 'der' })).not.toEqual(
      new X509Certificate(cur.chain).publicKey.export({ type: 'spki', format: 'der' }),
    );
    const record = ca.audit().find((a) => a.action === 'certificate.renew');
    expect(record).toMatchObject({
      actor: `cert:${cur.serial}`,
      subject: renewed.serial,
      details: { renewed: cur.serial },
    });
  });

  it('refuses the same key (unless server.renewal.allowSameKey), more names, another identity and an over-long lifetime', async () => {
    const ca = await newCa();
    const cur = await enroll(ca, 'multi', 'DNS:a.internal,DNS:b.internal', { dns: ['a.internal', 'b.internal'] });
    const mtls = { cert: cur.chain, key: cur.key };
    const same = await call(ca, {
      path: '/v1/renew',
      body: { csr: opensslCsrForKey(ca, 'same', cur.keyFile, 'DNS:a.internal') },
      ...mtls,
    });
    expect([same.status, errorCode(same)]).toEqual([403, 'ERR_RENEW_SAME_KEY']);
    const more = await call(ca, {
      path: '/v1/renew',
      body: { csr: opensslCsr(ca, 'more', 'DNS:a.internal,DNS:b.internal,DNS:c.internal').csr },
      ...mtls,
    });
    expect([more.status, errorCode(more)]).toEqual([403, 'ERR_RENEW_NAMES_CHANGED']);
    const other = await call(ca, {
      path: '/v1/renew',
      body: { csr: opensslCsr(ca, 'other', 'DNS:b.internal').csr },
      ...mtls,
    });
    expect([other.status, errorCode(other)]).toEqual([403, 'ERR_RENEW_NAMES_CHANGED']);
    const long = await call(ca, {
      path: '/v1/renew',
      body: { csr: opensslCsr(ca, 'long', undefined).csr, lifetime: '10000h' },
      ...mtls,
    });
    expect([long.status, errorCode(long)]).toEqual([403, 'ERR_POLICY_LIFETIME_EXCEEDED']);
    const fewer = await call(ca, {
      path: '/v1/renew',
      body: { csr: opensslCsr(ca, 'fewer', 'DNS:a.internal').csr },
      ...mtls,
    });
    expect(fewer.status).toBe(201);
    expect(new X509Certificate(fewer.json<{ certificate: string }>().certificate).subjectAltName).toBe(
      'DNS:a.internal',
    );
    expect(
      ca
        .audit()
        .filter((a) => a.action === 'renew.refused')
        .map((a) => a.details['code']),
    ).toEqual([
      'ERR_RENEW_SAME_KEY',
      'ERR_RENEW_NAMES_CHANGED',
      'ERR_RENEW_NAMES_CHANGED',
      'ERR_POLICY_LIFETIME_EXCEEDED',
    ]);

    const lax = await newCa('  renewal: { allowSameKey: true }\n');
    const c2 = await enroll(lax, 'keep', 'DNS:k.internal', { dns: ['k.internal'] });
    const kept = await call(lax, {
      path: '/v1/renew',
      body: { csr: opensslCsrForKey(lax, 'keep2', c2.keyFile, 'DNS:k.internal') },
      cert: c2.chain,
      key: c2.key,
    });
    expect(kept.status).toBe(201);
  });

  it('refuses without a client certificate, with a revoked one, and with an expired one unless within the configured grace', async () => {
    const ca = await newCa();
    const csr = () => opensslCsr(ca, `n${randomBytes(4).toString('hex')}`, undefined).csr;
    const none = await call(ca, { path: '/v1/renew', body: { csr: csr() } });
    expect([none.status, errorCode(none)]).toEqual([401, 'ERR_RENEW_CERT_REQUIRED']);

    const doomed = await enroll(ca, 'doomed', 'DNS:d.internal', { dns: ['d.internal'] });
    expect(
      (await call(ca, { path: '/v1/revoke', body: { serial: doomed.serial, reason: 'keyCompromise' }, ...admin(ca) }))
        .status,
    ).toBe(200);
    const revoked = await call(ca, { path: '/v1/renew', body: { csr: csr() }, cert: doomed.chain, key: doomed.key });
    expect([revoked.status, errorCode(revoked)]).toEqual([401, 'ERR_RENEW_CERT_REVOKED']);

    const old = await enroll(ca, 'old', 'DNS:o.internal', { dns: ['o.internal'] });
    ca.clock.advance(25 * HOUR); // default lifetime 24h
    const expired = await call(ca, { path: '/v1/renew', body: { csr: csr() }, cert: old.chain, key: old.key });
    expect([expired.status, errorCode(expired)]).toEqual([401, 'ERR_RENEW_CERT_EXPIRED']);

    const graceful = await newCa('  renewal: { graceAfterExpiry: 2h }\n');
    const late = await enroll(graceful, 'late', 'DNS:l.internal', { dns: ['l.internal'] });
    const later = await enroll(graceful, 'later', 'DNS:m.internal', { dns: ['m.internal'] });
    graceful.clock.advance(25 * HOUR);
    const inGrace = await call(graceful, {
      path: '/v1/renew',
      body: { csr: opensslCsr(graceful, 'g1', undefined).csr },
      cert: late.chain,
      key: late.key,
    });
    expect(inGrace.status).toBe(201);
    graceful.clock.advance(2 * HOUR);
    const pastGrace = await call(graceful, {
      path: '/v1/renew',
      body: { csr: opensslCsr(graceful, 'g2', undefined).csr },
      cert: later.chain,
      key: later.key,
    });
    expect([pastGrace.status, errorCode(pastGrace)]).toEqual([401, 'ERR_RENEW_CERT_EXPIRED']);
  });

  it("refuses another CA's certificate with the same subject and serial, for renewal and for admin calls", async () => {
    const ca = await newCa();
    const cur = await enroll(ca, 'twin', 'DNS:t.internal', { dns: ['t.internal'] });
    // Another CA with the same names ("Test Root CA" / "Test Intermediate CA") signs a look-alike.
    const other = createCaHierarchy({
      name: 'Test',
      keyType: 'p256',
      now: new Date(Date.now() - HOUR),
      random: (n) => randomBytes(n),
    });
    const forge = (serialHex: string, names: { dns: string[]; uri: string[] }, profile: 'client' | 'both') => {
      const keys = generateKeyPair('p256');
      const built = issueCertificate({
        profile,
        subject: { commonName: names.dns[0] ?? names.uri[0] ?? 'x' },
        names: { dns: names.dns, ip: [], uri: names.uri, email: [] },
        publicKey: keys.publicKey,
        issuer: { certificateDer: other.intermediate.der, privateKey: other.intermediate.privateKey },
        serial: contentOctets(serialHex),
        notBefore: new Date(Date.now() - HOUR),
        notAfter: new Date(Date.now() + 10 * HOUR),
      });
      return { cert: `${built.pem.trimEnd()}\n${other.intermediate.pem}`, key: exportPrivateKeyPem(keys.privateKey) };
    };
    const twin = forge(cur.serial, { dns: ['t.internal'], uri: [] }, 'client');
    const mine = new X509Certificate(cur.chain);
    const theirs = new X509Certificate(twin.cert);
    expect([theirs.subject, theirs.serialNumber, theirs.issuer]).toEqual([
      mine.subject,
      mine.serialNumber,
      mine.issuer,
    ]);
    const r = await call(ca, { path: '/v1/renew', body: { csr: opensslCsr(ca, 'twin2', undefined).csr }, ...twin });
    expect([r.status, errorCode(r)]).toEqual([401, 'ERR_RENEW_CERT_UNKNOWN']);

    const adminCert = new X509Certificate(readFileSync(ca.files.adminCert, 'utf8'));
    const fakeAdmin = forge(
      adminCert.serialNumber.toLowerCase(),
      { dns: [], uri: ['spiffe://example.test/mutual/admin'] },
      'client',
    );
    const t = await call(ca, {
      path: '/v1/tokens',
      body: { names: { dns: ['x.internal'] }, profile: 'client' },
      ...fakeAdmin,
    });
    expect([t.status, errorCode(t)]).toEqual([401, 'ERR_AUTH_CLIENT_CERT_INVALID']);
    expect(ca.audit().find((a) => a.action === 'token.create.refused')?.details).toMatchObject({
      code: 'ERR_AUTH_CLIENT_CERT_INVALID',
      reason: 'client certificate unknown',
    });
  });

  it('an admin certificate renews as an admin certificate; a leaf certificate is no admin', async () => {
    const ca = await newCa();
    const r = await call(ca, {
      path: '/v1/renew',
      body: { csr: opensslCsr(ca, 'admin2', undefined).csr },
      ...admin(ca),
    });
    expect(r.status).toBe(201);
    const next = r.json<{ chain: string[] }>().chain.join('\n');
    const adminKey = readFileSync(ca.work('admin2.key'), 'utf8');
    const minted = await call(ca, {
      path: '/v1/tokens',
      body: { names: { dns: ['x.internal'] }, profile: 'client' },
      cert: next,
      key: adminKey,
    });
    expect(minted.status).toBe(201);
    const leaf = await enroll(ca, 'plain', 'DNS:p.internal', { dns: ['p.internal'] });
    const denied = await call(ca, { path: '/v1/certificates', cert: leaf.chain, key: leaf.key });
    expect([denied.status, errorCode(denied)]).toEqual([403, 'ERR_AUTH_NOT_ADMIN']);
    const anonymous = await call(ca, { path: '/v1/certificates' });
    expect([anonymous.status, errorCode(anonymous)]).toEqual([401, 'ERR_AUTH_CLIENT_CERT_REQUIRED']);
  });
});
