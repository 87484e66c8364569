/**
 * Property tests and the verifier's fuzz target: random and mutated DER into the certificate and
 * CRL parsers and into the whole verifier. Nothing may throw except the parser's own `Malformed`,
 * nothing may hang, and no mutated leaf may ever be accepted.
 * Longer runs: MUTUAL_FUZZ_RUNS=100000 npx vitest run packages/sdk/src/verify/fuzz.test.ts
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseCertificate } from './certificate.js';
import { parseCrl } from './crl.js';
import { Malformed, readTlvAt } from './der.js';
import { createVerifier } from './index.js';
import { constraintMatches, dnsMatches, formatIp, isDnsName, parseIp } from './names.js';
import { parseSpiffe } from './spiffe.js';
import { EKU, NOW, makeCert, makeChain, makeCrl, makeKey } from './test-pki.js';

const RUNS = Number(process.env['MUTUAL_FUZZ_RUNS'] ?? 300);

const { root, inter, leaf } = makeChain();
const server = makeCert({
  issuer: inter,
  eku: [EKU.serverAuth],
  san: [{ dns: '*.example.com' }, { ip: Uint8Array.of(192, 0, 2, 1) }, { email: 'a@example.com' }],
  key: makeKey('rsa2048'),
});
const crlDer = Buffer.from(
  makeCrl({ issuer: inter, revoked: [1, 2, 3] })
    .replace(/-----[A-Z0-9 ]+-----/g, '')
    .replace(/\s+/g, ''),
  'base64',
);
const verifier = createVerifier({ anchors: [root.der] });

type Mutation = { op: 'flip' | 'set' | 'insert' | 'delete'; at: number; byte: number };
const mutation = fc.record({
  op: fc.constantFrom<Mutation['op']>('flip', 'set', 'insert', 'delete'),
  at: fc.nat(),
  byte: fc.integer({ min: 0, max: 255 }),
});

function mutate(input: Uint8Array, ms: readonly Mutation[]): Uint8Array {
  let b = Array.from(input);
  for (const m of ms) {
    if (b.length === 0) break;
    const i = m.at % b.length;
    if (m.op === 'flip') b[i] = (b[i] as number) ^ (1 << (m.byte % 8));
    else if (m.op === 'set') b[i] = m.byte;
    else if (m.op === 'insert') b = [...b.slice(0, i), m.byte, ...b.slice(i)];
    else b = [...b.slice(0, i), ...b.slice(i + 1)];
  }
  return Uint8Array.from(b);
}

function onlyMalformed(fn: () => unknown): void {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(Malformed);
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a).equals(Buffer.from(b));
}

describe('fuzz: parsers', () => {
  it('the DER reader returns in-bounds TLVs or throws Malformed on random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (b) => {
        onlyMalformed(() => {
          const t = readTlvAt(b, 0, b.length);
          expect(t.end).toBeLessThanOrEqual(b.length);
          expect(t.vs).toBeLessThanOrEqual(t.end);
        });
      }),
      { numRuns: RUNS * 3 },
    );
  });

  it('the certificate parser throws only Malformed on random and mutated DER', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), (b) => {
        onlyMalformed(() => parseCertificate(b));
      }),
      { numRuns: RUNS },
    );
    fc.assert(
      fc.property(
        fc.constantFrom(leaf.der, server.der, root.der),
        fc.array(mutation, { minLength: 1, maxLength: 4 }),
        (der, ms) => {
          onlyMalformed(() => parseCertificate(mutate(der, ms)));
        },
      ),
      { numRuns: RUNS * 3 },
    );
  });

  it('the CRL parser throws only Malformed on random and mutated DER', () => {
    fc.assert(
      fc.property(fc.array(mutation, { minLength: 1, maxLength: 4 }), (ms) => {
        onlyMalformed(() => parseCrl(mutate(crlDer, ms)));
      }),
      { numRuns: RUNS * 2 },
    );
  });
});

describe('fuzz: the verifier', () => {
  it('never throws and never accepts a mutated leaf', () => {
    fc.assert(
      fc.property(fc.constantFrom(leaf, server), fc.array(mutation, { minLength: 1, maxLength: 3 }), (cert, ms) => {
        const der = mutate(cert.der, ms);
        const r = verifier.verify({
          leaf: der,
          intermediates: [inter.der],
          at: NOW,
          purpose: cert === leaf ? 'client' : 'server',
        });
        if (r.ok) expect(sameBytes(der, cert.der)).toBe(true);
        else expect(r.reasons.length).toBeGreaterThan(0);
      }),
      { numRuns: RUNS * 2 },
    );
  });

  it('never throws on mutated intermediates, random pools and mutated CRLs', () => {
    fc.assert(
      fc.property(
        fc.array(mutation, { minLength: 1, maxLength: 3 }),
        fc.array(fc.uint8Array({ maxLength: 200 }), { maxLength: 5 }),
        fc.boolean(),
        (ms, junk, withCrl) => {
          const r = verifier.verify({
            leaf: leaf.der,
            intermediates: [mutate(inter.der, ms), ...junk],
            at: NOW,
            purpose: 'client',
            ...(withCrl ? { crls: [mutate(crlDer, ms)] } : {}),
          });
          expect(typeof r.ok).toBe('boolean');
        },
      ),
      { numRuns: RUNS },
    );
  });
});

describe('properties: names', () => {
  it('IP addresses survive format -> parse', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.uint8Array({ minLength: 4, maxLength: 4 }), fc.uint8Array({ minLength: 16, maxLength: 16 })),
        (b) => {
          expect(Array.from(parseIp(formatIp(b)) ?? [])).toEqual(Array.from(b));
        },
      ),
      { numRuns: RUNS },
    );
  });

  const label = fc.stringMatching(/^[a-z][a-z0-9]{0,10}$/);
  const host = fc.array(label, { minLength: 2, maxLength: 5 }).map((l) => l.join('.'));

  it('a DNS name constraint is closed under adding labels on the left, and never matches a mere suffix', () => {
    fc.assert(
      fc.property(host, label, label, (base, sub, glue) => {
        const c = { type: 'dns' as const, value: base };
        expect(constraintMatches({ type: 'dns', value: `${sub}.${base}` }, c, 'permitted')).toBe(true);
        expect(constraintMatches({ type: 'dns', value: `${glue}${base}` }, c, 'permitted')).toBe(false);
        expect(constraintMatches({ type: 'dns', value: `*.${base}` }, c, 'permitted')).toBe(true);
        expect(
          constraintMatches({ type: 'dns', value: `*.${base}` }, { type: 'dns', value: `${sub}.${base}` }, 'excluded'),
        ).toBe(true);
      }),
      { numRuns: RUNS },
    );
  });

  it('a wildcard matches exactly one extra label, exact names match case-insensitively', () => {
    fc.assert(
      fc.property(host, label, label, (base, a, b) => {
        expect(dnsMatches(`*.${base}`, `${a}.${base}`)).toBe(true);
        expect(dnsMatches(`*.${base}`, `${a}.${b}.${base}`)).toBe(false);
        expect(dnsMatches(`*.${base}`, base)).toBe(false);
        expect(dnsMatches(base.toUpperCase(), base)).toBe(true);
        expect(isDnsName(base)).toBe(true);
      }),
      { numRuns: RUNS },
    );
  });

  it('an accepted SPIFFE ID has no characters the grammar forbids', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 60 }), (tail) => {
        const id = `spiffe://${tail}`;
        const p = parseSpiffe(id);
        if (p.ok) {
          expect(/[%?#@:\s]/.test(id.slice('spiffe://'.length))).toBe(false);
          expect(p.trustDomain).toMatch(/^[a-z0-9._-]+$/);
          expect(p.path === '' || !p.path.endsWith('/')).toBe(true);
          expect(p.path.split('/').includes('..')).toBe(false);
        }
      }),
      { numRuns: RUNS * 3 },
    );
  });
});
