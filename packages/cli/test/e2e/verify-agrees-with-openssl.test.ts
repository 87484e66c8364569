import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  EKU,
  makeCert,
  makeChain,
  makeCrl,
  makeKey,
  type CertSpec,
  type TestCert,
} from '../../../sdk/src/verify/test-pki.js';
import { mutual, run, tempDir } from '../support.js';

// `mutual verify` beside `openssl verify -x509_strict` on the same files: the same verdict on
// ordinary chains, and a refusal where DESIGN.md §6 asks for more than OpenSSL checks.
const dir = tempDir('mutual-verify-');
let n = 0;
const file = (text: string): string => {
  const f = path.join(dir, `f${n++}.pem`);
  writeFileSync(f, text);
  return f;
};

const { root, inter } = makeChain();
const otherRoot = makeChain().root;
const rootFile = file(root.pem);
const leafSpec = (spec: Partial<CertSpec>): TestCert =>
  makeCert({
    cn: 'workload',
    issuer: inter,
    eku: [EKU.clientAuth],
    san: [{ uri: 'spiffe://example.org/ns/prod/sa/api' }],
    ...spec,
  });

interface Case {
  readonly name: string;
  readonly leaf: TestCert;
  readonly intermediates?: readonly TestCert[];
  readonly anchor?: string;
  readonly purpose?: 'client' | 'server';
  readonly name_?: string;
  readonly at?: Date;
  readonly crl?: string;
}

async function both(
  c: Case,
): Promise<{ mutual: { code: number; out: string }; openssl: { code: number; out: string } }> {
  const leafFile = file(c.leaf.pem);
  const chainFile = file([c.leaf, ...(c.intermediates ?? [inter])].map((x) => x.pem).join('\n'));
  const untrusted = file((c.intermediates ?? [inter]).map((x) => x.pem).join('\n') || c.leaf.pem);
  const anchor = c.anchor ?? rootFile;
  const purpose = c.purpose ?? 'client';
  const m = await mutual([
    'verify',
    chainFile,
    '--ca',
    anchor,
    '--purpose',
    purpose,
    ...(c.name_ !== undefined ? ['--name', c.name_] : []),
    ...(c.at ? ['--at', c.at.toISOString()] : []),
    ...(c.crl !== undefined ? ['--crl', c.crl] : []),
  ]);
  const o = await run('openssl', [
    'verify',
    '-x509_strict',
    '-purpose',
    purpose === 'client' ? 'sslclient' : 'sslserver',
    '-CAfile',
    anchor,
    '-untrusted',
    untrusted,
    ...(c.name_ !== undefined ? ['-verify_hostname', c.name_] : []),
    ...(c.at ? ['-attime', String(Math.floor(c.at.getTime() / 1000))] : []),
    ...(c.crl !== undefined ? ['-crl_check', '-CRLfile', c.crl] : []),
    leafFile,
  ]);
  return { mutual: { code: m.code, out: m.stdout + m.stderr }, openssl: { code: o.code, out: o.stdout + o.stderr } };
}

const serverLeaf = leafSpec({ eku: [EKU.serverAuth], san: [{ dns: 'api.example' }] });
const revokedLeaf = leafSpec({ serial: 4242 });
const crlListing = file(makeCrl({ issuer: inter, revoked: [4242] }));
const crlEmpty = file(makeCrl({ issuer: inter, revoked: [] }));
const expiredLeaf = leafSpec({ notAfter: new Date('2026-01-01T00:00:00Z') });

const ordinary: [Case, 'accept' | 'reject'][] = [
  [{ name: 'a valid client chain', leaf: leafSpec({}) }, 'accept'],
  [{ name: 'a valid server chain for its name', leaf: serverLeaf, purpose: 'server', name_: 'api.example' }, 'accept'],
  [{ name: 'a server chain for another name', leaf: serverLeaf, purpose: 'server', name_: 'www.example' }, 'reject'],
  [{ name: 'a chain to an untrusted root', leaf: leafSpec({}), anchor: file(otherRoot.pem) }, 'reject'],
  [{ name: 'a chain without its intermediate', leaf: leafSpec({}), intermediates: [] }, 'reject'],
  [{ name: 'an expired leaf', leaf: expiredLeaf }, 'reject'],
  [
    { name: 'the same leaf --at a time it was valid', leaf: expiredLeaf, at: new Date('2025-06-01T00:00:00Z') },
    'accept',
  ],
  [
    { name: 'a chain --at a time before it was valid', leaf: leafSpec({}), at: new Date('2024-06-01T00:00:00Z') },
    'reject',
  ],
  [{ name: 'a server certificate used as a client', leaf: serverLeaf, purpose: 'client' }, 'reject'],
  [{ name: 'a leaf revoked by the CRL', leaf: revokedLeaf, crl: crlListing }, 'reject'],
  [{ name: 'a leaf the CRL does not list', leaf: revokedLeaf, crl: crlEmpty }, 'accept'],
];

describe('mutual verify and openssl verify', () => {
  it.each(ordinary.map(([c, e]) => [c.name, c, e] as const))('agree on %s', async (_name, c, expected) => {
    const r = await both(c);
    expect(r.openssl.code === 0 ? 'accept' : 'reject', r.openssl.out).toBe(expected);
    expect(r.mutual.code === 0 ? 'accept' : 'reject', r.mutual.out).toBe(expected);
    expect(r.mutual.out).toMatch(expected === 'accept' ? /^ACCEPT / : /^REJECT\n {2}[A-Z_]+: /);
  });

  const rsaRoot = makeCert({ cn: 'RSA Root', ca: true, key: makeKey('rsa2048', true) });
  const rsaRootFile = file(rsaRoot.pem);
  const stricter: [string, Case, string][] = [
    [
      'a SHA-1 signature',
      {
        name: '',
        leaf: makeCert({ issuer: rsaRoot, sigAlg: 'rsa-sha1', eku: [EKU.clientAuth], san: [{ dns: 'a.example' }] }),
        intermediates: [],
        anchor: rsaRootFile,
      },
      'WEAK_SIGNATURE_ALGORITHM',
    ],
    ['an RSA-1024 leaf key', { name: '', leaf: leafSpec({ key: makeKey('rsa1024') }) }, 'WEAK_KEY'],
    [
      'a server name only in the subject CN (no subjectAltName)',
      {
        name: '',
        leaf: makeCert({ cn: 'api.example', issuer: inter, eku: [EKU.serverAuth] }),
        purpose: 'server',
        name_: 'api.example',
      },
      'SAN_MISSING',
    ],
    [
      'a SPIFFE ID with a dot segment',
      { name: '', leaf: leafSpec({ san: [{ uri: 'spiffe://example.org/ns/../sa/api' }] }) },
      'SPIFFE_ID_INVALID',
    ],
    [
      'a CA certificate presented as a client leaf',
      { name: '', leaf: leafSpec({ ca: true, keyUsage: ['keyCertSign', 'digitalSignature'] }) },
      'CA_AS_LEAF',
    ],
  ];
  it.each(stricter)('mutual is stricter on %s', async (_what, c, reason) => {
    const r = await both(c);
    expect(r.openssl.code, r.openssl.out).toBe(0);
    expect(r.mutual.code, r.mutual.out).toBe(1);
    expect(r.mutual.out).toContain(`${reason}: `);
  });
});
