// The lint must catch what a bug in the builder could produce. Each case forges a certificate by
// editing one part of a good one (re-signed with the real issuer key, so only that rule breaks).
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { generateKeyPair, MutualError } from '@mutual/sdk';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { signerFor } from './algorithms.js';
import {
  bitString,
  boolean,
  children,
  concat,
  explicit,
  implicitPrimitive,
  integer,
  namedBits,
  octetString,
  oid,
  printableString,
  readOne,
  sequence,
  setOf,
  tlv,
  utf8String,
  x509Time,
} from './der.js';
import { issueCertificate } from './issue.js';
import { lintCertificate, type LintInput } from './lint.js';
import { OID } from './oids.js';
import { generateSerial } from './serial.js';
import { createTestCa } from './test-support.js';
import { computeValidity } from './validity.js';

const NOW = new Date('2031-05-04T10:00:00Z');
const random = (n: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 37 + 11) & 0xff);
const ca = createTestCa({ now: NOW, keyType: 'p256', randomBytes: random });
const interDer = ca.intermediate.der;
const leafNames = { dns: ['localhost'], ip: ['127.0.0.1'], uri: [], email: [] };

const rules = (input: LintInput): string[] => [...new Set(lintCertificate(input).map((f) => f.rule))].sort();

interface Parts {
  version: Uint8Array;
  serial: Uint8Array;
  sigAlg: Uint8Array;
  issuer: Uint8Array;
  validity: Uint8Array;
  subject: Uint8Array;
  spki: Uint8Array;
  extensions: Uint8Array[];
  outerSigAlg?: Uint8Array;
  /** Signs the TBS; default: the intermediate's key. */
  signer?: KeyObject;
  /** Raw bytes appended after the certificate. */
  trailing?: Uint8Array;
}

/** Splits a certificate into raw TBS parts. */
function partsOf(der: Uint8Array): Parts {
  const [tbs] = children(readOne(der));
  const [version, serial, sigAlg, issuer, validity, subject, spki, exts] = children(tbs!);
  return {
    version: version!.bytes,
    serial: serial!.bytes,
    sigAlg: sigAlg!.bytes,
    issuer: issuer!.bytes,
    validity: validity!.bytes,
    subject: subject!.bytes,
    spki: spki!.bytes,
    extensions: children(children(exts!)[0]!).map((e) => e.bytes),
  };
}

function forge(p: Parts): Uint8Array {
  const tbs = sequence([
    p.version,
    p.serial,
    p.sigAlg,
    p.issuer,
    p.validity,
    p.subject,
    p.spki,
    explicit(3, sequence(p.extensions)),
  ]);
  const signer = signerFor(p.signer ?? ca.intermediate.privateKey);
  const cert = sequence([tbs, p.outerSigAlg ?? p.sigAlg, bitString(signer.sign(tbs))]);
  return p.trailing ? concat([cert, p.trailing]) : cert;
}

const extOid = (extDer: Uint8Array): string => {
  const o = children(readOne(extDer))[0]!;
  return Buffer.from(o.bytes).toString('hex');
};
const is = (id: string) => (e: Uint8Array) => extOid(e) === Buffer.from(oid(id)).toString('hex');
const ext = (id: string, value: Uint8Array, critical = false): Uint8Array =>
  sequence(critical ? [oid(id), boolean(true), octetString(value)] : [oid(id), octetString(value)]);
const replaceExt = (exts: Uint8Array[], id: string, replacement?: Uint8Array): Uint8Array[] =>
  exts.flatMap((e) => (is(id)(e) ? (replacement ? [replacement] : []) : [e]));

const leafParts = (): Parts => partsOf(ca.leaf.der);
const lintLeaf = (der: Uint8Array, profile: LintInput['profile'] = 'both') =>
  rules({ der, issuerDer: interDer, profile, expectedNames: leafNames });

describe('lint accepts what pki builds', () => {
  it.each(['p256', 'p384', 'rsa2048', 'ed25519'] as const)(
    '%s: root, intermediate and leaves of every profile',
    (keyType) => {
      const c = createTestCa({ now: NOW, keyType, randomBytes: random });
      expect(rules({ der: c.root.der, profile: 'root' })).toEqual([]);
      expect(rules({ der: c.intermediate.der, issuerDer: c.root.der, profile: 'intermediate' })).toEqual([]);
      for (const profile of ['server', 'client', 'both'] as const) {
        const leaf = c.issue({ profile, names: { dns: ['a.example.test'], uri: ['spiffe://example.test/a'] } });
        expect(rules({ der: leaf.der, issuerDer: c.intermediate.der, profile })).toEqual([]);
      }
    },
  );

  it('every certificate built from random names, profiles and key types passes the full lint, asn1js included (property)', () => {
    const keys = (['p256', 'p384', 'rsa2048', 'ed25519'] as const).map((t) => generateKeyPair(t).publicKey);
    const label = fc
      .stringMatching(/^[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?$/)
      .filter((l) => !/^[0-9]+$/.test(l) && l.slice(2, 4) !== '--');
    const dnsName = fc.array(label, { minLength: 1, maxLength: 4 }).map((ls) => `${ls.join('.')}.example.test`);
    const names = fc.record({
      dns: fc.uniqueArray(dnsName, { maxLength: 12 }),
      ip: fc.uniqueArray(fc.oneof(fc.ipV4(), fc.ipV6()), { maxLength: 4 }),
      uri: fc.oneof(
        fc.constant<string[]>([]),
        label.map((l) => [`spiffe://example.test/ns/${l}`]),
      ),
      email: fc.uniqueArray(
        label.map((l) => `${l}@example.test`),
        { maxLength: 2 },
      ),
    });
    fc.assert(
      fc.property(
        names,
        fc.constantFrom<'server' | 'client' | 'both'>('server', 'client', 'both'),
        fc.nat(3),
        (n, profile, k) => {
          fc.pre(n.dns.length + n.ip.length + n.uri.length + n.email.length > 0);
          const cert = ca.issue({ profile, names: n, publicKey: keys[k]! });
          expect(rules({ der: cert.der, issuerDer: interDer, profile, expectedNames: n })).toEqual([]);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('issueCertificate can also run the asn1js cross-parse', () => {
    const v = computeValidity({ now: NOW, lifetimeMs: 3600_000, issuerNotBefore: new Date('2031-05-04T09:59:00Z') });
    const key = generateKeyPair('p256');
    const c = issueCertificate(
      {
        profile: 'server',
        subject: {},
        names: { dns: ['x.example.test'], ip: [], uri: [], email: [] },
        publicKey: key.publicKey,
        issuer: { certificateDer: interDer, privateKey: ca.intermediate.privateKey },
        serial: generateSerial(random),
        notBefore: v.notBefore,
        notAfter: v.notAfter,
      },
      { asn1jsCrossCheck: true },
    );
    expect(rules({ der: c.der, issuerDer: interDer, profile: 'server' })).toEqual([]);
  });

  it('the forging helper itself reproduces a good certificate (so each finding below is the edit alone)', () => {
    const again = forge(leafParts());
    expect(lintLeaf(again)).toEqual([]);
  });
});

describe('lint finds each broken rule', () => {
  it('short and negative serials', () => {
    expect(lintLeaf(forge({ ...leafParts(), serial: integer(123456) }))).toEqual(['serial.length']);
    const negative = tlv(
      0x02,
      Uint8Array.from({ length: 16 }, () => 0x81),
    );
    expect(lintLeaf(forge({ ...leafParts(), serial: negative }))).toEqual(['serial.positive']);
  });

  it("validity outside the issuer's, reversed, or with the wrong time type", () => {
    const late = sequence([x509Time(new Date('2031-05-04T09:59:00Z')), x509Time(new Date('2045-01-01T00:00:00Z'))]);
    expect(lintLeaf(forge({ ...leafParts(), validity: late }))).toEqual(['validity.within-issuer']);
    const reversed = sequence([x509Time(new Date('2031-05-05T00:00:00Z')), x509Time(new Date('2031-05-04T11:00:00Z'))]);
    expect(lintLeaf(forge({ ...leafParts(), validity: reversed }))).toEqual(['validity.order']);
    const gen = tlv(0x18, new TextEncoder().encode('20310504100000Z'));
    const wrongType = sequence([gen, x509Time(new Date('2031-05-05T00:00:00Z'))]);
    expect(lintLeaf(forge({ ...leafParts(), validity: wrongType }))).toEqual(['validity.encoding']);
  });

  it('a leaf that is a CA, or whose basicConstraints is missing or not critical', () => {
    const p = leafParts();
    const caTrue = ext(OID.basicConstraints, sequence([boolean(true)]), true);
    expect(lintLeaf(forge({ ...p, extensions: replaceExt(p.extensions, OID.basicConstraints, caTrue) }))).toEqual([
      'basic-constraints.ca',
    ]);
    expect(lintLeaf(forge({ ...p, extensions: replaceExt(p.extensions, OID.basicConstraints) }))).toEqual([
      'basic-constraints.present',
    ]);
    const soft = ext(OID.basicConstraints, sequence([]));
    expect(lintLeaf(forge({ ...p, extensions: replaceExt(p.extensions, OID.basicConstraints, soft) }))).toEqual([
      'basic-constraints.critical',
    ]);
  });

  it('key usage and EKU other than the profile says', () => {
    const p = leafParts();
    const ku = ext(OID.keyUsage, namedBits([0, 5]), true);
    expect(lintLeaf(forge({ ...p, extensions: replaceExt(p.extensions, OID.keyUsage, ku) }))).toEqual([
      'key-usage.profile',
    ]);
    const eku = ext(OID.extKeyUsage, sequence([oid(OID.serverAuth), oid(OID.clientAuth), oid('1.3.6.1.5.5.7.3.3')]));
    expect(lintLeaf(forge({ ...p, extensions: replaceExt(p.extensions, OID.extKeyUsage, eku) }))).toEqual([
      'eku.profile',
    ]);
    // The same 'both' certificate linted as a server profile has one EKU too many.
    expect(lintLeaf(ca.leaf.der, 'server')).toEqual(['eku.profile']);
    // A leaf linted as an intermediate: not a CA, wrong KU, has an EKU.
    expect(lintLeaf(ca.leaf.der, 'intermediate')).toEqual([
      'basic-constraints.ca',
      'basic-constraints.path-length',
      'eku.profile',
      'key-usage.profile',
    ]);
  });

  it('SAN missing, different from the names asked for, or not critical under an empty subject', () => {
    const p = leafParts();
    expect(lintLeaf(forge({ ...p, extensions: replaceExt(p.extensions, OID.subjectAltName) }))).toEqual([
      'san.expected',
      'san.present',
      'subject.cn-in-san',
    ]);
    const more = ext(
      OID.subjectAltName,
      sequence([
        implicitPrimitive(2, new TextEncoder().encode('localhost')),
        implicitPrimitive(2, new TextEncoder().encode('evil.example.test')),
      ]),
    );
    expect(lintLeaf(forge({ ...p, extensions: replaceExt(p.extensions, OID.subjectAltName, more) }))).toEqual([
      'san.expected',
    ]);
    const empty = sequence([]);
    expect(lintLeaf(forge({ ...p, subject: empty }))).toEqual(['san.critical']);
  });

  it('a common name that is not one of the SAN names', () => {
    const cn = sequence([setOf([sequence([oid(OID.commonName), utf8String('other.example.test')])])]);
    expect(lintLeaf(forge({ ...leafParts(), subject: cn }))).toEqual(['subject.cn-in-san']);
  });

  it('missing SKI, missing or wrong AKI', () => {
    const p = leafParts();
    expect(lintLeaf(forge({ ...p, extensions: replaceExt(p.extensions, OID.subjectKeyIdentifier) }))).toEqual([
      'ski.present',
    ]);
    expect(lintLeaf(forge({ ...p, extensions: replaceExt(p.extensions, OID.authorityKeyIdentifier) }))).toEqual([
      'aki.present',
    ]);
    const wrong = ext(OID.authorityKeyIdentifier, sequence([implicitPrimitive(0, new Uint8Array(20))]));
    expect(lintLeaf(forge({ ...p, extensions: replaceExt(p.extensions, OID.authorityKeyIdentifier, wrong) }))).toEqual([
      'aki.matches-issuer',
    ]);
  });

  it('duplicate extensions and unknown critical extensions', () => {
    const p = leafParts();
    const ski = p.extensions.find(is(OID.subjectKeyIdentifier))!;
    expect(lintLeaf(forge({ ...p, extensions: [...p.extensions, ski] }))).toEqual(['extensions.unique']);
    const unknown = ext('1.3.6.1.4.1.99999.1', sequence([]), true);
    expect(lintLeaf(forge({ ...p, extensions: [...p.extensions, unknown] }))).toEqual(['extensions.critical-known']);
  });

  it('a signature by another key, and a TBS algorithm that differs from the outer one', () => {
    const other = generateKeyPair('p256');
    expect(lintLeaf(forge({ ...leafParts(), signer: other.privateKey }))).toEqual(['signature.verifies']);
    const p = leafParts();
    const sha384 = sequence([oid(OID.ecdsaWithSha384)]);
    expect(lintLeaf(forge({ ...p, sigAlg: sha384, outerSigAlg: p.sigAlg }))).toEqual(['signature.algorithm-match']);
    // Signed (validly) with a hash the issuer key does not get from mutual.
    const tbsAndOuter = forge({ ...p, sigAlg: sha384 });
    expect(lintLeaf(tbsAndOuter)).toEqual(['signature.algorithm-for-key', 'signature.verifies']);
  });

  it('an issuer name that differs from the issuer subject only in string type', () => {
    const printable = sequence([
      setOf([sequence([oid(OID.organizationName), printableString('mutual test')])]),
      setOf([sequence([oid(OID.commonName), printableString('mutual test intermediate p256')])]),
    ]);
    expect(lintLeaf(forge({ ...leafParts(), issuer: printable }))).toEqual(['issuer.name-match']);
  });

  it('non-DER encodings: BOOLEAN TRUE as 0x01, trailing bytes, a non-minimal length inside an extension', () => {
    const p = leafParts();
    const softTrue = sequence([oid(OID.basicConstraints), tlv(0x01, Uint8Array.of(0x01)), octetString(sequence([]))]);
    expect(lintLeaf(forge({ ...p, extensions: replaceExt(p.extensions, OID.basicConstraints, softTrue) }))).toEqual([
      'der.strict',
    ]);
    expect(lintLeaf(forge({ ...p, trailing: Uint8Array.of(0) }))).toEqual(['der.strict']);
    const longLen = sequence([oid(OID.subjectKeyIdentifier), octetString(Uint8Array.of(0x04, 0x81, 0x02, 0xaa, 0xbb))]);
    expect(lintLeaf(forge({ ...p, extensions: replaceExt(p.extensions, OID.subjectKeyIdentifier, longLen) }))).toEqual([
      'der.strict',
    ]);
  });

  it('a weak subject key', () => {
    const weak = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const spki = new Uint8Array(weak.publicKey.export({ type: 'spki', format: 'der' }));
    expect(lintLeaf(forge({ ...leafParts(), spki }))).toContain('spki.acceptable');
  });

  it('a self-signed root with a foreign AKI or signed by another key', () => {
    const p = partsOf(ca.root.der);
    const wrong = ext(OID.authorityKeyIdentifier, sequence([implicitPrimitive(0, new Uint8Array(20).fill(7))]));
    const rootKey = ca.root.privateKey;
    expect(
      rules({
        der: forge({ ...p, signer: rootKey, extensions: replaceExt(p.extensions, OID.authorityKeyIdentifier, wrong) }),
        profile: 'root',
      }),
    ).toEqual(['aki.matches-issuer']);
    expect(rules({ der: forge({ ...p, signer: ca.intermediate.privateKey }), profile: 'root' })).toEqual([
      'signature.verifies',
    ]);
  });

  it('garbage is one der.strict finding, never an exception', () => {
    expect(rules({ der: Uint8Array.of(0x30, 0x03, 0x02, 0x01, 0x00), issuerDer: interDer, profile: 'server' })).toEqual(
      ['der.strict'],
    );
    expect(rules({ der: new Uint8Array(), profile: 'root' })).toEqual(['der.strict']);
  });
});

describe('the ocsp profile', () => {
  const responder = ca.issue({ profile: 'ocsp', subject: { commonName: 'mutual test OCSP Responder' } });
  const none = { dns: [], ip: [], uri: [], email: [] };
  const lintOcsp = (der: Uint8Array) => rules({ der, issuerDer: interDer, profile: 'ocsp', expectedNames: none });

  it('accepts a responder certificate pki builds, for every key type', () => {
    expect(lintOcsp(responder.der)).toEqual([]);
    for (const keyType of ['p384', 'rsa2048', 'ed25519'] as const) {
      const c = createTestCa({ now: NOW, keyType, randomBytes: random });
      const r = c.issue({ profile: 'ocsp', subject: { commonName: 'R' } });
      expect(rules({ der: r.der, issuerDer: c.intermediate.der, profile: 'ocsp' })).toEqual([]);
    }
    expect(lintOcsp(forge(partsOf(responder.der)))).toEqual([]);
  });

  it('a responder is not a TLS leaf, and a TLS leaf is not a responder', () => {
    expect(rules({ der: responder.der, issuerDer: interDer, profile: 'client' })).toEqual([
      'eku.profile',
      'ocsp-nocheck.profile',
      'san.present',
      'subject.cn-in-san',
    ]);
    expect(rules({ der: ca.leaf.der, issuerDer: interDer, profile: 'ocsp' })).toEqual([
      'eku.profile',
      'ocsp-nocheck.present',
      'san.ocsp-none',
    ]);
  });

  it('finds a missing, critical or non-NULL id-pkix-ocsp-nocheck and an empty subject', () => {
    const p = partsOf(responder.der);
    const without = forge({ ...p, extensions: replaceExt(p.extensions, OID.ocspNoCheck) });
    expect(lintOcsp(without)).toEqual(['ocsp-nocheck.present']);
    const critical = forge({
      ...p,
      extensions: replaceExt(p.extensions, OID.ocspNoCheck, ext(OID.ocspNoCheck, Uint8Array.of(5, 0), true)),
    });
    expect(lintOcsp(critical)).toEqual(['extensions.critical-known', 'ocsp-nocheck.critical']);
    const notNull = forge({
      ...p,
      extensions: replaceExt(p.extensions, OID.ocspNoCheck, ext(OID.ocspNoCheck, integer(0))),
    });
    expect(lintOcsp(notNull)).toEqual(['extensions.decodable']);
    expect(lintOcsp(forge({ ...p, subject: sequence([]) }))).toEqual(['subject.ocsp-nonempty']);
  });
});

describe('issueCertificate', () => {
  it('throws ERR_PKI_LINT_FAILED (internal) with the findings when what it built breaks a rule', () => {
    const v = computeValidity({
      now: NOW,
      lifetimeMs: 3600_000,
      issuerNotBefore: new Date('2031-05-04T09:59:00Z'),
      issuerNotAfter: new Date('2032-05-04T10:00:00Z'),
    });
    const key = generateKeyPair('p256');
    try {
      issueCertificate({
        profile: 'server',
        subject: {},
        names: { dns: ['short-serial.example.test'], ip: [], uri: [], email: [] },
        publicKey: key.publicKey,
        issuer: { certificateDer: interDer, privateKey: ca.intermediate.privateKey },
        serial: Uint8Array.of(0x01, 0x02, 0x03, 0x04), // a valid INTEGER, but not from generateSerial
        notBefore: v.notBefore,
        notAfter: v.notAfter,
      });
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(MutualError);
      const err = e as MutualError;
      expect(err.code).toBe('ERR_PKI_LINT_FAILED');
      expect(err.kind).toBe('internal');
      expect(err.details['findings']).toEqual([
        { rule: 'serial.length', message: 'serial has 4 octets, expected 16 to 20' },
      ]);
    }
  });

  it('returns the certificate when the lint is clean, with a fresh serial per call', () => {
    const key = generateKeyPair('ed25519');
    const v = computeValidity({
      now: NOW,
      lifetimeMs: 3600_000,
      issuerNotBefore: new Date('2031-05-04T09:59:00Z'),
      issuerNotAfter: new Date('2032-05-04T10:00:00Z'),
    });
    let counter = 0;
    const rng = (n: number) => Uint8Array.from({ length: n }, (_, i) => (i === 0 ? 0x40 + counter++ : 0x55));
    const a = issueCertificate({
      profile: 'client',
      subject: {},
      names: { dns: [], ip: [], uri: ['spiffe://example.test/ns/a'], email: [] },
      publicKey: key.publicKey,
      issuer: { certificateDer: interDer, privateKey: ca.intermediate.privateKey },
      serial: generateSerial(rng),
      notBefore: v.notBefore,
      notAfter: v.notAfter,
    });
    expect(a.pem.startsWith('-----BEGIN CERTIFICATE-----\n')).toBe(true);
    expect(rules({ der: a.der, issuerDer: interDer, profile: 'client' })).toEqual([]);
  });
});
