import 'reflect-metadata';
import { execFileSync } from 'node:child_process';
import { webcrypto, X509Certificate as NodeX509 } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { MutualError } from '../errors/index.js';
import { extractIdentity, isValidDnsName, sha256Fingerprint, type Identity } from './index.js';

const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
let keys: webcrypto.CryptoKeyPair;
beforeAll(async () => {
  keys = await webcrypto.subtle.generateKey(alg, false, ['sign', 'verify']);
});

interface CertSpec {
  sans?: x509.JsonGeneralName[];
  subject?: x509.JsonName | x509.Name | string;
  serialNumber?: string;
  notBefore?: Date;
  notAfter?: Date;
  extensions?: x509.Extension[];
}

async function makeCert(spec: CertSpec = {}): Promise<Uint8Array> {
  const extensions: x509.Extension[] = [...(spec.extensions ?? [])];
  if (spec.sans !== undefined) extensions.push(new x509.SubjectAlternativeNameExtension(spec.sans));
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: spec.serialNumber ?? '01',
    subject: spec.subject ?? 'CN=leaf',
    issuer: 'CN=Test CA, O=mutual',
    notBefore: spec.notBefore ?? new Date('2025-01-01T00:00:00Z'),
    notAfter: spec.notAfter ?? new Date('2025-01-02T00:00:00Z'),
    signingAlgorithm: alg,
    publicKey: keys.publicKey,
    signingKey: keys.privateKey,
    extensions,
  });
  return new Uint8Array(cert.rawData);
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

// ---- generators ---------------------------------------------------------------------------------
const ldh = Array.from('abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789');
const label = fc
  .tuple(
    fc.string({ unit: fc.constantFrom(...ldh), minLength: 1, maxLength: 12 }),
    fc.string({ unit: fc.constantFrom(...ldh, '-'), maxLength: 8 }),
    fc.string({ unit: fc.constantFrom(...ldh), minLength: 1, maxLength: 1 }),
  )
  .map(([a, b, c]) => (a + b + c).replace(/^(..)--/, '$1-a'));
const dnsName = fc
  .tuple(fc.array(label, { minLength: 1, maxLength: 4 }), fc.constantFrom('com', 'example', 'internal', 'io'))
  .map(([ls, tld]) => [...ls, tld].join('.'));
const ipv4 = fc.ipV4();
const ipv6Bytes = fc.uint8Array({ minLength: 16, maxLength: 16 }).chain((b) =>
  // Favour zero runs so that '::' compression is exercised.
  fc.array(fc.nat(7), { maxLength: 6 }).map((zeroGroups) => {
    const out = Uint8Array.from(b);
    for (const g of zeroGroups) out[2 * g] = out[2 * g + 1] = 0;
    return out;
  }),
);
const ipv6Full = ipv6Bytes.map((b) =>
  Array.from({ length: 8 }, (_, i) => Buffer.from(b.subarray(2 * i, 2 * i + 2)).toString('hex')).join(':'),
);
const spiffeUri = fc
  .tuple(
    fc.string({
      unit: fc.constantFrom(...Array.from('abcdefghijklmnopqrstuvwxyz0123456789.-_')),
      minLength: 1,
      maxLength: 20,
    }),
    fc.array(label, { maxLength: 4 }),
  )
  .map(([td, segs]) => `spiffe://${td}${segs.map((s) => `/${s}`).join('')}`);
const otherUri = fc.webUrl();
const email = fc.emailAddress();

type San = { type: 'dns' | 'ip' | 'url' | 'email'; value: string };
const san: fc.Arbitrary<San> = fc.oneof(
  dnsName.map((value) => ({ type: 'dns' as const, value })),
  ipv4.map((value) => ({ type: 'ip' as const, value })),
  ipv6Full.map((value) => ({ type: 'ip' as const, value })),
  spiffeUri.map((value) => ({ type: 'url' as const, value })),
  otherUri.map((value) => ({ type: 'url' as const, value })),
  email.map((value) => ({ type: 'email' as const, value })),
);

/** Canonical IPv6 text per WHATWG URL (RFC 5952 compression, lowercase): an independent formatter. */
function canonicalIp(ip: string): string {
  return ip.includes(':') ? new URL(`http://[${ip}]/`).hostname.slice(1, -1) : ip;
}

/** The identity rule, written independently of the implementation. */
function expectedKind(sans: San[]): Identity['kind'] {
  const uris = sans.filter((s) => s.type === 'url').map((s) => s.value);
  const dns = sans.filter((s) => s.type === 'dns');
  if (uris.some((u) => /^spiffe:/i.test(u))) {
    const m = /^spiffe:\/\/[a-z0-9._-]+((\/[A-Za-z0-9._-]+)*)$/.exec(uris[0]!);
    const path = m?.[1] ?? '';
    return uris.length === 1 && m !== null && !/\/\.\.?(\/|$)/.test(path) ? 'spiffe' : 'none';
  }
  return dns.length > 0 ? 'dns' : 'none';
}

// ---- tests --------------------------------------------------------------------------------------
describe('extractIdentity agrees with independent parsers (property)', () => {
  it('on every SAN, the fingerprint, serial, validity and identity kind', async () => {
    const seen = { spiffe: 0, dns: 0, none: 0 };
    await fc.assert(
      fc.asyncProperty(
        fc.array(san, { minLength: 0, maxLength: 6 }),
        fc.bigInt({ min: 1n, max: (1n << 159n) - 1n }),
        fc.date({ min: new Date('1951-01-01T00:00:00Z'), max: new Date('2100-01-01T00:00:00Z'), noInvalidDate: true }),
        fc.integer({ min: 1, max: 400 * 86400 }),
        async (sans, serial, notBefore, lifetime) => {
          const nb = new Date(Math.floor(notBefore.getTime() / 1000) * 1000);
          const na = new Date(nb.getTime() + lifetime * 1000);
          let hex = serial.toString(16);
          if (hex.length % 2 === 1) hex = `0${hex}`;
          const der = await makeCert({
            ...(sans.length > 0 ? { sans } : {}),
            serialNumber: hex,
            notBefore: nb,
            notAfter: na,
          });
          const id = extractIdentity(der);
          const node = new NodeX509(der);
          const peculiar = new x509.X509Certificate(der);

          expect(id.fingerprintSha256).toBe(node.fingerprint256.replaceAll(':', '').toLowerCase());
          expect(id.serialHex).toBe(BigInt(`0x${node.serialNumber}`).toString(16));
          expect(id.serialHex).toBe(serial.toString(16));
          expect(id.notBefore.getTime()).toBe(new Date(node.validFrom).getTime());
          expect(id.notAfter.getTime()).toBe(new Date(node.validTo).getTime());
          expect([id.notBefore, id.notAfter]).toEqual([nb, na]);
          expect(id.issuer).toBe('O=mutual,CN=Test CA');
          expect(id.subject).toBe('CN=leaf');
          expect(id.commonName).toBe('leaf');

          const ext = peculiar.getExtension(x509.SubjectAlternativeNameExtension);
          const items = ext?.names.items ?? [];
          const of = (t: string): string[] => items.filter((n) => n.type === t).map((n) => n.value);
          expect(id.dnsNames).toEqual(of('dns'));
          expect(id.uris).toEqual(of('url'));
          expect(id.emails).toEqual(of('email'));
          expect(id.ipAddresses).toEqual(of('ip').map(canonicalIp));
          // And against what was put in.
          expect(id.dnsNames).toEqual(sans.filter((s) => s.type === 'dns').map((s) => s.value));
          expect(id.ipAddresses).toEqual(sans.filter((s) => s.type === 'ip').map((s) => canonicalIp(s.value)));

          const kind = expectedKind(sans);
          expect(id.kind).toBe(kind);
          seen[kind]++;
          if (kind === 'spiffe') expect([id.value, id.spiffeId]).toEqual([id.uris[0], id.uris[0]]);
          if (kind === 'dns') expect([id.value, id.spiffeId]).toEqual([id.dnsNames[0], null]);
          if (kind === 'none') expect([id.value, id.spiffeId]).toEqual([null, null]);
        },
      ),
      { numRuns: 150 },
    );
    // The generator reaches every branch of the rule.
    expect(Math.min(seen.spiffe, seen.dns, seen.none)).toBeGreaterThan(5);
  });

  it('hashes the SubjectPublicKeyInfo as encoded in the certificate', async () => {
    const der = await makeCert();
    const spki = new NodeX509(der).publicKey.export({ type: 'spki', format: 'der' });
    expect(extractIdentity(der).spkiSha256).toBe(sha256Fingerprint(spki));
    expect(extractIdentity(der).fingerprintSha256).toBe(sha256Fingerprint(der));
  });
});

describe('extractIdentity: the identity rule', () => {
  const cases: [string, x509.JsonGeneralName[], Identity['kind'], string | null][] = [
    [
      'one SPIFFE URI',
      [{ type: 'url', value: 'spiffe://example.org/ns/prod/sa/api' }],
      'spiffe',
      'spiffe://example.org/ns/prod/sa/api',
    ],
    [
      'SPIFFE wins over DNS',
      [
        { type: 'dns', value: 'api.example.org' },
        { type: 'url', value: 'spiffe://example.org/api' },
      ],
      'spiffe',
      'spiffe://example.org/api',
    ],
    [
      'two SPIFFE URIs: none, and not DNS either',
      [
        { type: 'url', value: 'spiffe://example.org/a' },
        { type: 'url', value: 'spiffe://example.org/b' },
        { type: 'dns', value: 'api.example.org' },
      ],
      'none',
      null,
    ],
    [
      'SPIFFE URI beside another URI: none',
      [
        { type: 'url', value: 'spiffe://example.org/a' },
        { type: 'url', value: 'https://example.org/' },
        { type: 'dns', value: 'api.example.org' },
      ],
      'none',
      null,
    ],
    [
      'upper-case scheme: none',
      [
        { type: 'url', value: 'SPIFFE://example.org/a' },
        { type: 'dns', value: 'a.example.org' },
      ],
      'none',
      null,
    ],
    [
      'dot segment: none',
      [
        { type: 'url', value: 'spiffe://example.org/a/../b' },
        { type: 'dns', value: 'a.example.org' },
      ],
      'none',
      null,
    ],
    ['percent-encoding: none', [{ type: 'url', value: 'spiffe://example.org/%2e%2e/b' }], 'none', null],
    ['upper-case trust domain: none', [{ type: 'url', value: 'spiffe://Example.org/b' }], 'none', null],
    [
      'non-SPIFFE URIs do not hide DNS names',
      [
        { type: 'url', value: 'https://a.example/' },
        { type: 'url', value: 'urn:x' },
        { type: 'dns', value: 'API.example.org' },
        { type: 'dns', value: 'b.example.org' },
      ],
      'dns',
      'API.example.org',
    ],
    [
      'spiffe scheme hidden from a naive check (tab, leading space, mixed case): none',
      [
        { type: 'url', value: 'spi\tffe://example.org/a' },
        { type: 'dns', value: 'a.example.org' },
      ],
      'none',
      null,
    ],
    [
      'leading space before spiffe: none',
      [
        { type: 'url', value: ' sPiFfE://example.org/a' },
        { type: 'dns', value: 'a.example.org' },
      ],
      'none',
      null,
    ],
    ['over-long DNS name: none', [{ type: 'dns', value: `${'a'.repeat(63)}.`.repeat(4) + 'com' }], 'none', null],
    ['over-long label: none', [{ type: 'dns', value: `${'a'.repeat(64)}.example.com` }], 'none', null],
    ['wildcard DNS name', [{ type: 'dns', value: '*.example.org' }], 'dns', '*.example.org'],
    ['NUL inside a DNS name: none', [{ type: 'dns', value: 'good.example\0.evil.example' }], 'none', null],
    [
      'one bad DNS name spoils the set',
      [
        { type: 'dns', value: 'a.example.org' },
        { type: 'dns', value: 'b example.org' },
      ],
      'none',
      null,
    ],
    [
      'IP and email only: none',
      [
        { type: 'ip', value: '10.0.0.1' },
        { type: 'email', value: 'a@example.org' },
      ],
      'none',
      null,
    ],
  ];
  for (const [name, sans, kind, value] of cases) {
    it(name, async () => {
      const id = extractIdentity(await makeCert({ sans }));
      expect([id.kind, id.value]).toEqual([kind, value]);
    });
  }

  it('has kind none without a SAN extension, never using the CN', async () => {
    const id = extractIdentity(await makeCert({ subject: 'CN=api.example.org' }));
    expect([id.kind, id.value, id.commonName]).toEqual(['none', null, 'api.example.org']);
  });

  it('keeps NUL, CR and LF inside names as data and reports them exactly', async () => {
    const id = extractIdentity(
      await makeCert({
        sans: [
          { type: 'dns', value: 'a.example\r\nX-Client: admin' },
          { type: 'email', value: 'a@b\0c' },
        ],
      }),
    );
    expect(id.dnsNames).toEqual(['a.example\r\nX-Client: admin']);
    expect(id.emails).toEqual(['a@b\0c']);
    expect(id.kind).toBe('none');
  });

  it('formats IPv6 per RFC 5952', async () => {
    const ips = [
      '2001:0db8:0000:0000:0000:0000:0000:0001',
      '0000:0000:0000:0000:0000:0000:0000:0001',
      '2001:db8:0:1:0:0:1:0',
      '2001:0:0:1:0:0:0:1',
      '0:0:0:0:0:ffff:c000:0201',
      '1:0:1:0:1:0:1:0',
      '0:0:0:0:0:0:0:0',
    ];
    const id = extractIdentity(await makeCert({ sans: ips.map((value) => ({ type: 'ip' as const, value })) }));
    expect(id.ipAddresses).toEqual([
      '2001:db8::1',
      '::1',
      '2001:db8:0:1::1:0',
      '2001:0:0:1::1',
      '::ffff:c000:201',
      '1:0:1:0:1:0:1:0',
      '::',
    ]);
  });
});

describe('extractIdentity: names for display', () => {
  it('writes RFC 4514 strings that match openssl -nameopt RFC2253 on ASCII names (property)', async () => {
    const value = fc
      .string({
        unit: fc.constantFrom(...Array.from(`abcXYZ019 ,+"\\<>;#=-_.*/'`)),
        minLength: 1,
        maxLength: 12,
      })
      // OpenSSL leaves a lone '#' unescaped; RFC 4514 escapes it (checked in the next test).
      .filter((v) => v !== '#');
    const attr = fc.constantFrom('CN', 'O', 'OU', 'L', 'ST');
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(attr, value), { minLength: 1, maxLength: 4 }), async (rdns) => {
        const der = await makeCert({ subject: new x509.Name(rdns.map(([a, v]) => ({ [a]: [{ utf8String: v }] }))) });
        const pem = new x509.X509Certificate(der).toString('pem');
        const expected = execFileSync('/usr/bin/openssl', ['x509', '-noout', '-subject', '-nameopt', 'RFC2253'], {
          input: pem,
        })
          .toString()
          .replace(/^subject=/, '')
          .replace(/\n$/, '');
        expect(extractIdentity(der).subject).toBe(expected);
      }),
      { numRuns: 40 },
    );
  });

  it('escapes control characters and bidi overrides so a display cannot be spoofed', async () => {
    const der = await makeCert({ subject: [{ CN: ['evil\ncom\u202eexe'] }, { O: [' lead#'] }] });
    const id = extractIdentity(der);
    expect(id.subject).toBe('O=\\ lead#,CN=evil\\0Acom\\E2\\80\\AEexe');
    expect(id.commonName).toBe('evil\ncom\u202eexe');
    const hash = extractIdentity(await makeCert({ subject: new x509.Name([{ CN: [{ utf8String: '#' }] }]) }));
    expect(hash.subject).toBe('CN=\\#');
  });

  it('gives commonName null when the subject has several CNs', async () => {
    const id = extractIdentity(await makeCert({ subject: [{ CN: ['a'] }, { CN: ['b'] }] }));
    expect([id.commonName, id.subject]).toEqual([null, 'CN=b,CN=a']);
  });

  it('reads GeneralizedTime after 2049 and UTCTime before 1950 boundaries', async () => {
    const id = extractIdentity(
      await makeCert({ notBefore: new Date('1950-01-01T00:00:00Z'), notAfter: new Date('2070-06-01T12:34:56Z') }),
    );
    expect([id.notBefore.toISOString(), id.notAfter.toISOString()]).toEqual([
      '1950-01-01T00:00:00.000Z',
      '2070-06-01T12:34:56.000Z',
    ]);
  });
});

describe('extractIdentity: hostile DER', () => {
  it('refuses truncated DER, trailing bytes and garbage', async () => {
    const der = await makeCert({ sans: [{ type: 'dns', value: 'a.example' }] });
    for (let n = 0; n < der.length; n += 7) {
      expect(code(() => extractIdentity(der.subarray(0, n)))).toBe('ERR_X509_MALFORMED');
    }
    expect(code(() => extractIdentity(Buffer.concat([der, Buffer.from([0])])))).toBe('ERR_X509_MALFORMED');
    expect(code(() => extractIdentity(new Uint8Array()))).toBe('ERR_X509_MALFORMED');
  });

  it('refuses a duplicated SAN extension (which one would be the identity?)', async () => {
    const der = await makeCert({
      extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: 'a.example' }])],
      sans: [{ type: 'dns', value: 'b.example' }],
    });
    expect(code(() => extractIdentity(der))).toBe('ERR_X509_MALFORMED');
  });

  it('refuses an IP SAN of the wrong length and a non-ASCII DNS SAN', async () => {
    // Build the SAN value by hand: SEQUENCE { [7] 5 bytes }.
    const badIp = new x509.Extension('2.5.29.17', false, Uint8Array.from([0x30, 0x07, 0x87, 0x05, 1, 2, 3, 4, 5]));
    const der1 = await makeCert({ extensions: [badIp] });
    expect(code(() => extractIdentity(der1))).toBe('ERR_X509_MALFORMED');
    const nonAscii = new x509.Extension(
      '2.5.29.17',
      false,
      Uint8Array.from([0x30, 0x05, 0x82, 0x03, 0x61, 0xc3, 0xa9]),
    );
    const der2 = await makeCert({ extensions: [nonAscii] });
    expect(code(() => extractIdentity(der2))).toBe('ERR_X509_MALFORMED');
  });

  it('never throws anything but a MutualError on mutated or random bytes (property)', async () => {
    const der = await makeCert({
      sans: [
        { type: 'dns', value: 'a.example' },
        { type: 'url', value: 'spiffe://td/x' },
        { type: 'ip', value: '::1' },
      ],
      subject: [{ CN: ['x'] }, { O: ['y'] }],
    });
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 400 }),
          fc.array(fc.tuple(fc.nat(der.length - 1), fc.nat(255)), { minLength: 1, maxLength: 4 }).map((edits) => {
            const m = Uint8Array.from(der);
            for (const [i, b] of edits) m[i] = b;
            return m;
          }),
        ),
        (bytes) => {
          try {
            extractIdentity(bytes);
          } catch (e) {
            expect(e).toBeInstanceOf(MutualError);
            expect((e as MutualError).code).toBe('ERR_X509_MALFORMED');
          }
        },
      ),
      { numRuns: 150 },
    );
  });
});

describe('isValidDnsName', () => {
  it('accepts host names, A-labels and (when allowed) left-most wildcards', () => {
    for (const n of [
      'example.com',
      'a.b-c.example',
      'localhost',
      'xn--bcher-kva.example',
      'A.EXAMPLE.COM',
      `${'a'.repeat(63)}.com`,
      '1a.2b.example',
      'x.123a',
    ]) {
      expect([n, isValidDnsName(n)]).toEqual([n, true]);
    }
    expect(isValidDnsName('*.example.com', { allowWildcard: true })).toBe(true);
  });

  it('refuses hostile and malformed names', () => {
    const bad = [
      '',
      '.',
      'example.com.',
      '.example.com',
      'a..b',
      '-a.example',
      'a-.example',
      'a_b.example',
      'a b.example',
      'a\0.example',
      'a.example\0',
      'a.example\r\n',
      'a\n.example',
      'ex@mple.com',
      'exämple.com',
      'ab--c.example',
      'xn--.example',
      '1.2.3.4',
      'a.123',
      `${'a'.repeat(64)}.com`,
      Array.from({ length: 64 }, () => 'abc').join('.'), // 255 characters
      '*.example.com', // wildcard not allowed by default
    ];
    for (const n of bad) expect([n, isValidDnsName(n)]).toEqual([n, false]);
    for (const n of [
      '*.com',
      '*',
      'f*.example.com',
      '*.*.example.com',
      'a.*.example.com',
      '**.example.com',
      '*example.com',
    ]) {
      expect([n, isValidDnsName(n, { allowWildcard: true })]).toEqual([n, false]);
    }
    expect(isValidDnsName(1 as unknown as string)).toBe(false);
  });

  it('accepts exactly 253 characters and no more', () => {
    const name253 = `${Array.from({ length: 4 }, () => 'a'.repeat(62)).join('.')}.a`;
    expect(name253.length).toBe(253);
    expect(isValidDnsName(name253)).toBe(true);
    expect(isValidDnsName(`a${name253}`)).toBe(false);
  });

  it('agrees with the LDH grammar on random strings (property)', () => {
    const grammar = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i;
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom(...Array.from('ab09-.*X\0 \n_')), maxLength: 30 }), (s) => {
        const reserved = s.split('.').some((l) => /^..--/.test(l) && !/^xn--./i.test(l));
        const numericTld = /(^|\.)[0-9]+$/.test(s);
        expect(isValidDnsName(s)).toBe(grammar.test(s) && !reserved && !numericTld);
      }),
      { numRuns: 5000 },
    );
  });
});
