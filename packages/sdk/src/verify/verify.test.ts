import { describe, expect, it } from 'vitest';
import {
  createVerifier,
  verifyChain,
  type VerifyReasonCode as ReasonCode,
  type VerifyChainOptions,
  type VerifyResult,
} from './index.js';
import {
  EKU,
  NOW,
  T0,
  bool,
  ctx,
  spkiPin,
  makeCert,
  makeChain,
  makeCrl,
  makeKey,
  name,
  octet,
  oid,
  seq,
  tlv,
  toPem,
  type CertSpec,
  type TestCert,
} from './test-pki.js';

function run(
  leaf: TestCert,
  anchors: TestCert[],
  intermediates: TestCert[] = [],
  extra: Partial<VerifyChainOptions> = {},
): VerifyResult {
  return verifyChain({
    leaf: leaf.der,
    intermediates: intermediates.map((c) => c.der),
    anchors: anchors.map((c) => c.der),
    at: NOW,
    purpose: 'client',
    ...extra,
  });
}

function codes(r: VerifyResult): ReasonCode[] {
  return r.reasons.map((x) => x.code);
}

function expectRefused(r: VerifyResult, code: ReasonCode): void {
  expect(r.ok).toBe(false);
  expect(r.identity).toBeUndefined();
  expect(codes(r)).toContain(code);
}

describe('a valid chain', () => {
  it('accepts leaf -> intermediate -> root and returns the SPIFFE identity and the path', () => {
    const { root, inter, leaf } = makeChain();
    const r = run(leaf, [root], [inter], { expectedSpiffeId: 'spiffe://example.org/ns/prod/sa/api' });
    expect(r.reasons).toEqual([]);
    expect(r.ok).toBe(true);
    expect(r.path.map((p) => p.subject)).toEqual(['CN=workload', 'CN=Test Intermediate', 'CN=Test Root']);
    expect(r.path[2]?.anchor).toBe(true);
    expect(r.identity?.type).toBe('spiffe');
    expect(r.identity?.value).toBe('spiffe://example.org/ns/prod/sa/api');
  });

  it('accepts a server leaf by DNS name, with a left-most wildcard, and by IP', () => {
    const { root, inter } = makeChain();
    const leaf = makeCert({
      issuer: inter,
      cn: 'api',
      eku: [EKU.serverAuth],
      san: [{ dns: '*.api.example.com' }, { dns: 'api.example.com' }, { ip: Uint8Array.of(10, 0, 0, 1) }],
    });
    for (const n of ['api.example.com', 'x.api.example.com', 'X.API.example.COM', '10.0.0.1']) {
      const r = run(leaf, [root], [inter], { purpose: 'server', expectedNames: [n] });
      expect(r.ok, n).toBe(true);
    }
    expectRefused(
      run(leaf, [root], [inter], { purpose: 'server', expectedNames: ['a.b.api.example.com'] }),
      'NAME_MISMATCH',
    );
  });

  it('accepts RSA-PSS, RSA PKCS#1 and Ed25519 signatures', () => {
    const root = makeCert({ cn: 'RSA Root', ca: true, key: makeKey('rsa2048') });
    const inter = makeCert({
      cn: 'Ed Inter',
      ca: true,
      issuer: root,
      key: makeKey('ed25519'),
      sigAlg: 'rsa-pss-sha256',
    });
    const leaf = makeCert({ issuer: inter, eku: [EKU.clientAuth], san: [{ dns: 'svc.internal' }] });
    const r = run(leaf, [root], [inter]);
    expect(r.reasons).toEqual([]);
    expect(r.identity?.value).toBe('svc.internal');
  });

  it('is reusable: a verifier built once gives the same verdicts and caches nothing wrong', () => {
    const { root, inter, leaf } = makeChain();
    const v = createVerifier({ anchors: [root.pem] });
    for (let i = 0; i < 3; i++)
      expect(v.verify({ leaf: leaf.pem, intermediates: [inter.pem], at: NOW, purpose: 'client' }).ok).toBe(true);
    const later = v.verify({
      leaf: leaf.pem,
      intermediates: [inter.pem],
      at: new Date('2040-01-01T00:00:00Z'),
      purpose: 'client',
    });
    expectRefused(later, 'EXPIRED');
  });
});

describe('§6 untrusted or self-signed leaves', () => {
  it('refuses a chain to a root that is not trusted', () => {
    const { root, inter, leaf } = makeChain();
    const other = makeCert({ cn: 'Other Root', ca: true, key: makeKey('p256', true) });
    expectRefused(run(leaf, [other], [inter, root]), 'UNKNOWN_ISSUER');
  });

  it('refuses a self-signed leaf, even when it is listed as a trust anchor', () => {
    const self = makeCert({
      cn: 'me',
      eku: [EKU.clientAuth],
      san: [{ dns: 'me.example' }],
      key: makeKey('p256', true),
    });
    expectRefused(run(self, [makeCert({ cn: 'Root', ca: true })]), 'UNKNOWN_ISSUER');
    expect(run(self, [self]).ok).toBe(false);
  });

  it('refuses a leaf whose signature does not verify with the issuer key', () => {
    const { root, inter } = makeChain();
    const impostor = makeCert({ cn: 'Test Intermediate', ca: true, key: makeKey('p256', true) });
    const leaf = makeCert({ issuer: impostor, eku: [EKU.clientAuth], san: [{ dns: 'a.example' }] });
    expectRefused(run(leaf, [root], [inter]), 'BAD_SIGNATURE');
  });
});

describe('§6 non-CA issuers, pathlen and key usage', () => {
  it('refuses an issuer without cA=TRUE', () => {
    const root = makeCert({ cn: 'Root', ca: true, key: makeKey('p256', true) });
    const notCa = makeCert({
      cn: 'Not a CA',
      issuer: root,
      keyUsage: ['digitalSignature'],
      key: makeKey('p256', true),
    });
    const leaf = makeCert({ issuer: notCa, eku: [EKU.clientAuth], san: [{ dns: 'a.example' }] });
    expectRefused(run(leaf, [root], [notCa]), 'ISSUER_NOT_CA');
  });

  it('refuses a CA whose basic constraints are not critical', () => {
    const root = makeCert({ cn: 'Root', ca: true, bcCritical: false, key: makeKey('p256', true) });
    const leaf = makeCert({ issuer: root, eku: [EKU.clientAuth], san: [{ dns: 'a.example' }] });
    expectRefused(run(leaf, [root]), 'EXTENSION_CRITICALITY');
  });

  it('refuses a path that exceeds a pathLenConstraint, but not counting the leaf', () => {
    const root = makeCert({ cn: 'Root', ca: true, pathLen: 0, key: makeKey('p256', true) });
    const i1 = makeCert({ cn: 'I1', ca: true, issuer: root, key: makeKey('p256', true) });
    const leaf = makeCert({ issuer: i1, eku: [EKU.clientAuth], san: [{ dns: 'a.example' }] });
    expectRefused(run(leaf, [root], [i1]), 'PATH_LENGTH_EXCEEDED');
    const direct = makeCert({ issuer: root, eku: [EKU.clientAuth], san: [{ dns: 'a.example' }] });
    expect(run(direct, [root]).ok).toBe(true);
  });

  it('refuses an issuer whose key usage lacks keyCertSign', () => {
    const root = makeCert({ cn: 'Root', ca: true, key: makeKey('p256', true) });
    const inter = makeCert({
      cn: 'I',
      ca: true,
      issuer: root,
      keyUsage: ['cRLSign', 'digitalSignature'],
      key: makeKey('p256', true),
    });
    const leaf = makeCert({ issuer: inter, eku: [EKU.clientAuth], san: [{ dns: 'a.example' }] });
    const r = run(leaf, [root], [inter]);
    expect(r.ok).toBe(false);
    expect(codes(r).some((c) => c === 'ISSUER_KEY_USAGE' || c === 'KEY_USAGE_INCONSISTENT')).toBe(true);
  });

  it('refuses a client leaf whose key usage does not allow signing', () => {
    const { root, inter } = makeChain();
    const leaf = makeCert({
      issuer: inter,
      eku: [EKU.clientAuth],
      keyUsage: ['keyEncipherment'],
      san: [{ dns: 'a.example' }],
    });
    expectRefused(run(leaf, [root], [inter]), 'LEAF_KEY_USAGE');
  });
});

describe('§6 wrong EKU and CA leaves', () => {
  it('refuses a server-only certificate presented as a client certificate', () => {
    const { root, inter } = makeChain();
    const leaf = makeCert({ issuer: inter, eku: [EKU.serverAuth], san: [{ dns: 'a.example' }] });
    expectRefused(run(leaf, [root], [inter]), 'LEAF_EKU');
    expect(run(leaf, [root], [inter], { purpose: 'server' }).ok).toBe(true);
  });

  it('refuses a path through an intermediate whose EKU excludes the purpose', () => {
    const root = makeCert({ cn: 'Root', ca: true, key: makeKey('p256', true) });
    const inter = makeCert({
      cn: 'Code CA',
      ca: true,
      issuer: root,
      eku: [EKU.codeSigning],
      key: makeKey('p256', true),
    });
    const leaf = makeCert({ issuer: inter, eku: [EKU.clientAuth], san: [{ dns: 'a.example' }] });
    expectRefused(run(leaf, [root], [inter]), 'INTERMEDIATE_EKU');
  });

  it('refuses a CA certificate as the leaf', () => {
    const { root, inter } = makeChain();
    const caLeaf = makeCert({
      cn: 'Sub CA',
      ca: true,
      issuer: inter,
      san: [{ dns: 'a.example' }],
      key: makeKey('p256', true),
    });
    expectRefused(run(caLeaf, [root], [inter]), 'CA_AS_LEAF');
  });
});

describe('§6 expired or not-yet-valid certificates', () => {
  it('refuses an expired leaf and a not-yet-valid leaf, at second granularity', () => {
    const { root, inter } = makeChain();
    const notAfter = new Date('2026-06-01T11:59:59Z');
    const expired = makeCert({ issuer: inter, eku: [EKU.clientAuth], san: [{ dns: 'a.example' }], notAfter });
    expectRefused(run(expired, [root], [inter]), 'EXPIRED');
    expect(run(expired, [root], [inter], { at: new Date('2026-06-01T11:59:59.999Z') }).ok).toBe(true);
    const future = makeCert({
      issuer: inter,
      eku: [EKU.clientAuth],
      san: [{ dns: 'a.example' }],
      notBefore: new Date('2026-06-01T12:00:01Z'),
    });
    expectRefused(run(future, [root], [inter]), 'NOT_YET_VALID');
  });

  it('refuses a chain whose intermediate or root has expired', () => {
    const root = makeCert({ cn: 'Root', ca: true, key: makeKey('p256', true) });
    const inter = makeCert({
      cn: 'Old',
      ca: true,
      issuer: root,
      notAfter: new Date('2026-01-01T00:00:00Z'),
      key: makeKey('p256', true),
    });
    const leaf = makeCert({ issuer: inter, eku: [EKU.clientAuth], san: [{ dns: 'a.example' }] });
    expectRefused(run(leaf, [root], [inter]), 'EXPIRED');
    const oldRoot = makeCert({
      cn: 'Old Root',
      ca: true,
      notAfter: new Date('2026-01-01T00:00:00Z'),
      key: makeKey('p256', true),
    });
    const leaf2 = makeCert({ issuer: oldRoot, eku: [EKU.clientAuth], san: [{ dns: 'a.example' }] });
    expectRefused(run(leaf2, [oldRoot]), 'EXPIRED');
  });
});

describe('§6 revoked leaves or intermediates (CRLs)', () => {
  it('refuses a leaf listed on its issuer CRL and accepts it on an unrelated CRL', () => {
    const { root, inter } = makeChain();
    const leaf = makeCert({ issuer: inter, serial: 4242, eku: [EKU.clientAuth], san: [{ dns: 'a.example' }] });
    expectRefused(run(leaf, [root], [inter], { crls: [makeCrl({ issuer: inter, revoked: [4242] })] }), 'REVOKED');
    expect(
      run(leaf, [root], [inter], { crls: [makeCrl({ issuer: inter, revoked: [4243] }), makeCrl({ issuer: root })] }).ok,
    ).toBe(true);
    const other = makeCert({ cn: 'Other CA', ca: true, key: makeKey('p256', true) });
    expect(run(leaf, [root], [inter], { crls: [makeCrl({ issuer: other, revoked: [4242] })] }).ok).toBe(true);
  });

  it('refuses an intermediate listed on the root CRL', () => {
    const root = makeCert({ cn: 'Root', ca: true, key: makeKey('p256', true) });
    const inter = makeCert({ cn: 'I', ca: true, issuer: root, serial: 77, key: makeKey('p256', true) });
    const leaf = makeCert({ issuer: inter, eku: [EKU.clientAuth], san: [{ dns: 'a.example' }] });
    const r = run(leaf, [root], [inter], { crls: [makeCrl({ issuer: root, revoked: [77] })] });
    expectRefused(r, 'REVOKED');
    expect(r.reasons.find((x) => x.code === 'REVOKED')?.cert?.index).toBe(1);
  });

  it('fails closed on a stale CRL, a CRL without number, a critical CRL number and a forged CRL', () => {
    const { root, inter, leaf } = makeChain();
    expectRefused(
      run(leaf, [root], [inter], { crls: [makeCrl({ issuer: inter, nextUpdate: new Date('2026-05-01T00:00:00Z') })] }),
      'CRL_STALE',
    );
    expectRefused(run(leaf, [root], [inter], { crls: [makeCrl({ issuer: inter, number: null })] }), 'CRL_INVALID');
    expectRefused(
      run(leaf, [root], [inter], { crls: [makeCrl({ issuer: inter, numberCritical: true })] }),
      'CRL_INVALID',
    );
    const forger = makeCert({ cn: 'Test Intermediate', subject: inter.subject, ca: true, key: makeKey('p256', true) });
    expectRefused(
      run(leaf, [root], [inter], { crls: [makeCrl({ issuer: { ...inter, key: forger.key } })] }),
      'CRL_INVALID',
    );
  });

  it('requires a CRL for the leaf issuer when configured to', () => {
    const { root, inter, leaf } = makeChain();
    expectRefused(run(leaf, [root], [inter], { requireCrl: 'leaf' }), 'CRL_MISSING');
    expect(run(leaf, [root], [inter], { requireCrl: 'leaf', crls: [makeCrl({ issuer: inter })] }).ok).toBe(true);
    expectRefused(run(leaf, [root], [inter], { requireCrl: 'all', crls: [makeCrl({ issuer: inter })] }), 'CRL_MISSING');
  });
});

describe('§6 unknown critical extensions', () => {
  it('refuses an unknown critical extension in the leaf, an intermediate or the anchor', () => {
    const unknown = { oid: '1.3.6.1.4.1.55738.666.1', critical: true, value: Uint8Array.of(0x05, 0x00) };
    const { root, inter } = makeChain();
    const leaf = makeCert({ issuer: inter, eku: [EKU.clientAuth], san: [{ dns: 'a.example' }], extensions: [unknown] });
    expectRefused(run(leaf, [root], [inter]), 'UNKNOWN_CRITICAL_EXTENSION');
    const badRoot = makeCert({ cn: 'Root', ca: true, extensions: [unknown], key: makeKey('p256', true) });
    const leaf2 = makeCert({ issuer: badRoot, eku: [EKU.clientAuth], san: [{ dns: 'a.example' }] });
    expectRefused(run(leaf2, [badRoot]), 'UNKNOWN_CRITICAL_EXTENSION');
    // ... but an unknown non-critical one is fine.
    const ok = makeCert({
      issuer: inter,
      eku: [EKU.clientAuth],
      san: [{ dns: 'a.example' }],
      extensions: [{ ...unknown, critical: false }],
    });
    expect(run(ok, [root], [inter]).ok).toBe(true);
  });
});

describe('§6 name-constraint bypasses', () => {
  function constrained(spec: Pick<CertSpec, 'permitted' | 'excluded'>): {
    root: TestCert;
    inter: TestCert;
  } {
    const root = makeCert({ cn: 'Root', ca: true, key: makeKey('p256', true) });
    const inter = makeCert({ cn: 'Constrained', ca: true, issuer: root, key: makeKey('p256', true), ...spec });
    return { root, inter };
  }

  it('refuses a DNS name outside the permitted subtree, accepts one inside', () => {
    const { root, inter } = constrained({ permitted: [{ dns: 'example.com' }] });
    const good = makeCert({ issuer: inter, eku: [EKU.clientAuth], san: [{ dns: 'a.b.example.com' }] });
    expect(run(good, [root], [inter]).ok).toBe(true);
    const bad = makeCert({ issuer: inter, eku: [EKU.clientAuth], san: [{ dns: 'a.example.com.evil.net' }] });
    expectRefused(run(bad, [root], [inter]), 'NAME_CONSTRAINT_VIOLATION');
    const suffix = makeCert({ issuer: inter, eku: [EKU.clientAuth], san: [{ dns: 'notexample.com' }] });
    expectRefused(run(suffix, [root], [inter]), 'NAME_CONSTRAINT_VIOLATION');
  });

  it('refuses a wildcard SAN that could stand for an excluded name (CVE-2025-61727)', () => {
    const { root, inter } = constrained({ excluded: [{ dns: 'admin.example.com' }] });
    const wildcard = makeCert({ issuer: inter, eku: [EKU.serverAuth], san: [{ dns: '*.example.com' }] });
    expectRefused(run(wildcard, [root], [inter], { purpose: 'server' }), 'NAME_CONSTRAINT_VIOLATION');
  });

  it('applies constraints case-insensitively', () => {
    const { root, inter } = constrained({ excluded: [{ dns: 'Example.COM' }] });
    const upper = makeCert({ issuer: inter, eku: [EKU.clientAuth], san: [{ dns: 'API.EXAMPLE.com' }] });
    expectRefused(run(upper, [root], [inter]), 'NAME_CONSTRAINT_VIOLATION');
  });

  it('constrains URI SANs (SPIFFE trust domains) by host', () => {
    const { root, inter } = constrained({ permitted: [{ uri: 'prod.example.org' }] });
    const ok = makeCert({ issuer: inter, eku: [EKU.clientAuth], san: [{ uri: 'spiffe://prod.example.org/api' }] });
    expect(run(ok, [root], [inter]).ok).toBe(true);
    const other = makeCert({
      issuer: inter,
      eku: [EKU.clientAuth],
      san: [{ uri: 'spiffe://prod.example.org.evil/api' }],
    });
    expectRefused(run(other, [root], [inter]), 'NAME_CONSTRAINT_VIOLATION');
  });

  it('refuses a URI whose host cannot be checked against URI constraints', () => {
    const { root, inter } = constrained({ excluded: [{ uri: '.evil.example' }] });
    for (const uri of ['https://[::1]/admin', 'urn:example:evil', 'https://10.0.0.1/x']) {
      const leaf = makeCert({ issuer: inter, eku: [EKU.clientAuth], san: [{ dns: 'a.example' }, { uri }] });
      expectRefused(run(leaf, [root], [inter]), 'NAME_CONSTRAINT_VIOLATION');
    }
  });

  it('refuses NUL bytes smuggled into a SAN', () => {
    const { root, inter } = constrained({ permitted: [{ dns: 'example.com' }] });
    const nul = makeCert({ issuer: inter, eku: [EKU.clientAuth], san: [{ dns: 'evil.net\u0000.example.com' }] });
    expectRefused(run(nul, [root], [inter]), 'MALFORMED_CERTIFICATE');
  });

  it('applies IP constraints and directory-name constraints on the subject', () => {
    const { root, inter } = constrained({ permitted: [{ ip: Uint8Array.of(10, 0, 0, 0, 255, 0, 0, 0) }] });
    const inside = makeCert({ issuer: inter, eku: [EKU.clientAuth], san: [{ ip: Uint8Array.of(10, 1, 2, 3) }] });
    expect(run(inside, [root], [inter]).ok).toBe(true);
    const outside = makeCert({ issuer: inter, eku: [EKU.clientAuth], san: [{ ip: Uint8Array.of(11, 1, 2, 3) }] });
    expectRefused(run(outside, [root], [inter]), 'NAME_CONSTRAINT_VIOLATION');
    const dn = constrained({ excluded: [{ dn: name('blocked') }] });
    const blocked = makeCert({ cn: 'blocked', issuer: dn.inter, eku: [EKU.clientAuth], san: [{ dns: 'a.example' }] });
    expectRefused(run(blocked, [dn.root], [dn.inter]), 'NAME_CONSTRAINT_VIOLATION');
  });

  it('refuses malformed constraints and constrained name forms it does not process', () => {
    const leading = constrained({ permitted: [{ dns: '.example.com' }] });
    const leaf = makeCert({ issuer: leading.inter, eku: [EKU.clientAuth], san: [{ dns: 'a.example.com' }] });
    expectRefused(run(leaf, [leading.root], [leading.inter]), 'NAME_CONSTRAINT_INVALID');
    const otherName = seq(oid('1.3.6.1.4.1.311.20.2.3'), ctx(0, true, tlv(0x0c, Buffer.from('x'))));
    const on = constrained({ excluded: [{ other: otherName.subarray(2) }] });
    const leaf2 = makeCert({
      issuer: on.inter,
      eku: [EKU.clientAuth],
      san: [{ dns: 'a.example' }, { other: otherName.subarray(2) }],
    });
    expectRefused(run(leaf2, [on.root], [on.inter]), 'NAME_CONSTRAINT_UNSUPPORTED');
  });
});

describe('§6 SAN-type confusion and string injection', () => {
  it('never uses the subject CN as a name', () => {
    const { root, inter } = makeChain();
    const cnOnly = makeCert({ cn: 'api.example.com', issuer: inter, eku: [EKU.serverAuth] });
    expectRefused(
      run(cnOnly, [root], [inter], { purpose: 'server', expectedNames: ['api.example.com'] }),
      'SAN_MISSING',
    );
  });

  it('refuses an IP address written as a DNS name and does not match an IP against DNS SANs', () => {
    const { root, inter } = makeChain();
    const ipAsDns = makeCert({ issuer: inter, eku: [EKU.serverAuth], san: [{ dns: '10.0.0.1' }] });
    expectRefused(run(ipAsDns, [root], [inter], { purpose: 'server' }), 'SAN_INVALID');
    const dns = makeCert({ issuer: inter, eku: [EKU.serverAuth], san: [{ dns: 'a.example' }] });
    expectRefused(
      run(dns, [root], [inter], { purpose: 'server', expectedNames: [{ kind: 'DNS', value: '10.0.0.1' }] }),
      'NAME_MISMATCH',
    );
  });

  it('refuses malformed DNS SANs (underscore, embedded wildcard, bare wildcard) and wildcards in client certificates', () => {
    const { root, inter } = makeChain();
    for (const dns of ['foo_bar.example.com', 'ba*.example.com', '*', 'foo.*.example.com', 'a..example.com']) {
      const leaf = makeCert({ issuer: inter, eku: [EKU.serverAuth], san: [{ dns }] });
      expectRefused(run(leaf, [root], [inter], { purpose: 'server' }), 'SAN_INVALID');
    }
    const wildcardClient = makeCert({ issuer: inter, eku: [EKU.clientAuth], san: [{ dns: '*.example.com' }] });
    expectRefused(run(wildcardClient, [root], [inter]), 'SAN_INVALID');
  });
});

describe('§6 SPIFFE-ID grammar tricks', () => {
  const tricks = [
    'SPIFFE://example.org/api',
    'spiffe://Example.org/api',
    'spiffe://example.org/api/',
    'spiffe://example.org/a/../b',
    'spiffe://example.org/a/./b',
    'spiffe://example.org:443/api',
    'spiffe://user@example.org/api',
    'spiffe://example.org/api?x=1',
    'spiffe://example.org/api#frag',
    'spiffe://example.org/a%2Fb',
    'spiffe:///api',
    'spiffe://example.org//api',
  ];
  it.each(tricks)('refuses %s', (uri) => {
    const { root, inter, leaf } = makeChain({ san: [{ uri }] });
    expectRefused(run(leaf, [root], [inter]), 'SPIFFE_ID_INVALID');
  });

  it('refuses an SVID with two URI SANs and one that is a CA; mismatched IDs are refused', () => {
    const two = makeChain({ san: [{ uri: 'spiffe://example.org/a' }, { uri: 'spiffe://example.org/b' }] });
    expectRefused(run(two.leaf, [two.root], [two.inter]), 'SPIFFE_SVID_INVALID');
    const ok = makeChain();
    expectRefused(
      run(ok.leaf, [ok.root], [ok.inter], { expectedSpiffeId: 'spiffe://example.org/ns/prod/sa/API' }),
      'SPIFFE_ID_MISMATCH',
    );
  });
});

describe('§6 pins', () => {
  it('matches pins only on the validated path, never on extra certificates sent along', () => {
    const { root, inter, leaf } = makeChain();
    const stuffed = makeCert({ cn: 'Pinned but unrelated', ca: true, key: makeKey('p256', true) });
    const pinOf = spkiPin;
    expectRefused(run(leaf, [root], [inter, stuffed], { pins: [pinOf(stuffed)] }), 'PIN_MISMATCH');
    expect(run(leaf, [root], [inter, stuffed], { pins: [pinOf(inter)] }).ok).toBe(true);
  });

  it('is not fooled by a certificate copying the serial and subject of the pinned intermediate', () => {
    const root = makeCert({ cn: 'Root', ca: true, key: makeKey('p256', true) });
    const inter = makeCert({ cn: 'I', ca: true, issuer: root, serial: 99, key: makeKey('p256', true) });
    const evilRoot = makeCert({ cn: 'Root', ca: true, key: makeKey('p256', true) });
    const copy = makeCert({ cn: 'I', ca: true, issuer: evilRoot, serial: 99, key: makeKey('p256', true) });
    const leaf = makeCert({ issuer: copy, eku: [EKU.clientAuth], san: [{ dns: 'a.example' }] });
    const pin = spkiPin(inter);
    expect(run(leaf, [root], [copy, inter], { pins: [pin] }).ok).toBe(false);
  });
});

describe('§6 extra certificates and pathological chains', () => {
  it('ignores stuffed unrelated, malformed and look-alike certificates and still finds the path', () => {
    const { root, inter, leaf } = makeChain();
    const junk = Array.from({ length: 30 }, (_, i) => makeCert({ cn: `junk ${i}`, ca: true }));
    const lookAlike = makeCert({
      cn: 'Test Intermediate',
      subject: inter.subject,
      ca: true,
      issuer: root,
      key: makeKey('p256', true),
    });
    const r = verifyChain({
      leaf: leaf.der,
      intermediates: [lookAlike.der, Uint8Array.of(0x30, 0x03, 0x02, 0x01), ...junk.map((j) => j.der), inter.der],
      anchors: [root.der],
      at: NOW,
      purpose: 'client',
    });
    expect(r.reasons).toEqual([]);
    expect(r.path[1]?.spkiSha256).toBe(spkiPin(inter).slice(7));
  });

  it('stops on a flood of same-subject, same-key intermediates that never reach a root', () => {
    const key = makeKey('p256', true);
    const root = makeCert({ cn: 'Real Root', ca: true, key: makeKey('p256', true) });
    let prev = makeCert({ cn: 'Loop', ca: true, key });
    const pool: TestCert[] = [prev];
    for (let i = 0; i < 100; i++) {
      prev = makeCert({ cn: 'Loop', subject: prev.subject, ca: true, issuer: prev, key });
      pool.push(prev);
    }
    const leaf = makeCert({ issuer: prev, eku: [EKU.clientAuth], san: [{ dns: 'a.example' }] });
    const r = run(leaf, [root], pool);
    expect(r.ok).toBe(false);
    expect(codes(r).some((c) => c === 'BUDGET_EXHAUSTED' || c === 'UNKNOWN_ISSUER')).toBe(true);
  });

  it('refuses a chain deeper than the maximum depth', () => {
    const root = makeCert({ cn: 'Root', ca: true, key: makeKey('p256', true) });
    let prev = root;
    const inters: TestCert[] = [];
    for (let i = 0; i < 10; i++) {
      prev = makeCert({ cn: `I${i}`, ca: true, issuer: prev, key: makeKey('p256', true) });
      inters.push(prev);
    }
    const leaf = makeCert({ issuer: prev, eku: [EKU.clientAuth], san: [{ dns: 'a.example' }] });
    expectRefused(run(leaf, [root], inters), 'MAX_DEPTH_EXCEEDED');
    const short = makeCert({ issuer: inters[1] as TestCert, eku: [EKU.clientAuth], san: [{ dns: 'a.example' }] });
    expect(run(short, [root], inters).ok).toBe(true);
    expectRefused(run(short, [root], inters, { maxDepth: 1 }), 'MAX_DEPTH_EXCEEDED');
  });
});

describe('§6 weak algorithms and malformed DER', () => {
  it('refuses RSA-1024 keys, SHA-1 signatures and P-192 keys', () => {
    const { root, inter } = makeChain();
    const weak = makeCert({
      issuer: inter,
      key: makeKey('rsa1024'),
      eku: [EKU.clientAuth],
      san: [{ dns: 'a.example' }],
    });
    expectRefused(run(weak, [root], [inter]), 'WEAK_KEY');
    const rsaRoot = makeCert({ cn: 'RSA Root', ca: true, key: makeKey('rsa2048') });
    const sha1 = makeCert({ issuer: rsaRoot, sigAlg: 'rsa-sha1', eku: [EKU.clientAuth], san: [{ dns: 'a.example' }] });
    expectRefused(run(sha1, [rsaRoot]), 'WEAK_SIGNATURE_ALGORITHM');
    const p192 = makeCert({ issuer: inter, key: makeKey('p192'), eku: [EKU.clientAuth], san: [{ dns: 'a.example' }] });
    expectRefused(run(p192, [root], [inter]), 'WEAK_KEY');
  });

  it('refuses non-canonical encodings: long-form short length, BER booleans, explicit defaults, trailing bytes', () => {
    const { root, inter, leaf } = makeChain();
    const longLen = Uint8Array.from([leaf.der[0] as number, 0x83, 0x00, ...leaf.der.subarray(2)]);
    expectRefused(run({ ...leaf, der: longLen }, [root], [inter]), 'MALFORMED_CERTIFICATE');
    expectRefused(run({ ...leaf, der: Uint8Array.from([...leaf.der, 0]) }, [root], [inter]), 'MALFORMED_CERTIFICATE');
    const berBool = makeCert({
      issuer: inter,
      eku: [EKU.clientAuth],
      san: [{ dns: 'a.example' }],
      rawExtensions: [seq(oid('1.2.3.4'), Uint8Array.of(1, 1, 1), octet(Uint8Array.of(5, 0)))],
    });
    expectRefused(run(berBool, [root], [inter]), 'MALFORMED_CERTIFICATE');
    const explicitFalse = makeCert({
      issuer: inter,
      eku: [EKU.clientAuth],
      san: [{ dns: 'a.example' }],
      rawExtensions: [seq(oid('1.2.3.4'), bool(false), octet(Uint8Array.of(5, 0)))],
    });
    expectRefused(run(explicitFalse, [root], [inter]), 'MALFORMED_CERTIFICATE');
  });

  it('refuses duplicate extensions, a missing authority key identifier, and a v1 certificate', () => {
    const { root, inter } = makeChain();
    const eku = { oid: '2.5.29.37', value: seq(oid(EKU.clientAuth)) };
    const dup = makeCert({ issuer: inter, eku: [EKU.clientAuth], san: [{ dns: 'a.example' }], extensions: [eku] });
    expectRefused(run(dup, [root], [inter]), 'DUPLICATE_EXTENSION');
    const noAki = makeCert({ issuer: inter, eku: [EKU.clientAuth], san: [{ dns: 'a.example' }], noAki: true });
    expectRefused(run(noAki, [root], [inter]), 'EXTENSION_INVALID');
    const v1 = makeCert({ issuer: inter, v1: true });
    expectRefused(run(v1, [root], [inter]), 'UNSUPPORTED_VERSION');
  });

  it('refuses a serial number that is negative or longer than 20 octets', () => {
    const { root, inter } = makeChain();
    const neg = makeCert({
      issuer: inter,
      serial: Uint8Array.of(0xff, 0x01),
      eku: [EKU.clientAuth],
      san: [{ dns: 'a.example' }],
    });
    expectRefused(run(neg, [root], [inter]), 'SERIAL_INVALID');
    const long = makeCert({
      issuer: inter,
      serial: new Uint8Array(21).fill(0x11),
      eku: [EKU.clientAuth],
      san: [{ dns: 'a.example' }],
    });
    expectRefused(run(long, [root], [inter]), 'SERIAL_INVALID');
  });

  it('accepts PEM input and names each refused certificate by index, fingerprint and subject', () => {
    const { root, inter } = makeChain();
    const leaf = makeCert({
      cn: 'expired-one',
      issuer: inter,
      eku: [EKU.clientAuth],
      san: [{ dns: 'a.example' }],
      notAfter: T0,
    });
    const r = verifyChain({
      leaf: toPem(leaf.der),
      intermediates: [inter.pem],
      anchors: [root.pem],
      at: NOW,
      purpose: 'client',
    });
    const reason = r.reasons[0];
    expect(reason?.code).toBe('EXPIRED');
    expect(reason?.cert?.index).toBe(0);
    expect(reason?.cert?.subject).toBe('CN=expired-one');
    expect(reason?.cert?.fingerprint).toMatch(/^[0-9a-f]{64}$/);
  });
});
