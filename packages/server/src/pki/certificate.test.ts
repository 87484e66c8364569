// buildCertificate: what each profile writes, how names and subjects are decided, and the errors a
// caller gets for inputs that must not become certificates.
import { spawnSync } from 'node:child_process';
import { generateKeyPairSync, X509Certificate, type KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPair, importPrivateKey, MutualError, type KeyType } from '@mutual/sdk';
import { afterAll, describe, expect, it } from 'vitest';
import { buildCertificate, type BuildCertificateInput } from './certificate.js';
import { children, readOne } from './der.js';
import { issueCertificate, sha256Hex } from './issue.js';
import { lintCertificate } from './lint.js';
import { generateSerial } from './serial.js';
import { createTestCa } from './test-support.js';
import { computeValidity } from './validity.js';
import { parseCertificate } from './x509.js';

const dir = mkdtempSync(join(tmpdir(), 'mutual-pki-cert-'));
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

const NOW = new Date('2030-01-15T12:00:00Z');
let counter = 1;
const random = (n: number): Uint8Array =>
  Uint8Array.from({ length: n }, (_, i) => (i === 0 ? 0x10 + (counter++ % 200) : i));
const ca = createTestCa({ now: NOW, keyType: 'p256', randomBytes: random });
const none = { dns: [], ip: [], uri: [], email: [] };

function leafInput(over: Partial<BuildCertificateInput> = {}): BuildCertificateInput {
  const v = computeValidity({
    now: NOW,
    lifetimeMs: 24 * 3600_000,
    issuerNotBefore: new Date(new X509Certificate(ca.intermediate.der).validFrom),
    issuerNotAfter: new Date(new X509Certificate(ca.intermediate.der).validTo),
  });
  return {
    profile: 'server',
    subject: {},
    names: { ...none, dns: ['svc.example.test'] },
    publicKey: generateKeyPair('p256').publicKey,
    issuer: { certificateDer: ca.intermediate.der, privateKey: ca.intermediate.privateKey },
    serial: generateSerial(random),
    notBefore: v.notBefore,
    notAfter: v.notAfter,
    ...over,
  };
}

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof MutualError) return e.code;
    throw e;
  }
  return 'no error';
}

const text = (pem: string): string =>
  spawnSync('openssl', ['x509', '-noout', '-text'], { input: pem }).stdout.toString();

function opensslVerify(leafPem: string, purpose = 'sslserver'): string {
  const root = join(dir, 'root.pem');
  const inter = join(dir, 'inter.pem');
  const leaf = join(dir, 'leaf.pem');
  writeFileSync(root, ca.root.pem);
  writeFileSync(inter, ca.intermediate.pem);
  writeFileSync(leaf, leafPem);
  const r = spawnSync('openssl', [
    'verify',
    '-x509_strict',
    '-attime',
    String(NOW.getTime() / 1000),
    '-purpose',
    purpose,
    '-CAfile',
    root,
    '-untrusted',
    inter,
    leaf,
  ]);
  return `${r.stdout.toString()}${r.stderr.toString()}`;
}

describe('subject and names of leaves', () => {
  it('the common name is the first name; names are normalized and deduplicated', () => {
    const c = issueCertificate(
      leafInput({
        subject: { organization: 'Example Corp', organizationalUnit: 'Payments', country: 'DE' },
        names: {
          dns: ['API.Example.Test', 'api.example.test', '*.api.example.test'],
          ip: ['2001:DB8:0:0:0:0:0:1', '10.1.2.3'],
          uri: ['https://example.test/svc'],
          email: ['Ops@Example.Test'],
        },
      }),
    );
    const x = new X509Certificate(c.der);
    expect(x.subject).toBe('C=DE\nO=Example Corp\nOU=Payments\nCN=api.example.test');
    expect(x.subjectAltName).toBe(
      'email:Ops@example.test, DNS:api.example.test, DNS:*.api.example.test, URI:https://example.test/svc, IP Address:2001:DB8:0:0:0:0:0:1, IP Address:10.1.2.3',
    );
    expect(opensslVerify(c.pem)).toContain('OK');
  });

  it('a first name longer than 64 characters leaves the subject empty and makes the SAN critical', () => {
    const id = `spiffe://example.test/${'segment/'.repeat(8)}workload`;
    const c = issueCertificate(leafInput({ profile: 'client', names: { ...none, uri: [id] } }));
    const x = new X509Certificate(c.der);
    expect(x.subject as string | undefined).toBeUndefined(); // node reports no subject at all
    expect(text(c.pem)).toMatch(/X509v3 Subject Alternative Name: critical\s+URI:spiffe:\/\/example\.test\//);
    expect(opensslVerify(c.pem, 'sslclient')).toContain('OK');
  });

  it('a given common name must be one of the names (case-insensitive for DNS)', () => {
    const ok = buildCertificate(leafInput({ subject: { commonName: 'SVC.example.test' } }));
    expect(new X509Certificate(ok.der).subject).toBe('CN=svc.example.test');
    expect(code(() => buildCertificate(leafInput({ subject: { commonName: 'other.example.test' } })))).toBe(
      'ERR_PKI_SUBJECT_INVALID',
    );
  });

  it('refuses leaves without names, bad subject attributes and CA certificates without a subject', () => {
    expect(code(() => buildCertificate(leafInput({ names: none })))).toBe('ERR_PKI_NAMES_EMPTY');
    for (const subject of [
      { country: 'de' },
      { country: 'DEU' },
      { organization: '' },
      { organization: 'x'.repeat(65) },
      { organizationalUnit: 'a\u0000b' },
      { organization: 'e\u0301' }, // not NFC
    ]) {
      expect(
        code(() => buildCertificate(leafInput({ subject }))),
        JSON.stringify(subject),
      ).toBe('ERR_PKI_SUBJECT_INVALID');
    }
    const rootKey = generateKeyPair('p256');
    expect(
      code(() =>
        buildCertificate({
          ...leafInput(),
          profile: 'root',
          subject: {},
          names: none,
          publicKey: rootKey.publicKey,
          issuer: { selfSigned: rootKey.privateKey },
        }),
      ),
    ).toBe('ERR_PKI_SUBJECT_INVALID');
    expect(code(() => buildCertificate(leafInput({ subject: { organization: 'Example Corp' }, names: none })))).toBe(
      'ERR_PKI_NAMES_EMPTY',
    );
  });

  it('refuses invalid names with ERR_PKI_NAME_INVALID, naming type and reason', () => {
    for (const names of [
      { ...none, dns: ['*.*.example.test'] },
      { ...none, ip: ['10.0.0.256'] },
      { ...none, ip: ['010.0.0.1'] },
      { ...none, ip: ['fe80::1%eth0'] },
      { ...none, uri: ['no-scheme'] },
      { ...none, uri: ['spiffe://example.test/a/./b'] },
      { ...none, email: ['not-an-email'] },
      { ...none, email: ['a@*.example.test'] },
    ]) {
      try {
        buildCertificate(leafInput({ names }));
        expect.unreachable(JSON.stringify(names));
      } catch (e) {
        expect((e as MutualError).code).toBe('ERR_PKI_NAME_INVALID');
        expect(Object.keys((e as MutualError).details).sort()).toEqual(['name', 'reason', 'type']);
      }
    }
  });
});

describe('profiles', () => {
  it('RSA leaves also get keyEncipherment; EC and Ed25519 leaves only digitalSignature', () => {
    for (const [type, ku] of [
      ['rsa2048', 'Digital Signature, Key Encipherment'],
      ['p384', 'Digital Signature'],
      ['ed25519', 'Digital Signature'],
    ] as const) {
      const c = issueCertificate(leafInput({ publicKey: generateKeyPair(type).publicKey }));
      expect(text(c.pem)).toMatch(new RegExp(`X509v3 Key Usage: critical\\s+${ku}\\n`));
    }
  });

  it('writes CRL distribution point and AIA (OCSP, CA issuers) when given, only http(s) URLs', () => {
    const c = issueCertificate(
      leafInput({
        crlDistributionPoint: 'http://ca.example.test/crl/intermediate.crl',
        ocspUrl: 'http://ca.example.test/ocsp',
        caIssuersUrl: 'http://ca.example.test/intermediate.cer',
      }),
    );
    const t = text(c.pem);
    expect(t).toMatch(
      /X509v3 CRL Distribution Points: \s*\n\s+Full Name:\s*\n\s+URI:http:\/\/ca\.example\.test\/crl\/intermediate\.crl/,
    );
    expect(t).toContain('OCSP - URI:http://ca.example.test/ocsp');
    expect(t).toContain('CA Issuers - URI:http://ca.example.test/intermediate.cer');
    expect(new X509Certificate(c.der).infoAccess).toContain('OCSP - URI:http://ca.example.test/ocsp');
    expect(opensslVerify(c.pem)).toContain('OK');
    for (const bad of ['ldap://ca.example.test/crl', 'file:///etc/crl', 'http://bad host/']) {
      expect(code(() => buildCertificate(leafInput({ crlDistributionPoint: bad })))).toBe('ERR_PKI_PROFILE_INVALID');
    }
  });

  it('ocsp: a delegated responder with OCSP Signing only, digitalSignature, CA:FALSE, OCSP No Check, no SAN', () => {
    for (const type of ['p256', 'rsa2048', 'ed25519'] as const) {
      const c = issueCertificate(
        leafInput({
          profile: 'ocsp',
          subject: { commonName: 'mutual test OCSP Responder' },
          names: none,
          publicKey: generateKeyPair(type).publicKey,
        }),
      );
      const t = text(c.pem);
      expect(t).toMatch(/X509v3 Key Usage: critical\s+Digital Signature\n/);
      expect(t).toMatch(/X509v3 Extended Key Usage: \s*\n\s+OCSP Signing\n/);
      expect(t).toMatch(/X509v3 Basic Constraints: critical\s+CA:FALSE/);
      expect(t).toContain('OCSP No Check');
      expect(t).not.toContain('Subject Alternative Name');
      expect(t).toContain('Subject: CN = mutual test OCSP Responder');
      expect(opensslVerify(c.pem, 'ocsphelper')).toContain(': OK');
      expect(opensslVerify(c.pem, 'sslclient')).not.toContain(': OK');
    }
    const ocsp = (over: Partial<BuildCertificateInput>) =>
      code(() => buildCertificate(leafInput({ profile: 'ocsp', subject: { commonName: 'R' }, names: none, ...over })));
    expect(ocsp({ names: { ...none, dns: ['ocsp.example.test'] } })).toBe('ERR_PKI_PROFILE_INVALID');
    expect(ocsp({ subject: {} })).toBe('ERR_PKI_SUBJECT_INVALID');
    expect(ocsp({ pathLength: 0 })).toBe('ERR_PKI_PROFILE_INVALID');
    const k = generateKeyPair('p256');
    expect(ocsp({ publicKey: k.publicKey, issuer: { selfSigned: k.privateKey } })).toBe('ERR_PKI_PROFILE_INVALID');
  });

  it('refuses a root with an issuer, a leaf self-signed, a path length on a leaf, an unknown profile', () => {
    const k = generateKeyPair('p256');
    expect(
      code(() => buildCertificate(leafInput({ profile: 'root', subject: { commonName: 'R' }, names: none }))),
    ).toBe('ERR_PKI_PROFILE_INVALID');
    expect(
      code(() => buildCertificate(leafInput({ publicKey: k.publicKey, issuer: { selfSigned: k.privateKey } }))),
    ).toBe('ERR_PKI_PROFILE_INVALID');
    expect(code(() => buildCertificate(leafInput({ pathLength: 0 })))).toBe('ERR_PKI_PROFILE_INVALID');
    expect(code(() => buildCertificate(leafInput({ profile: 'codesign' as never })))).toBe('ERR_PKI_PROFILE_INVALID');
  });

  it('an intermediate gets CA:TRUE with the path length asked (default 0), a root none unless given', () => {
    const k = generateKeyPair('p256');
    const inter = issueCertificate({
      ...leafInput(),
      profile: 'intermediate',
      subject: { commonName: 'Sub CA' },
      names: none,
      publicKey: k.publicKey,
      issuer: { certificateDer: ca.root.der, privateKey: ca.root.privateKey },
      pathLength: 2,
    });
    expect(text(inter.pem)).toMatch(/CA:TRUE, pathlen:2/);
    const rootKey = generateKeyPair('p256');
    const root = issueCertificate({
      ...leafInput(),
      profile: 'root',
      subject: { commonName: 'Root with pathlen' },
      names: none,
      publicKey: rootKey.publicKey,
      issuer: { selfSigned: rootKey.privateKey },
      pathLength: 1,
    });
    expect(text(root.pem)).toMatch(/CA:TRUE, pathlen:1/);
  });
});

describe('issuer, key and validity checks', () => {
  it('refuses an issuer key that does not match the issuer certificate, a leaf as issuer, a malformed issuer', () => {
    const other = generateKeyPair('p256');
    expect(
      code(() =>
        buildCertificate(leafInput({ issuer: { certificateDer: ca.intermediate.der, privateKey: other.privateKey } })),
      ),
    ).toBe('ERR_PKI_ISSUER_INVALID');
    expect(
      code(() =>
        buildCertificate(leafInput({ issuer: { certificateDer: ca.leaf.der, privateKey: ca.leaf.privateKey! } })),
      ),
    ).toBe('ERR_PKI_ISSUER_INVALID');
    const truncated = ca.intermediate.der.slice(0, -1);
    expect(
      code(() =>
        buildCertificate(leafInput({ issuer: { certificateDer: truncated, privateKey: ca.intermediate.privateKey } })),
      ),
    ).toBe('ERR_PKI_ISSUER_INVALID');
    const rootKey = generateKeyPair('p256');
    expect(
      code(() =>
        buildCertificate({
          ...leafInput(),
          profile: 'root',
          subject: { commonName: 'R' },
          names: none,
          publicKey: rootKey.publicKey,
          issuer: { selfSigned: other.privateKey },
        }),
      ),
    ).toBe('ERR_PKI_ISSUER_INVALID');
  });

  it('refuses weak and unsupported subject keys', () => {
    expect(
      code(() =>
        buildCertificate(leafInput({ publicKey: generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey })),
      ),
    ).toBe('ERR_KEY_WEAK');
    expect(code(() => buildCertificate(leafInput({ publicKey: generateKeyPairSync('x25519').publicKey })))).toBe(
      'ERR_KEY_UNSUPPORTED',
    );
    expect(
      code(() =>
        buildCertificate(leafInput({ publicKey: generateKeyPairSync('ec', { namedCurve: 'P-521' }).publicKey })),
      ),
    ).toBe('ERR_KEY_UNSUPPORTED');
  });

  it("refuses validity outside the issuer's and notBefore ≥ notAfter; truncates to whole seconds", () => {
    const base = leafInput();
    expect(code(() => buildCertificate({ ...base, notAfter: new Date('2045-01-01T00:00:00Z') }))).toBe(
      'ERR_PKI_LIFETIME_INVALID',
    );
    expect(code(() => buildCertificate({ ...base, notBefore: base.notAfter }))).toBe('ERR_PKI_LIFETIME_INVALID');
    expect(code(() => buildCertificate({ ...base, notBefore: new Date(Number.NaN) }))).toBe('ERR_PKI_LIFETIME_INVALID');
    const ms = buildCertificate({ ...base, notAfter: new Date(base.notAfter.getTime() - 1500) });
    expect(parseCertificate(ms.der).notAfter.getTime()).toBe(base.notAfter.getTime() - 2000);
  });

  it('refuses serials that are zero, negative, non-minimal or longer than 20 octets', () => {
    for (const serial of [
      new Uint8Array(),
      Uint8Array.of(0),
      Uint8Array.of(0x80, 1),
      Uint8Array.of(0, 1),
      new Uint8Array(21).fill(1),
    ]) {
      expect(
        code(() => buildCertificate(leafInput({ serial }))),
        Buffer.from(serial).toString('hex'),
      ).toBe('ERR_PKI_SERIAL_INVALID');
    }
  });
});

describe('encoding', () => {
  it.each<[KeyType, string, string]>([
    ['p256', 'ecdsa-with-SHA256', '300a06082a8648ce3d040302'],
    ['p384', 'ecdsa-with-SHA384', '300a06082a8648ce3d040303'],
    ['rsa2048', 'sha256WithRSAEncryption', '300d06092a864886f70d01010b0500'],
    ['ed25519', 'ED25519', '300506032b6570'],
  ])('a %s issuer signs with %s and the exact AlgorithmIdentifier DER', (keyType, name, algHex) => {
    const c = createTestCa({ now: NOW, keyType, randomBytes: random });
    const [tbs, alg] = children(readOne(c.leaf.der));
    expect(Buffer.from(alg!.bytes).toString('hex')).toBe(algHex);
    expect(Buffer.from(children(tbs!)[2]!.bytes).toString('hex')).toBe(algHex);
    expect(text(c.leaf.pem)).toContain(`Signature Algorithm: ${name}`);
  });

  it('uses UTCTime through 2049 and GeneralizedTime from 2050; openssl and node read both', () => {
    const rootKey = generateKeyPair('ed25519');
    const root = issueCertificate({
      profile: 'root',
      subject: { commonName: 'Long root' },
      names: none,
      publicKey: rootKey.publicKey,
      issuer: { selfSigned: rootKey.privateKey },
      serial: generateSerial(random),
      notBefore: new Date('2049-12-31T23:59:59Z'),
      notAfter: new Date('2050-01-01T00:00:00Z'),
    });
    const [tbs] = children(readOne(root.der));
    const [nb, na] = children(children(tbs!)[4]!);
    expect(nb!.tag).toBe(0x17);
    expect(Buffer.from(nb!.value).toString()).toBe('491231235959Z');
    expect(na!.tag).toBe(0x18);
    expect(Buffer.from(na!.value).toString()).toBe('20500101000000Z');
    expect(new Date(new X509Certificate(root.der).validTo).toISOString()).toBe('2050-01-01T00:00:00.000Z');
    expect(text(root.pem)).toContain('Not After : Jan  1 00:00:00 2050 GMT');
  });

  it('is a pure function of its inputs: Ed25519 (deterministic) gives identical bytes twice', () => {
    const c = createTestCa({ now: NOW, keyType: 'ed25519', randomBytes: random });
    const key = generateKeyPair('ed25519');
    const input = {
      ...leafInput(),
      publicKey: key.publicKey,
      issuer: { certificateDer: c.intermediate.der, privateKey: c.intermediate.privateKey },
      serial: Uint8Array.from({ length: 16 }, (_, i) => i + 1),
    };
    expect(sha256Hex(buildCertificate(input).der)).toBe(sha256Hex(buildCertificate(input).der));
  });

  it("copies the issuer's subject byte for byte, even from an openssl-made root with PrintableString attributes", () => {
    const keyFile = join(dir, 'ext-root.key');
    const certFile = join(dir, 'ext-root.pem');
    const gen = spawnSync('openssl', [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      keyFile,
      '-out',
      certFile,
      '-days',
      '3650',
      '-subj',
      '/C=US/O=External Trust/CN=External Root',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ]);
    expect(gen.status).toBe(0);
    const extRoot = new X509Certificate(readFileSync(certFile));
    const extKey: KeyObject = importPrivateKey(readFileSync(keyFile, 'utf8'));
    const interKey = generateKeyPair('p256');
    const v = computeValidity({
      now: new Date(),
      lifetimeMs: 3600_000,
      issuerNotBefore: new Date(extRoot.validFrom),
      issuerNotAfter: new Date(extRoot.validTo),
    });
    const inter = issueCertificate({
      profile: 'intermediate',
      subject: { organization: 'mutual', commonName: 'Under external root' },
      names: none,
      publicKey: interKey.publicKey,
      issuer: { certificateDer: new Uint8Array(extRoot.raw), privateKey: extKey },
      serial: generateSerial(random),
      notBefore: v.notBefore,
      notAfter: v.notAfter,
    });
    const issuerField = parseCertificate(inter.der).issuer.bytes;
    expect(
      Buffer.from(issuerField).equals(Buffer.from(parseCertificate(new Uint8Array(extRoot.raw)).subject.bytes)),
    ).toBe(true);
    expect(Buffer.from(issuerField).includes(Buffer.from([0x13, 0x02, 0x55, 0x53]))).toBe(true); // C=US, PrintableString
    const interFile = join(dir, 'under-ext.pem');
    writeFileSync(interFile, inter.pem);
    const r = spawnSync('openssl', ['verify', '-x509_strict', '-CAfile', certFile, interFile]);
    expect(r.stdout.toString()).toContain('OK');
    expect(
      lintCertificate({ der: inter.der, issuerDer: new Uint8Array(extRoot.raw), profile: 'intermediate' }),
    ).toEqual([]);
  });
});
