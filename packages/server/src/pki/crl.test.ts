// buildCrl / parseCrl: CRLs that `openssl crl`, `openssl verify -crl_check_all`, a Node TLS server's
// `crl` option and mutual's own verifier accept and enforce; strict parsing of what others send.
import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tls from 'node:tls';
import { MutualError, verifyChain, type KeyType } from '@mutual/sdk';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { signerFor } from './algorithms.js';
import {
  buildCrl,
  createCrlEncoder,
  parseCrl,
  parseCrlEntries,
  parseCrlEntryGeneric,
  parseCrlInSlices,
  verifyCrlSignature,
  type RevokedEntry,
} from './crl.js';
import {
  TAG,
  bitString,
  boolean,
  children,
  enumerated,
  explicit,
  integer,
  octetString,
  oid,
  readOne,
  sequence,
  sequenceOf,
  tlv,
  x509Time,
} from './der.js';
import { OID } from './oids.js';
import { createTestCa, type TestCa, type TestCertificate } from './test-support.js';
import { decodeSubjectKeyIdentifier, findExtension, parseCertificate } from './x509.js';

const dir = mkdtempSync(join(tmpdir(), 'mutual-pki-crl-'));
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

const NOW = new Date();
const HOUR = 3600_000;
const at = (offsetMs: number): Date => new Date(Math.floor((NOW.getTime() + offsetMs) / 1000) * 1000);

let files = 0;
function write(name: string, content: string | Uint8Array): string {
  const path = join(dir, `${files++}-${name}`);
  writeFileSync(path, content);
  return path;
}

function run(cmd: string, args: string[]): { status: number | null; out: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
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

const serialOf = (c: TestCertificate): string => new X509Certificate(c.der).serialNumber.toLowerCase();
/** The serial as the CA store keys it: lowercase hex of the integer, no leading zeros. */
const storeSerial = (c: TestCertificate): string => BigInt(`0x${new X509Certificate(c.der).serialNumber}`).toString(16);

const intermediateIssuer = (ca: TestCa) => ({
  certificateDer: ca.intermediate.der,
  privateKey: ca.intermediate.privateKey,
});
const rootIssuer = (ca: TestCa) => ({ certificateDer: ca.root.der, privateKey: ca.root.privateKey });

function crlsFor(ca: TestCa, revoked: readonly RevokedEntry[], rootRevoked: readonly RevokedEntry[] = []) {
  return {
    intermediate: buildCrl({
      issuer: intermediateIssuer(ca),
      revoked,
      thisUpdate: at(-60_000),
      nextUpdate: at(HOUR),
      crlNumber: 7n,
    }),
    root: buildCrl({
      issuer: rootIssuer(ca),
      revoked: rootRevoked,
      thisUpdate: at(-60_000),
      nextUpdate: at(HOUR),
      crlNumber: 1n,
    }),
  };
}

const KEY_TYPES: KeyType[] = ['p256', 'p384', 'rsa2048', 'ed25519'];

describe.each(KEY_TYPES)('%s CRLs judged by openssl', (keyType) => {
  const ca = createTestCa({ now: NOW, keyType });
  const revokedLeaf = ca.issue({ profile: 'client', names: { dns: ['revoked.example.test'] } });
  const goodLeaf = ca.issue({ profile: 'client', names: { dns: ['good.example.test'] } });
  const crls = crlsFor(ca, [
    { serial: storeSerial(revokedLeaf), revokedAt: at(-30_000), reason: 'keyCompromise' },
    { serial: '0a', revokedAt: at(-20_000), reason: 'superseded' },
    { serial: Uint8Array.of(0x05), revokedAt: at(-10_000) },
    { serial: '0000000000000003', revokedAt: at(-10_000), reason: 'unspecified' },
    { serial: '7fffffffffffffffffffffffffffffffffffffff', revokedAt: at(-10_000), reason: 'privilegeWithdrawn' },
  ]);

  it('openssl crl verifies the signature and shows version, number, dates, sorted entries and reasons', () => {
    const r = run('openssl', [
      'crl',
      '-in',
      write('int.crl', crls.intermediate.pem),
      '-CAfile',
      write('int.pem', ca.intermediate.pem),
      '-noout',
      '-text',
    ]);
    expect(r.status).toBe(0);
    expect(r.out).toContain('verify OK');
    expect(r.out).toContain('Version 2 (0x1)');
    expect(r.out).toMatch(/X509v3 CRL Number: \s*\n\s+7\n/);
    expect(r.out).toMatch(/X509v3 Authority Key Identifier: \s*\n\s+[0-9A-F:]{59}/);
    const fmt = (d: Date): string =>
      d
        .toUTCString()
        .replace(/^\w+, (\d+) (\w+) (\d+) ([\d:]+) GMT$/, '$2 $1 $4 $3')
        .replace(/ 0(\d) /, '  $1 ');
    expect(r.out).toContain(`Last Update: ${fmt(at(-60_000))} GMT`);
    expect(r.out).toContain(`Next Update: ${fmt(at(HOUR))} GMT`);
    const serials = [...r.out.matchAll(/Serial Number: ([0-9A-F]+)/g)].map((m) => m[1]);
    expect(serials).toEqual(
      ['03', '05', '0A', serialOf(revokedLeaf).toUpperCase(), '7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF'].sort(
        (a, b) => (BigInt(`0x${a}`) < BigInt(`0x${b}`) ? -1 : 1),
      ),
    );
    const reasons = [...r.out.matchAll(/CRL Reason Code: \s*\n\s+(.+)\n/g)].map((m) => m[1]);
    expect(reasons.sort()).toEqual(['Key Compromise', 'Privilege Withdrawn', 'Superseded']);
    // 'unspecified' is written as no reason code (RFC 5280 §5.3.1): 5 entries, 3 reason codes.
    expect(r.out.match(/Revocation Date/g)).toHaveLength(5);
  });

  it('openssl crl refuses the signature against a CA of the same name but another key', () => {
    const impostor = createTestCa({ now: NOW, keyType });
    expect(impostor.intermediate.pem).not.toBe(ca.intermediate.pem);
    const r = run('openssl', [
      'crl',
      '-in',
      write('int.crl', crls.intermediate.pem),
      '-CAfile',
      write('impostor.pem', impostor.intermediate.pem),
      '-noout',
    ]);
    expect(r.out).not.toContain('verify OK');
    expect(r.out).toContain('verify failure');
  });

  it('openssl verify -crl_check_all refuses the revoked leaf and accepts the other', () => {
    const args = (leaf: TestCertificate) => [
      'verify',
      '-crl_check_all',
      '-CRLfile',
      write('int.crl', crls.intermediate.pem),
      '-CRLfile',
      write('root.crl', crls.root.pem),
      '-CAfile',
      write('root.pem', ca.root.pem),
      '-untrusted',
      write('int.pem', ca.intermediate.pem),
      write('leaf.pem', leaf.pem),
    ];
    const refused = run('openssl', args(revokedLeaf));
    expect(refused.out).toContain('certificate revoked');
    expect(refused.status).not.toBe(0);
    const accepted = run('openssl', args(goodLeaf));
    expect(accepted.out).toContain(': OK');
    expect(accepted.status).toBe(0);
  });

  it("mutual's verifier (sdk/verify) refuses the revoked leaf and accepts the other with the same CRLs", () => {
    const verify = (leaf: TestCertificate) =>
      verifyChain({
        anchors: [ca.root.der],
        leaf: leaf.der,
        intermediates: [ca.intermediate.der],
        at: NOW,
        purpose: 'client',
        crls: [crls.intermediate.der, crls.root.der],
        requireCrl: 'all',
      });
    const refused = verify(revokedLeaf);
    expect(refused.ok).toBe(false);
    expect(JSON.stringify(refused)).toContain('REVOKED');
    expect(verify(goodLeaf).ok).toBe(true);
  });

  it('parseCrl reads back what buildCrl wrote, and verifyCrlSignature checks it', () => {
    const p = parseCrl(crls.intermediate.der);
    expect(p.crlNumber).toBe(7n);
    expect(p.thisUpdate).toEqual(at(-60_000));
    expect(p.nextUpdate).toEqual(at(HOUR));
    expect(Buffer.from(p.issuerDer)).toEqual(Buffer.from(parseCertificate(ca.intermediate.der).subject.bytes));
    expect(Buffer.from(p.authorityKeyId ?? [])).toEqual(
      Buffer.from(
        decodeSubjectKeyIdentifier(
          findExtension(parseCertificate(ca.intermediate.der), OID.subjectKeyIdentifier)!.value,
        ),
      ),
    );
    expect(p.revoked.map((e) => [e.serialHex, e.reason])).toEqual(
      [
        ['3', 'unspecified'],
        ['5', 'unspecified'],
        ['a', 'superseded'],
        [storeSerial(revokedLeaf), 'keyCompromise'],
        ['7fffffffffffffffffffffffffffffffffffffff', 'privilegeWithdrawn'],
      ].sort((a, b) => (BigInt(`0x${a[0]}`) < BigInt(`0x${b[0]}`) ? -1 : 1)),
    );
    expect(p.revoked.find((e) => e.serialHex === storeSerial(revokedLeaf))?.revokedAt).toEqual(at(-30_000));
    expect(verifyCrlSignature(crls.intermediate.der, ca.intermediate.der)).toBe(true);
    expect(verifyCrlSignature(crls.intermediate.der, ca.root.der)).toBe(false);
    expect(verifyCrlSignature(crls.root.der, ca.root.der)).toBe(true);
    const tampered = Uint8Array.from(crls.intermediate.der);
    const pos = Buffer.from(tampered).indexOf(Buffer.from([0x02, 0x01, 0x0a])); // serial 0a → 0b
    tampered[pos + 2] = 0x0b;
    expect(parseCrl(tampered).revoked.map((e) => e.serialHex)).toContain('b');
    expect(verifyCrlSignature(tampered, ca.intermediate.der)).toBe(false);
  });
});

describe('a Node TLS server with crl: [root CRL, intermediate CRL]', () => {
  const ca = createTestCa({ now: NOW, keyType: 'p256' });
  const revokedClient = ca.issue({ profile: 'client', names: { uri: ['spiffe://example.test/revoked'] } });
  const goodClient = ca.issue({ profile: 'client', names: { uri: ['spiffe://example.test/good'] } });
  const crls = crlsFor(ca, [{ serial: storeSerial(revokedClient), revokedAt: at(-5000), reason: 'keyCompromise' }]);

  /**
   * One handshake; what the server decided about the client certificate. With
   * rejectUnauthorized the server drops a refused client without saying why, so `reject: false`
   * is used to read OpenSSL's reason (authorizationError) from the accepted socket.
   */
  async function handshake(
    client: TestCertificate,
    crl: string[],
    reject = true,
  ): Promise<{ admitted: boolean; authorizationError?: string }> {
    const server = tls.createServer({
      key: ca.leaf.keyPem,
      cert: ca.leafChainPem,
      ca: ca.root.pem,
      requestCert: true,
      rejectUnauthorized: reject,
      crl,
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as { port: number };
    const decided = new Promise<{ admitted: boolean; authorizationError?: string }>((resolve) => {
      server.once('secureConnection', (s: tls.TLSSocket) => {
        resolve(
          s.authorized ? { admitted: true } : { admitted: false, authorizationError: String(s.authorizationError) },
        );
        s.end();
      });
      server.once('tlsClientError', () => {
        resolve({ admitted: false });
      });
    });
    const socket = tls.connect({
      host: '127.0.0.1',
      port,
      servername: 'localhost',
      ca: ca.root.pem,
      key: client.keyPem,
      cert: client.pem + ca.intermediate.pem,
    });
    socket.on('error', () => undefined);
    try {
      return await decided;
    } finally {
      socket.destroy();
      server.close();
    }
  }

  it('refuses the revoked client (CERT_REVOKED) and admits the unrevoked one', async () => {
    const both = [crls.root.pem, crls.intermediate.pem];
    expect(await handshake(revokedClient, both)).toEqual({ admitted: false });
    expect(await handshake(revokedClient, both, false)).toEqual({
      admitted: false,
      authorizationError: 'CERT_REVOKED',
    });
    expect(await handshake(goodClient, both)).toEqual({ admitted: true });
  });

  it('needs a CRL for every CA level: without the empty root CRL even a valid client fails', async () => {
    expect(await handshake(goodClient, [crls.intermediate.pem])).toEqual({ admitted: false });
    expect(await handshake(goodClient, [crls.intermediate.pem], false)).toEqual({
      admitted: false,
      authorizationError: 'UNABLE_TO_GET_CRL',
    });
  });
});

describe('buildCrl', () => {
  const ca = createTestCa({ now: NOW, keyType: 'p256' });
  const input = (over: Partial<Parameters<typeof buildCrl>[0]> = {}) => ({
    issuer: intermediateIssuer(ca),
    revoked: [] as RevokedEntry[],
    thisUpdate: at(0),
    nextUpdate: at(HOUR),
    crlNumber: 1n,
    ...over,
  });

  it('writes no revokedCertificates field when nothing is revoked, and openssl says so', () => {
    const crl = buildCrl(input({ crlNumber: 0n }));
    const tbs = sequenceOf(sequenceOf(readOne(crl.der), 'CertificateList')[0], 'TBSCertList');
    // version, signature, issuer, thisUpdate, nextUpdate, [0] extensions
    expect(tbs.map((n) => n.tag)).toEqual([0x02, 0x30, 0x30, 0x17, 0x17, 0xa0]);
    const r = run('openssl', [
      'crl',
      '-in',
      write('empty.crl', crl.pem),
      '-CAfile',
      write('int.pem', ca.intermediate.pem),
      '-noout',
      '-text',
    ]);
    expect(r.out).toContain('verify OK');
    expect(r.out).toContain('No Revoked Certificates.');
    expect(parseCrl(crl.der)).toMatchObject({ crlNumber: 0n, revoked: [] });
  });

  it('writes PEM with the X509 CRL label and a trailing newline', () => {
    const { pem } = buildCrl(input());
    expect(pem.startsWith('-----BEGIN X509 CRL-----\n')).toBe(true);
    expect(pem.endsWith('-----END X509 CRL-----\n')).toBe(true);
  });

  it('keeps whole seconds, writes GeneralizedTime from 2050, and carries 20-octet CRL numbers', () => {
    const crl = buildCrl(
      input({
        thisUpdate: new Date(Date.UTC(2049, 11, 31, 23, 59, 59, 999)),
        nextUpdate: new Date(Date.UTC(2050, 0, 1, 0, 0, 1)),
        crlNumber: 2n ** 159n - 1n,
        revoked: [{ serial: '01', revokedAt: new Date(Date.UTC(2050, 5, 1, 0, 0, 0, 500)) }],
      }),
    );
    const p = parseCrl(crl.der);
    expect(p.thisUpdate.toISOString()).toBe('2049-12-31T23:59:59.000Z');
    expect(p.nextUpdate.toISOString()).toBe('2050-01-01T00:00:01.000Z');
    expect(p.revoked[0]?.revokedAt.toISOString()).toBe('2050-06-01T00:00:00.000Z');
    expect(p.crlNumber).toBe(2n ** 159n - 1n);
    const tbs = sequenceOf(sequenceOf(readOne(crl.der), 'CertificateList')[0], 'TBSCertList');
    expect([tbs[3]?.tag, tbs[4]?.tag]).toEqual([0x17, 0x18]);
  });

  it('treats octets and hex (with or without leading zeros) as the same serial', () => {
    const a = parseCrl(buildCrl(input({ revoked: [{ serial: Uint8Array.of(0x00, 0x80), revokedAt: at(0) }] })).der);
    const b = parseCrl(buildCrl(input({ revoked: [{ serial: '80', revokedAt: at(0) }] })).der);
    const c = parseCrl(buildCrl(input({ revoked: [{ serial: '000080', revokedAt: at(0) }] })).der);
    expect([a, b, c].map((p) => p.revoked[0]?.serialHex)).toEqual(['80', '80', '80']);
  });

  it('refuses input that must not become a CRL', () => {
    const bad: [string, Partial<Parameters<typeof buildCrl>[0]>][] = [
      [
        'duplicate serial',
        {
          revoked: [
            { serial: '0a', revokedAt: at(0) },
            { serial: Uint8Array.of(10), revokedAt: at(0) },
          ],
        },
      ],
      ['zero serial', { revoked: [{ serial: '00', revokedAt: at(0) }] }],
      ['negative serial', { revoked: [{ serial: Uint8Array.of(0x80), revokedAt: at(0) }] }],
      ['21-octet serial', { revoked: [{ serial: 'ff'.repeat(20), revokedAt: at(0) }] }],
      ['non-hex serial', { revoked: [{ serial: '0x12', revokedAt: at(0) }] }],
      ['invalid date', { revoked: [{ serial: '01', revokedAt: new Date(Number.NaN) }] }],
      ['unknown reason', { revoked: [{ serial: '01', revokedAt: at(0), reason: 'removeFromCRL' as 'superseded' }] }],
      ['nextUpdate = thisUpdate', { nextUpdate: at(0) }],
      ['nextUpdate before thisUpdate', { nextUpdate: at(-HOUR) }],
      ['negative number', { crlNumber: -1n }],
      ['number of 2^159', { crlNumber: 2n ** 159n }],
    ];
    for (const [what, over] of bad)
      expect([what, code(() => buildCrl(input(over)))]).toEqual([what, 'ERR_CRL_INPUT_INVALID']);
  });

  it('refuses an issuer that cannot sign CRLs', () => {
    expect(
      code(() => buildCrl(input({ issuer: { certificateDer: ca.leaf.der, privateKey: ca.leaf.privateKey! } }))),
    ).toBe('ERR_PKI_ISSUER_INVALID');
    expect(
      code(() => buildCrl(input({ issuer: { certificateDer: ca.intermediate.der, privateKey: ca.root.privateKey } }))),
    ).toBe('ERR_PKI_ISSUER_INVALID');
    expect(
      code(() =>
        buildCrl(input({ issuer: { certificateDer: Uint8Array.of(0x30, 0), privateKey: ca.root.privateKey } })),
      ),
    ).toBe('ERR_PKI_ISSUER_INVALID');
  });

  it('builds a CRL of 10,000 entries quickly, and openssl reads it', () => {
    const revoked: RevokedEntry[] = Array.from({ length: 10_000 }, (_, i) => ({
      serial: (0x4000_0000_0000_0000n + BigInt(i) * 7919n).toString(16).padStart(32, '1'),
      revokedAt: at(-i * 1000),
      reason: (['keyCompromise', 'superseded', 'unspecified', 'cessationOfOperation'] as const)[i % 4],
    }));
    const t0 = performance.now();
    const crl = buildCrl(input({ revoked }));
    const buildMs = performance.now() - t0;
    const t1 = performance.now();
    const parsed = parseCrl(crl.der);
    const parseMs = performance.now() - t1;
    console.log(
      `CRL with 10,000 entries: ${crl.der.length} bytes, built in ${buildMs.toFixed(1)} ms, parsed in ${parseMs.toFixed(1)} ms`,
    );
    expect(parsed.revoked).toHaveLength(10_000);
    const values = parsed.revoked.map((e) => BigInt(`0x${e.serialHex}`));
    expect(values.every((v, i) => i === 0 || (values[i - 1] as bigint) < v)).toBe(true);
    const r = run('openssl', [
      'crl',
      '-in',
      write('big.crl', crl.pem),
      '-CAfile',
      write('int.pem', ca.intermediate.pem),
      '-noout',
    ]);
    expect(r.out).toContain('verify OK');
  });
});

describe('createCrlEncoder (a CRL kept entry by entry)', () => {
  const ca = createTestCa({ now: NOW, keyType: 'p256' });
  const REASONS = ['unspecified', 'keyCompromise', 'superseded', 'cessationOfOperation'] as const;
  type Model = Map<bigint, { revokedAt: Date; reason: (typeof REASONS)[number] }>;
  const meta = (n: bigint) => ({ thisUpdate: at(0), nextUpdate: at(HOUR), crlNumber: n });
  /** What the CRL must list: the model's entries in ascending serial order. */
  const expected = (model: Model) =>
    [...model]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([serial, e]) => ({ serialHex: serial.toString(16), revokedAt: e.revokedAt, reason: e.reason }));
  /** The signed part of a CRL (ECDSA signatures differ from one signing to the next). */
  const tbsOf = (der: Uint8Array): Buffer => Buffer.from(parseCrl(der).tbs);
  const fromScratch = (model: Model, n: bigint) =>
    buildCrl({
      issuer: intermediateIssuer(ca),
      revoked: [...model].map(([serial, e]) => ({ serial: serial.toString(16), ...e })),
      ...meta(n),
    }).der;

  it('after any history of adds, replacements and removals, signs exactly the CRL of its current entries', () => {
    const op = fc.oneof(
      fc.record({
        kind: fc.constant('add' as const),
        // A small pool of serials, so entries are replaced and removed again.
        serial: fc.bigInt({ min: 1n, max: 40n }).map((v) => v * 0x1_0000_0000_0000_0001n),
        seconds: fc.integer({ min: 0, max: 86_400 }),
        reason: fc.constantFrom(...REASONS),
      }),
      fc.record({ kind: fc.constant('remove' as const), serial: fc.bigInt({ min: 1n, max: 40n }) }),
      fc.record({ kind: fc.constant('sign' as const) }),
      fc.record({ kind: fc.constant('bulk' as const), count: fc.integer({ min: 65, max: 300 }), seed: fc.nat() }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const encoder = createCrlEncoder(intermediateIssuer(ca));
        const model: Model = new Map();
        let number = 0n;
        const check = (): void => {
          const der = encoder.sign(meta(++number));
          const parsed = parseCrl(der);
          expect(parsed.revoked).toEqual(expected(model));
          expect(parsed.crlNumber).toBe(number);
          expect(tbsOf(der).equals(tbsOf(fromScratch(model, number)))).toBe(true);
          expect(encoder.size).toBe(model.size);
        };
        for (const o of ops) {
          if (o.kind === 'add') {
            const entry = { revokedAt: at(-o.seconds * 1000), reason: o.reason };
            encoder.add({ serial: o.serial.toString(16), ...entry });
            model.set(o.serial, entry);
          } else if (o.kind === 'remove') {
            const serial = o.serial * 0x1_0000_0000_0000_0001n;
            expect(encoder.remove(serial.toString(16))).toBe(model.delete(serial));
          } else if (o.kind === 'bulk') {
            // More than a few at once: placed by one sort at the next signature.
            for (let i = 0; i < o.count; i++) {
              const serial = BigInt(o.seed) * 1000n + BigInt(i) + (1n << 100n);
              const entry = { revokedAt: at(-i * 1000), reason: REASONS[i % REASONS.length] ?? 'unspecified' };
              encoder.add({ serial: serial.toString(16), ...entry });
              model.set(serial, entry);
            }
          } else check();
        }
        check();
      }),
      { numRuns: 60 },
    );
  });

  it('keeps order when one range of serials grows far past a block, and openssl verifies the result', () => {
    const encoder = createCrlEncoder(intermediateIssuer(ca));
    const model: Model = new Map();
    const add = (serial: bigint, i: number): void => {
      const entry = { revokedAt: at(-i * 1000), reason: REASONS[i % REASONS.length] ?? 'unspecified' };
      encoder.add({ serial: serial.toString(16), ...entry });
      model.set(serial, entry);
    };
    for (let i = 0; i < 3000; i++) add(0x4000_0000_0000n + BigInt(i) * 1_000_000n, i);
    encoder.sign(meta(1n));
    // 1,500 revocations one by one between two neighbours: one block splits again and again.
    for (let i = 0; i < 1500; i++) {
      add(0x4000_0000_0000n + 1_000_000n + BigInt(i) + 1n, i);
      if (i % 50 === 0) encoder.sign(meta(BigInt(i + 2)));
    }
    for (const serial of [...model.keys()].filter((_, i) => i % 7 === 0)) {
      encoder.remove(serial.toString(16));
      model.delete(serial);
    }
    const der = encoder.sign(meta(5000n));
    expect(parseCrl(der).revoked).toEqual(expected(model));
    expect(tbsOf(der).equals(tbsOf(fromScratch(model, 5000n)))).toBe(true);
    expect(verifyCrlSignature(der, ca.intermediate.der)).toBe(true);
    const r = run('openssl', [
      'crl',
      '-inform',
      'DER',
      '-in',
      write('encoder.crl', der),
      '-CAfile',
      write('int.pem', ca.intermediate.pem),
      '-noout',
    ]);
    expect(r.out).toContain('verify OK');
  });

  it('refuses what buildCrl refuses: bad serials, unknown reasons, a nextUpdate not after thisUpdate', () => {
    const encoder = createCrlEncoder(intermediateIssuer(ca));
    expect(
      code(() => {
        encoder.add({ serial: '0', revokedAt: at(0) });
      }),
    ).toBe('ERR_CRL_INPUT_INVALID');
    expect(
      code(() => {
        encoder.add({ serial: 'xyz', revokedAt: at(0) });
      }),
    ).toBe('ERR_CRL_INPUT_INVALID');
    expect(
      code(() => {
        encoder.add({ serial: '01', revokedAt: at(0), reason: 'nonsense' as unknown as 'superseded' });
      }),
    ).toBe('ERR_CRL_INPUT_INVALID');
    expect(encoder.size).toBe(0);
    expect(code(() => encoder.sign({ thisUpdate: at(0), nextUpdate: at(0), crlNumber: 1n }))).toBe(
      'ERR_CRL_INPUT_INVALID',
    );
    const leaf = ca.issue({ names: { dns: ['leaf.example'] } });
    expect(code(() => createCrlEncoder({ certificateDer: leaf.der, privateKey: ca.intermediate.privateKey }))).toBe(
      'ERR_PKI_ISSUER_INVALID',
    );
  });
});

describe("parseCrl's direct reader of common entries agrees with the generic reader", () => {
  const gen = (text: string) => tlv(TAG.GENERALIZED_TIME, new TextEncoder().encode(text));
  const utc = (text: string) => tlv(TAG.UTC_TIME, new TextEncoder().encode(text));
  // Written as given, so non-minimal, zero and negative serials can be tried.
  const serial = (hex: string) => tlv(TAG.INTEGER, Uint8Array.from(Buffer.from(hex, 'hex')));
  const reasonExt = (code: number) =>
    sequence([sequence([oid(OID.reasonCode), octetString(tlv(0x0a, Uint8Array.of(code)))])]);
  const entries: Uint8Array[] = [
    sequence([serial('01'), utc('260102030405Z')]),
    sequence([serial('7f'), utc('491231235959Z'), reasonExt(1)]),
    sequence([serial('0080'), utc('500101000000Z'), reasonExt(4)]),
    sequence([serial('7fffffffffffffffffffffffffffffffffffffff'), gen('20510228235959Z'), reasonExt(9)]),
    sequence([serial('00ffffffffffffffffffffffffffffffffffffff'), utc('260102030405Z')]), // 21 octets, too large
    sequence([serial('0001'), utc('260102030405Z')]), // non-minimal
    sequence([serial('00'), utc('260102030405Z')]), // zero
    sequence([serial('ff'), utc('260102030405Z')]), // negative
    sequence([serial('01'), utc('260230030405Z')]), // 30 February
    sequence([serial('01'), utc('2601020304Z')]), // no seconds
    sequence([serial('01'), utc('260102030405+0000')]),
    sequence([serial('01'), gen('20260102030405.5Z')]),
    sequence([serial('01'), utc('260102030405Z'), reasonExt(0)]),
    sequence([serial('01'), utc('260102030405Z'), reasonExt(7)]), // not a reason code
    sequence([serial('01'), utc('260102030405Z'), reasonExt(10)]), // aACompromise: not in a complete CRL
    sequence([serial('01'), utc('260102030405Z'), sequence([])]),
    sequence([
      serial('01'),
      utc('260102030405Z'),
      sequence([
        sequence([oid(OID.reasonCode), octetString(enumerated(1))]),
        sequence([oid(OID.invalidityDate), octetString(gen('20260101000000Z'))]),
      ]),
    ]),
    sequence([
      serial('01'),
      utc('260102030405Z'),
      sequence([sequence([oid('1.2.3.4'), boolean(true), octetString(Uint8Array.of(5, 0))])]),
    ]),
    sequence([serial('01'), utc('260102030405Z'), reasonExt(1), Uint8Array.of(5, 0)]),
  ];
  /** What the reader before the direct path did: split the list, read each entry generically. */
  const generic = (list: Uint8Array) =>
    children(readOne(tlv(TAG.SEQUENCE, list))).map((n) => parseCrlEntryGeneric(n.bytes));
  /** The entries read, or that it was refused (malformed or unsupported: which part is reported first may differ). */
  const outcome = (f: () => unknown) => {
    try {
      return { value: f() };
    } catch (e) {
      if (!(e instanceof Error)) throw e;
      return { refused: true };
    }
  };

  it('gives the same entries, or refuses too, for crafted entries of every shape', () => {
    for (const entry of entries) {
      expect(outcome(() => parseCrlEntries(entry))).toEqual(outcome(() => generic(entry)));
    }
    // The same entries side by side in one list.
    const valid = entries.filter((e) => !('refused' in outcome(() => generic(e))));
    expect(valid.length).toBeGreaterThanOrEqual(6);
    const list = Buffer.concat(valid);
    expect(parseCrlEntries(list)).toEqual(generic(list));
  });

  it('gives the same entries, or refuses too, for any single-byte change or truncation of a valid entry', () => {
    const valid = entries.filter((e) => !('refused' in outcome(() => generic(e))));
    fc.assert(
      fc.property(
        fc.constantFrom(...valid),
        fc.nat(),
        fc.integer({ min: 0, max: 255 }),
        fc.boolean(),
        (entry, index, byte, truncate) => {
          const changed = Uint8Array.from(entry);
          changed[index % changed.length] = byte;
          const input = truncate ? changed.subarray(0, index % changed.length) : changed;
          expect(outcome(() => parseCrlEntries(input))).toEqual(outcome(() => generic(input)));
        },
      ),
      { numRuns: 4000 },
    );
  });
});

describe('parseCrlInSlices', () => {
  const ca = createTestCa({ now: NOW, keyType: 'p256' });
  const big = buildCrl({
    issuer: intermediateIssuer(ca),
    revoked: Array.from({ length: 12_000 }, (_, i) => ({
      serial: (0x4000_0000_0000n + BigInt(i) * 7n).toString(16),
      revokedAt: at(-i * 1000),
      reason: (['keyCompromise', 'superseded', 'unspecified'] as const)[i % 3],
    })),
    thisUpdate: at(0),
    nextUpdate: at(HOUR),
    crlNumber: 9n,
  }).der;

  it('reads what parseCrl reads, letting other work run between slices', async () => {
    let turns = 0;
    let done = false;
    const tick = (): void => {
      turns++;
      if (!done) setImmediate(tick);
    };
    setImmediate(tick);
    const sliced = await parseCrlInSlices(big, { sliceEntries: 1000 });
    done = true;
    expect(sliced).toEqual(parseCrl(big));
    expect(sliced.revoked).toHaveLength(12_000);
    // Twelve slices: the loop turned between each.
    expect(turns).toBeGreaterThanOrEqual(11);
  });

  it('refuses a bad entry in a later slice with the catalog codes parseCrl uses', async () => {
    const entries = Array.from({ length: 50 }, (_, i) => sequence([integer(i + 1), x509Time(at(0))]));
    const unsigned = (list: Uint8Array[]) => {
      const signer = signerFor(ca.intermediate.privateKey);
      const tbs = sequence([
        integer(1),
        signer.algorithmIdentifier,
        parseCertificate(ca.intermediate.der).subject.bytes,
        x509Time(at(0)),
        x509Time(at(HOUR)),
        sequence(list),
        explicit(0, sequence([sequence([oid(OID.cRLNumber), octetString(integer(1))])])),
      ]);
      return sequence([tbs, signer.algorithmIdentifier, bitString(signer.sign(tbs))]);
    };
    const zeroSerial = unsigned([...entries, sequence([integer(0), x509Time(at(0))])]);
    await expect(parseCrlInSlices(zeroSerial, { sliceEntries: 10 })).rejects.toMatchObject({
      code: 'ERR_CRL_MALFORMED',
    });
    expect(code(() => parseCrl(zeroSerial))).toBe('ERR_CRL_MALFORMED');
    const critical = unsigned([
      ...entries,
      sequence([
        integer(99),
        x509Time(at(0)),
        sequence([sequence([oid('1.2.3.4'), boolean(true), octetString(Uint8Array.of(5, 0))])]),
      ]),
    ]);
    await expect(parseCrlInSlices(critical, { sliceEntries: 10 })).rejects.toMatchObject({
      code: 'ERR_CRL_UNSUPPORTED',
    });
    expect(code(() => parseCrl(critical))).toBe('ERR_CRL_UNSUPPORTED');
  });
});

describe('parseCrl is strict', () => {
  const ca = createTestCa({ now: NOW, keyType: 'p256' });
  const signer = signerFor(ca.intermediate.privateKey);
  const issuerName = parseCertificate(ca.intermediate.der).subject.bytes;
  const ext = (id: string, value: Uint8Array, critical = false): Uint8Array =>
    sequence(critical ? [oid(id), boolean(true), octetString(value)] : [oid(id), octetString(value)]);
  const number = (n: number): Uint8Array => ext(OID.cRLNumber, integer(n));
  /** A signed CRL from TBS parts, so only the part under test is wrong. */
  function crl(parts: { version?: boolean; entries?: Uint8Array[]; exts?: Uint8Array[] | null; next?: boolean } = {}) {
    const tbs: Uint8Array[] = [];
    if (parts.version !== false) tbs.push(integer(1));
    tbs.push(signer.algorithmIdentifier, issuerName, x509Time(at(0)));
    if (parts.next !== false) tbs.push(x509Time(at(HOUR)));
    if (parts.entries) tbs.push(sequence(parts.entries));
    if (parts.exts !== null) tbs.push(explicit(0, sequence(parts.exts ?? [number(1)])));
    const body = sequence(tbs);
    return sequence([body, signer.algorithmIdentifier, bitString(signer.sign(body))]);
  }
  const entry = (serial: number, exts?: Uint8Array[]): Uint8Array =>
    sequence(exts ? [integer(serial), x509Time(at(0)), sequence(exts)] : [integer(serial), x509Time(at(0))]);
  const reason = (n: number): Uint8Array => ext(OID.reasonCode, enumerated(n));
  const parseCode = (der: Uint8Array): string => code(() => parseCrl(der));

  it('accepts the hand-built baseline, an explicit unspecified reason and an invalidity date', () => {
    expect(parseCrl(crl()).crlNumber).toBe(1n);
    const p = parseCrl(
      crl({
        entries: [
          entry(1, [reason(0)]),
          entry(2, [reason(10)]),
          entry(3, [
            ext(OID.invalidityDate, Uint8Array.from(Buffer.from('180f32303330303130313030303030305a', 'hex'))),
          ]),
        ],
      }),
    );
    expect(p.revoked.map((e) => e.reason)).toEqual(['unspecified', 'aACompromise', 'unspecified']);
    expect(verifyCrlSignature(crl(), ca.intermediate.der)).toBe(true);
  });

  it('refuses malformed CRLs with ERR_CRL_MALFORMED', () => {
    const good = crl();
    const cases: [string, Uint8Array][] = [
      ['empty', new Uint8Array(0)],
      ['trailing byte', Uint8Array.from([...good, 0])],
      ['truncated', good.subarray(0, good.length - 1)],
      ['no CRL number', crl({ exts: [ext(OID.authorityKeyIdentifier, sequence([]))] })],
      ['no extensions', crl({ exts: null })],
      ['empty extensions', crl({ exts: [] })],
      ['repeated extension', crl({ exts: [number(1), number(2)] })],
      ['no nextUpdate', crl({ next: false })],
      ['empty revokedCertificates', crl({ entries: [] })],
      ['reason code 7', crl({ entries: [entry(1, [reason(7)])] })],
      ['removeFromCRL in a complete CRL', crl({ entries: [entry(1, [reason(8)])] })],
      ['reason as INTEGER', crl({ entries: [entry(1, [ext(OID.reasonCode, integer(1))])] })],
      ['repeated entry extension', crl({ entries: [entry(1, [reason(1), reason(1)])] })],
      ['negative serial', crl({ entries: [sequence([Uint8Array.of(0x02, 0x01, 0xff), x509Time(at(0))])] })],
      ['zero serial', crl({ entries: [entry(0)] })],
      ['negative CRL number', crl({ exts: [ext(OID.cRLNumber, Uint8Array.of(0x02, 0x01, 0xff))] })],
    ];
    for (const [what, der] of cases) expect([what, parseCode(der)]).toEqual([what, 'ERR_CRL_MALFORMED']);
  });

  it('refuses CRLs it cannot fully process with ERR_CRL_UNSUPPORTED', () => {
    const cases: [string, Uint8Array][] = [
      ['v1', crl({ version: false, exts: null })],
      ['delta CRL', crl({ exts: [number(2), ext(OID.deltaCRLIndicator, integer(1), true)] })],
      ['issuing distribution point', crl({ exts: [number(2), ext(OID.issuingDistributionPoint, sequence([]), true)] })],
      ['unknown critical extension', crl({ exts: [number(2), ext('1.3.6.1.4.1.99999.1', Uint8Array.of(5, 0), true)] })],
      ['indirect entry', crl({ entries: [entry(1, [ext(OID.certificateIssuer, sequence([]), true)])] })],
      [
        'unknown critical entry extension',
        crl({ entries: [entry(1, [ext('1.3.6.1.4.1.99999.2', Uint8Array.of(5, 0), true)])] }),
      ],
    ];
    for (const [what, der] of cases) expect([what, parseCode(der)]).toEqual([what, 'ERR_CRL_UNSUPPORTED']);
  });

  it('ignores unknown non-critical extensions', () => {
    expect(parseCrl(crl({ exts: [number(3), ext('1.3.6.1.4.1.99999.1', Uint8Array.of(5, 0))] })).crlNumber).toBe(3n);
  });

  it('refuses a CRL over the size cap with ERR_CRL_TOO_LARGE', () => {
    const der = crl();
    expect(code(() => parseCrl(der, { maxBytes: der.length - 1 }))).toBe('ERR_CRL_TOO_LARGE');
    expect(code(() => parseCrl(der, { maxBytes: der.length }))).toBe('no error');
  });
});

describe('parseCrl under fuzzing', () => {
  const ca = createTestCa({ now: NOW, keyType: 'p256' });
  const seed = buildCrl({
    issuer: intermediateIssuer(ca),
    revoked: [
      { serial: '0102', revokedAt: at(0), reason: 'keyCompromise' },
      { serial: 'ab'.repeat(16), revokedAt: at(-1000) },
    ],
    thisUpdate: at(0),
    nextUpdate: at(HOUR),
    crlNumber: 42n,
  }).der;
  const RUNS = Number(process.env['MUTUAL_FUZZ_RUNS'] ?? 500);

  /** Parses; anything thrown must be a MutualError of the CRL family. */
  function onlyCrlErrors(der: Uint8Array): void {
    try {
      parseCrl(der);
    } catch (e) {
      expect(e).toBeInstanceOf(MutualError);
      expect((e as MutualError).code).toMatch(/^ERR_CRL_(MALFORMED|UNSUPPORTED|TOO_LARGE)$/);
    }
  }

  it('random bytes only ever throw MutualErrors', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 512 }), onlyCrlErrors), { numRuns: RUNS });
  });

  it('mutated CRLs only ever throw MutualErrors, and a parsed mutant never verifies unless unchanged in what is signed', () => {
    const edit = fc.record({
      at: fc.nat(),
      byte: fc.integer({ min: 0, max: 255 }),
      kind: fc.constantFrom('set', 'insert', 'delete'),
    });
    fc.assert(
      fc.property(fc.array(edit, { minLength: 1, maxLength: 4 }), (edits) => {
        const b = Array.from(seed);
        for (const e of edits) {
          const i = e.at % b.length;
          if (e.kind === 'set') b[i] = e.byte;
          else if (e.kind === 'insert') b.splice(i, 0, e.byte);
          else b.splice(i, 1);
        }
        const der = Uint8Array.from(b);
        onlyCrlErrors(der);
        let parsed: ReturnType<typeof parseCrl> | undefined;
        try {
          parsed = parseCrl(der);
        } catch {
          return;
        }
        const seedTbs = parseCrl(seed).tbs;
        if (Buffer.compare(Buffer.from(parsed.tbs), Buffer.from(seedTbs)) !== 0)
          expect(verifyCrlSignature(parsed, ca.intermediate.der)).toBe(false);
      }),
      { numRuns: RUNS },
    );
  });
});
