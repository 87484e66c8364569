// Hostile and ordinary certificate signing requests (DESIGN.md §6 "Hostile requests to the CA").
// CSRs come from openssl req, from @peculiar/x509 and from a crafting helper built on our DER writer
// (for the malformed ones no ordinary tool would make).
import 'reflect-metadata';
import { spawnSync } from 'node:child_process';
import {
  constants,
  createPublicKey,
  generateKeyPairSync,
  sign,
  webcrypto,
  X509Certificate,
  type KeyObject,
} from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';
import { encodePem, generateKeyPair, MutualError } from '@mutual/sdk';
import { afterAll, describe, expect, it } from 'vitest';
import { parseCsr } from './csr.js';
import {
  bitString,
  boolean,
  concat,
  explicit,
  implicitConstructed,
  implicitPrimitive,
  integer,
  nullValue,
  octetString,
  oid,
  sequence,
  setOf,
  tlv,
  utf8String,
} from './der.js';
import { lintCertificate } from './lint.js';
import { OID } from './oids.js';
import { createTestCa } from './test-support.js';

const dir = mkdtempSync(join(tmpdir(), 'mutual-pki-csr-'));
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------
// Crafting helper

type GeneralName = Uint8Array;
const dns = (s: string | Uint8Array): GeneralName =>
  implicitPrimitive(2, typeof s === 'string' ? new TextEncoder().encode(s) : s);
const ip = (bytes: number[]): GeneralName => implicitPrimitive(7, Uint8Array.from(bytes));
const uri = (s: string): GeneralName => implicitPrimitive(6, new TextEncoder().encode(s));

const ext = (id: string, value: Uint8Array, critical = false): Uint8Array =>
  sequence(critical ? [oid(id), boolean(true), octetString(value)] : [oid(id), octetString(value)]);
const san = (...names: GeneralName[]): Uint8Array => ext(OID.subjectAltName, sequence(names));
const extensionRequest = (...exts: Uint8Array[]): Uint8Array =>
  sequence([oid(OID.extensionRequest), setOf([sequence(exts)])]);

interface CraftOptions {
  key: KeyObject; // private key that signs
  publicKey?: KeyObject; // key put in the CSR (default: the signer's)
  commonName?: string;
  attributes?: Uint8Array[];
  omitAttributes?: boolean;
  version?: number;
  /** 'sha256' default; 'sha1' | 'md5' for weak ones; 'pss' for RSASSA-PSS SHA-256. */
  digest?: 'sha256' | 'sha384' | 'sha512' | 'sha1' | 'md5' | 'pss';
  algorithmIdentifier?: Uint8Array;
}

function algorithmFor(key: KeyObject, digest: CraftOptions['digest']): Uint8Array {
  const t = key.asymmetricKeyType;
  if (t === 'ed25519') return sequence([oid(OID.ed25519)]);
  if (t === 'ec') {
    const ids = {
      sha1: OID.ecdsaWithSha1,
      sha256: OID.ecdsaWithSha256,
      sha384: OID.ecdsaWithSha384,
      sha512: OID.ecdsaWithSha512,
    };
    return sequence([oid(ids[digest as keyof typeof ids])]);
  }
  if (digest === 'pss') {
    const sha256 = sequence([oid(OID.sha256), nullValue()]);
    return sequence([
      oid(OID.rsassaPss),
      sequence([explicit(0, sha256), explicit(1, sequence([oid(OID.mgf1), sha256])), explicit(2, integer(32))]),
    ]);
  }
  const ids = {
    md5: OID.md5WithRsa,
    sha1: OID.sha1WithRsa,
    sha256: OID.sha256WithRsa,
    sha384: OID.sha384WithRsa,
    sha512: OID.sha512WithRsa,
  };
  return sequence([oid(ids[digest as keyof typeof ids]), nullValue()]);
}

function craftCsr(o: CraftOptions): Uint8Array {
  const publicKey = o.publicKey ?? createPublicKey(o.key);
  const spki = new Uint8Array(publicKey.export({ type: 'spki', format: 'der' }));
  const subject = sequence(
    o.commonName === undefined ? [] : [setOf([sequence([oid(OID.commonName), utf8String(o.commonName)])])],
  );
  const info = sequence([
    integer(o.version ?? 0),
    subject,
    spki,
    ...(o.omitAttributes ? [] : [implicitConstructed(0, o.attributes ?? [])]),
  ]);
  const digest = o.digest ?? 'sha256';
  const t = o.key.asymmetricKeyType;
  const sig =
    t === 'ed25519'
      ? sign(null, info, o.key)
      : digest === 'pss'
        ? sign('sha256', info, { key: o.key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 })
        : sign(digest, info, { key: o.key, dsaEncoding: 'der' });
  const alg = o.algorithmIdentifier ?? algorithmFor(o.key, digest);
  return sequence([info, alg, bitString(sig)]);
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

const p256 = generateKeyPair('p256');
const ca = createTestCa({ now: new Date(), keyType: 'p256' });

// ---------------------------------------------------------------------------------------------

describe('parseCsr reads real requests', () => {
  function opensslCsr(keyArgs: string[], extra: string[] = [], name = 'k'): Buffer {
    const key = join(dir, `${name}.key`);
    const out = join(dir, `${name}.csr`);
    const gen = spawnSync('openssl', ['genpkey', ...keyArgs, '-out', key]);
    expect(gen.status).toBe(0);
    const req = spawnSync('openssl', [
      'req',
      '-new',
      '-key',
      key,
      '-subj',
      '/O=Example/CN=svc.example.test',
      '-addext',
      'subjectAltName=DNS:svc.example.test,DNS:API.Example.Test,IP:10.0.0.1,IP:2001:db8::1,URI:spiffe://example.test/svc,email:ops@Example.test',
      ...extra,
      '-out',
      out,
    ]);
    expect(req.stderr.toString()).toBe('');
    return readFileSync(out);
  }

  it.each([
    ['P-256', ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'], [], 'ecdsa-with-SHA256'],
    ['P-384', ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-384'], ['-sha384'], 'ecdsa-with-SHA384'],
    ['RSA 2048', ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048'], [], 'sha256WithRSAEncryption'],
    [
      'RSA 2048 PSS',
      ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048'],
      ['-sha256', '-sigopt', 'rsa_padding_mode:pss', '-sigopt', 'rsa_pss_saltlen:32'],
      'rsassa-pss-sha256',
    ],
    ['Ed25519', ['-algorithm', 'ED25519'], [], 'ed25519'],
  ])('openssl req with a %s key: key, subject and normalized SAN names', (label, keyArgs, extra, alg) => {
    const pem = opensslCsr(keyArgs, extra, label.replace(/\W/g, ''));
    const csr = parseCsr(pem.toString('utf8'));
    expect(csr.signatureAlgorithm).toBe(alg);
    expect(csr.subject).toEqual({ organization: 'Example', commonName: 'svc.example.test' });
    expect(csr.requestedNames).toEqual({
      dns: ['svc.example.test', 'api.example.test'],
      ip: ['10.0.0.1', '2001:db8::1'],
      uri: ['spiffe://example.test/svc'],
      email: ['ops@example.test'],
    });
    // Bytes of the PEM (as uploaded) and the DER give the same result.
    expect(parseCsr(pem).publicKey.export({ type: 'spki', format: 'der' })).toEqual(
      csr.publicKey.export({ type: 'spki', format: 'der' }),
    );
    expect(parseCsr(csr.der).requestedNames).toEqual(csr.requestedNames);
  });

  it('accepts the NEW CERTIFICATE REQUEST label and a CSR from @peculiar/x509', async () => {
    x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
    const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
    const keys = await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify']);
    const req = await x509.Pkcs10CertificateRequestGenerator.create({
      name: 'CN=peculiar.example.test',
      keys,
      signingAlgorithm: alg,
      extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: 'peculiar.example.test' }])],
    });
    const der = new Uint8Array(req.rawData);
    const csr = parseCsr(encodePem(der, 'NEW CERTIFICATE REQUEST'));
    expect(csr.requestedNames.dns).toEqual(['peculiar.example.test']);
    expect(csr.signatureAlgorithm).toBe('ecdsa-with-SHA256');
  });

  it('accepts ECDSA with SHA-512, a CSR without a SAN (no names requested) and one without the attributes field', () => {
    expect(parseCsr(craftCsr({ key: p256.privateKey, digest: 'sha512' })).signatureAlgorithm).toBe('ecdsa-with-SHA512');
    expect(parseCsr(craftCsr({ key: p256.privateKey, commonName: 'x.example' })).requestedNames).toEqual({
      dns: [],
      ip: [],
      uri: [],
      email: [],
    });
    expect(parseCsr(craftCsr({ key: p256.privateKey, omitAttributes: true })).subject).toEqual({});
  });
});

describe('proof of possession', () => {
  it('refuses a CSR signed by another key than the one it carries', () => {
    const other = generateKeyPair('p256');
    const csr = craftCsr({
      key: other.privateKey,
      publicKey: p256.publicKey,
      attributes: [extensionRequest(san(dns('a.example.test')))],
    });
    expect(code(() => parseCsr(csr))).toBe('ERR_CSR_SIGNATURE_INVALID');
  });

  it('refuses a CSR with one flipped bit in the signature or in the signed request', () => {
    for (const key of [p256, generateKeyPair('rsa2048'), generateKeyPair('ed25519')]) {
      const good = craftCsr({ key: key.privateKey, commonName: 'bit.example.test' });
      expect(() => parseCsr(good)).not.toThrow();
      const sigFlipped = Uint8Array.from(good);
      sigFlipped[sigFlipped.length - 5] = (sigFlipped[sigFlipped.length - 5] ?? 0) ^ 0x01;
      expect(code(() => parseCsr(sigFlipped))).toBe('ERR_CSR_SIGNATURE_INVALID');
      const cnAt = Buffer.from(good).indexOf('bit.example.test');
      const infoFlipped = Uint8Array.from(good);
      infoFlipped[cnAt] = (infoFlipped[cnAt] ?? 0) ^ 0x01; // 'b' → 'c'
      expect(code(() => parseCsr(infoFlipped))).toBe('ERR_CSR_SIGNATURE_INVALID');
    }
  });

  it('refuses MD5 and SHA-1 signatures even when they verify (openssl req -md5 / -sha1, crafted ECDSA-SHA1)', () => {
    const key = join(dir, 'weak.key');
    spawnSync('openssl', ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', key]);
    for (const md of ['-md5', '-sha1']) {
      const out = spawnSync('openssl', ['req', '-new', '-key', key, '-subj', '/CN=weak', md, '-outform', 'DER']);
      expect(out.status).toBe(0);
      expect(code(() => parseCsr(new Uint8Array(out.stdout)))).toBe('ERR_CSR_WEAK_SIGNATURE');
    }
    expect(code(() => parseCsr(craftCsr({ key: p256.privateKey, digest: 'sha1' })))).toBe('ERR_CSR_WEAK_SIGNATURE');
  });

  it('refuses RSASSA-PSS with default (SHA-1) parameters and unknown signature algorithms', () => {
    const rsa = generateKeyPair('rsa2048');
    const pssDefaults = sequence([oid(OID.rsassaPss), sequence([])]);
    expect(
      code(() => parseCsr(craftCsr({ key: rsa.privateKey, digest: 'pss', algorithmIdentifier: pssDefaults }))),
    ).toBe('ERR_CSR_WEAK_SIGNATURE');
    expect(parseCsr(craftCsr({ key: rsa.privateKey, digest: 'pss' })).signatureAlgorithm).toBe('rsassa-pss-sha256');
    const unknown = sequence([oid('1.2.3.4.5')]);
    expect(code(() => parseCsr(craftCsr({ key: p256.privateKey, algorithmIdentifier: unknown })))).toBe(
      'ERR_CSR_SIGNATURE_UNSUPPORTED',
    );
    // An RSA algorithm over an ECDSA signature does not verify.
    const mismatch = sequence([oid(OID.sha256WithRsa), nullValue()]);
    expect(code(() => parseCsr(craftCsr({ key: p256.privateKey, algorithmIdentifier: mismatch })))).toBe(
      'ERR_CSR_SIGNATURE_INVALID',
    );
  });
});

describe('requested extensions are ignored: the certificate follows the profile', () => {
  it('CA:TRUE, extra EKUs, key usages, name constraints and names in other extensions change nothing', () => {
    const asks = extensionRequest(
      ext(OID.basicConstraints, sequence([boolean(true)]), true),
      ext(OID.keyUsage, tlv(0x03, Uint8Array.of(0x01, 0x86)), true),
      ext(OID.extKeyUsage, sequence([oid(OID.serverAuth), oid(OID.clientAuth), oid('1.3.6.1.5.5.7.3.3')])),
      ext(OID.issuerAltName, sequence([dns('evil.example.test')])),
      ext(OID.nameConstraints, sequence([explicit(0, sequence([dns('example.test')]))]), true),
      san(dns('app.example.test')),
    );
    const csr = parseCsr(craftCsr({ key: p256.privateKey, commonName: 'evil.example.test', attributes: [asks] }));
    expect(csr.requestedNames).toEqual({ dns: ['app.example.test'], ip: [], uri: [], email: [] });

    const cert = ca.issue({ profile: 'server', publicKey: csr.publicKey, names: csr.requestedNames });
    const x = new X509Certificate(cert.der);
    expect(x.ca).toBe(false);
    expect(x.keyUsage).toEqual([OID.serverAuth]);
    expect(x.subjectAltName).toBe('DNS:app.example.test');
    expect(x.subject).toBe('CN=app.example.test');
    const text = spawnSync('openssl', ['x509', '-noout', '-text'], { input: cert.pem }).stdout.toString();
    expect(text).not.toContain('Code Signing');
    expect(text).not.toContain('Name Constraints');
    expect(text).not.toContain('Issuer Alternative Name');
    expect(text).not.toContain('evil');
    expect(
      lintCertificate({
        der: cert.der,
        issuerDer: ca.intermediate.der,
        profile: 'server',
        expectedNames: { dns: ['app.example.test'], ip: [], uri: [], email: [] },
      }),
    ).toEqual([]);
  });
});

describe('hostile names', () => {
  const withNames = (...names: GeneralName[]): Uint8Array =>
    craftCsr({ key: p256.privateKey, attributes: [extensionRequest(san(...names))] });

  it.each([
    ['NUL', 'good.example.test\0.evil.test'],
    ['CR', 'good.example.test\r'],
    ['LF', 'good.example.test\nHost: evil'],
    ['tab', 'a\tb.example.test'],
    ['DEL', 'a\x7f.example.test'],
  ])('a %s byte in a DNS name is ERR_CSR_MALFORMED', (_, name) => {
    expect(code(() => parseCsr(withNames(dns(name))))).toBe('ERR_CSR_MALFORMED');
  });

  it('non-ASCII bytes in a name and IP addresses that are not 4 or 16 octets are ERR_CSR_MALFORMED', () => {
    expect(code(() => parseCsr(withNames(dns(Uint8Array.from([0x63, 0xc3, 0xa9, 0x2e, 0x74])))))).toBe(
      'ERR_CSR_MALFORMED',
    );
    expect(code(() => parseCsr(withNames(uri('spiffe://example.test/\u00e9'))))).toBe('ERR_CSR_MALFORMED');
    expect(code(() => parseCsr(withNames(ip([10, 0, 0, 1, 24]))))).toBe('ERR_CSR_MALFORMED');
    expect(code(() => parseCsr(withNames(ip([10, 0, 0, 1, 255, 255, 255, 0]))))).toBe('ERR_CSR_MALFORMED');
  });

  it.each([
    ['*.*.example.test'],
    ['a*.example.test'],
    ['*'],
    ['*.test'],
    ['foo.*.example.test'],
    [`${'a'.repeat(64)}.example.test`],
    [`${'abcdefghi.'.repeat(25)}example.test`],
    ['-lead.example.test'],
    ['under_score.example.test'],
    ['trailing.dot.'],
    ['10.0.0.1'],
    ['space here.example.test'],
  ])('the DNS name %j is ERR_PKI_NAME_INVALID', (name) => {
    expect(code(() => parseCsr(withNames(dns(name))))).toBe('ERR_PKI_NAME_INVALID');
  });

  it('bad URIs, SPIFFE-ID tricks and a second URI next to a SPIFFE ID are ERR_PKI_NAME_INVALID', () => {
    for (const u of [
      'SPIFFE://example.test/a',
      'spiffe://Example.test/a',
      'spiffe://example.test/a/../b',
      'spiffe://example.test/a/',
      'spiffe://example.test:8443/a',
      'spiffe://user@example.test/a',
      'spiffe://example.test/a%2fb',
      'spiffe://example.test/a?x=1',
      'relative/path',
      `https://example.test/${'a'.repeat(2100)}`,
    ]) {
      expect(
        code(() => parseCsr(withNames(uri(u)))),
        u,
      ).toBe('ERR_PKI_NAME_INVALID');
    }
    expect(code(() => parseCsr(withNames(uri('spiffe://example.test/a'), uri('https://example.test/'))))).toBe(
      'ERR_PKI_NAME_INVALID',
    );
  });

  it('otherName, directoryName and registeredID in the SAN are ERR_CSR_NAME_UNSUPPORTED', () => {
    const upn = explicit(0, [oid('1.3.6.1.4.1.311.20.2.3'), explicit(0, utf8String('admin@example.test'))]);
    const dirName = explicit(4, sequence([setOf([sequence([oid(OID.commonName), utf8String('admin')])])]));
    const regId = implicitPrimitive(8, oid('1.2.3.4').subarray(2));
    for (const gn of [upn, dirName, regId]) {
      expect(code(() => parseCsr(withNames(dns('ok.example.test'), gn)))).toBe('ERR_CSR_NAME_UNSUPPORTED');
    }
  });

  it('a control character in the subject is ERR_CSR_MALFORMED (even though the subject is never copied)', () => {
    expect(code(() => parseCsr(craftCsr({ key: p256.privateKey, commonName: 'a\nb' })))).toBe('ERR_CSR_MALFORMED');
  });

  it('two SAN extensions or two extensionRequest attributes are ERR_CSR_MALFORMED', () => {
    const twoSans = extensionRequest(san(dns('a.example.test')), san(dns('b.example.test')));
    expect(code(() => parseCsr(craftCsr({ key: p256.privateKey, attributes: [twoSans] })))).toBe('ERR_CSR_MALFORMED');
    const er = extensionRequest(san(dns('a.example.test')));
    expect(code(() => parseCsr(craftCsr({ key: p256.privateKey, attributes: [er, er] })))).toBe('ERR_CSR_MALFORMED');
  });
});

describe('weak and unsupported keys', () => {
  it('RSA 1024 and RSA with exponent 3 are ERR_KEY_WEAK', () => {
    const rsa1024 = generateKeyPairSync('rsa', { modulusLength: 1024 });
    expect(code(() => parseCsr(craftCsr({ key: rsa1024.privateKey })))).toBe('ERR_KEY_WEAK');
    const e3 = generateKeyPairSync('rsa', { modulusLength: 2048, publicExponent: 3 });
    expect(code(() => parseCsr(craftCsr({ key: e3.privateKey })))).toBe('ERR_KEY_WEAK');
  });

  it('secp256k1, P-521 and Ed448 keys are ERR_KEY_UNSUPPORTED', () => {
    for (const key of [
      generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).privateKey,
      generateKeyPairSync('ec', { namedCurve: 'P-521' }).privateKey,
    ]) {
      expect(code(() => parseCsr(craftCsr({ key, digest: 'sha512' })))).toBe('ERR_KEY_UNSUPPORTED');
    }
    const ed448 = generateKeyPairSync('ed448');
    const info = sequence([
      integer(0),
      sequence([]),
      new Uint8Array(ed448.publicKey.export({ type: 'spki', format: 'der' })),
      implicitConstructed(0, []),
    ]);
    const csr = sequence([info, sequence([oid('1.3.101.113')]), bitString(sign(null, info, ed448.privateKey))]);
    expect(code(() => parseCsr(csr))).toBe('ERR_KEY_UNSUPPORTED');
  });

  it('an SPKI node:crypto cannot load (unknown curve OID) is ERR_KEY_UNSUPPORTED', () => {
    const spki = sequence([sequence([oid(OID.ecPublicKey), oid('1.2.3.4.5.6')]), bitString(Uint8Array.of(4, 1, 2))]);
    const info = sequence([integer(0), sequence([]), spki, implicitConstructed(0, [])]);
    const csr = sequence([info, sequence([oid(OID.ecdsaWithSha256)]), bitString(Uint8Array.of(0x30, 0))]);
    expect(code(() => parseCsr(csr))).toBe('ERR_KEY_UNSUPPORTED');
  });
});

describe('malformed and oversized input', () => {
  // Long enough (≥ 256 bytes) for a two-octet outer length.
  const good = craftCsr({
    key: p256.privateKey,
    attributes: [
      extensionRequest(
        san(dns('a.example.test'), dns(`${'b'.repeat(60)}.example.test`), dns(`${'c'.repeat(60)}.example.test`)),
      ),
    ],
  });

  it('more than 64 KiB (DER or PEM) is ERR_CSR_TOO_LARGE; the cap is configurable', () => {
    const padding = extensionRequest(ext('1.2.3.4', new Uint8Array(70_000)));
    const big = craftCsr({ key: p256.privateKey, attributes: [padding] });
    expect(code(() => parseCsr(big))).toBe('ERR_CSR_TOO_LARGE');
    expect(code(() => parseCsr(encodePem(big, 'CERTIFICATE REQUEST')))).toBe('ERR_CSR_TOO_LARGE');
    expect(code(() => parseCsr(good, { maxBytes: 100 }))).toBe('ERR_CSR_TOO_LARGE');
    expect(parseCsr(big, { maxBytes: 128 * 1024 }).requestedNames.dns).toEqual([]);
  });

  it('truncated DER, trailing garbage, indefinite and non-minimal lengths are ERR_CSR_MALFORMED', () => {
    expect(() => parseCsr(good)).not.toThrow();
    for (const cut of [1, 2, 10, good.length - 1]) {
      expect(
        code(() => parseCsr(good.subarray(0, cut))),
        `cut at ${cut}`,
      ).toBe('ERR_CSR_MALFORMED');
    }
    expect(code(() => parseCsr(concat([good, Uint8Array.of(0)])))).toBe('ERR_CSR_MALFORMED');
    expect(code(() => parseCsr(concat([good, good])))).toBe('ERR_CSR_MALFORMED');
    // Outer length re-encoded with a leading zero octet (82 01 xx → 83 00 01 xx).
    expect(good[1]).toBe(0x82);
    const nonMinimal = concat([Uint8Array.of(0x30, 0x83, 0x00), good.subarray(2)]);
    expect(code(() => parseCsr(nonMinimal))).toBe('ERR_CSR_MALFORMED');
    const indefinite = concat([Uint8Array.of(0x30, 0x80), good.subarray(4), Uint8Array.of(0, 0)]);
    expect(code(() => parseCsr(indefinite))).toBe('ERR_CSR_MALFORMED');
    expect(code(() => parseCsr(new Uint8Array()))).toBe('ERR_CSR_MALFORMED');
    expect(code(() => parseCsr(Uint8Array.of(0xff, 0xfe, 0x00)))).toBe('ERR_CSR_MALFORMED');
  });

  it('a wrong PEM label, two PEM blocks or broken base64 are ERR_CSR_MALFORMED', () => {
    expect(code(() => parseCsr(encodePem(good, 'CERTIFICATE')))).toBe('ERR_CSR_MALFORMED');
    const pem = encodePem(good, 'CERTIFICATE REQUEST');
    expect(code(() => parseCsr(pem + pem))).toBe('ERR_CSR_MALFORMED');
    expect(code(() => parseCsr(pem.replace('M', '*')))).toBe('ERR_CSR_MALFORMED');
    expect(code(() => parseCsr('not a csr'))).toBe('ERR_CSR_MALFORMED');
  });

  it('version other than v1 and extra fields are ERR_CSR_MALFORMED', () => {
    expect(code(() => parseCsr(craftCsr({ key: p256.privateKey, version: 1 })))).toBe('ERR_CSR_MALFORMED');
    expect(good[1]).toBe(0x82);
    const withExtra = tlv(0x30, [good.subarray(4), integer(0)]);
    expect(code(() => parseCsr(withExtra))).toBe('ERR_CSR_MALFORMED');
  });

  it('every refusal is a MutualError whose public form has a stable code and no input echo', () => {
    const hostile = withNul();
    try {
      parseCsr(hostile);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(MutualError);
      const pub = (e as MutualError).toPublic();
      expect(pub.code).toBe('ERR_CSR_MALFORMED');
      expect(JSON.stringify(pub)).not.toContain('\\u0000');
    }
  });

  function withNul(): Uint8Array {
    return craftCsr({ key: p256.privateKey, attributes: [extensionRequest(san(dns('a\0b.example.test')))] });
  }
});

describe('pem round trip', () => {
  it('writes the CSR file openssl reads back as valid', () => {
    const der = craftCsr({
      key: p256.privateKey,
      commonName: 'rt.example.test',
      attributes: [extensionRequest(san(dns('rt.example.test')))],
    });
    const file = join(dir, 'rt.csr');
    writeFileSync(file, encodePem(der, 'CERTIFICATE REQUEST'));
    const v = spawnSync('openssl', ['req', '-in', file, '-noout', '-verify']);
    expect(`${v.stdout.toString()}${v.stderr.toString()}`).toMatch(
      /verify OK|Certificate request self-signature verify OK/,
    );
    expect(parseCsr(readFileSync(file, 'utf8')).requestedNames.dns).toEqual(['rt.example.test']);
  });
});
