// OCSP: requests made by `openssl ocsp` parse; responses built here are accepted by `openssl ocsp`
// with the status, reason and nonce they carry; a signer without id-kp-OCSPSigning is refused.
import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MutualError, type KeyType } from '@mutual/sdk';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import {
  boolean,
  explicit,
  implicitPrimitive,
  integer,
  nullValue,
  octetString,
  oid,
  readOne,
  sequence,
  sequenceOf,
} from './der.js';
import {
  buildOcspRequest,
  buildOcspResponse,
  ocspCertId,
  ocspCertIdMatches,
  ocspErrorResponse,
  parseOcspRequest,
  type OcspCertId,
  type OcspSingleResponseInput,
} from './ocsp.js';
import { OID } from './oids.js';
import { createTestCa, type TestCa, type TestCertificate } from './test-support.js';
import { keyIdentifier, parseCertificate } from './x509.js';

const dir = mkdtempSync(join(tmpdir(), 'mutual-pki-ocsp-'));
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

function run(args: string[]): { status: number | null; out: string } {
  const r = spawnSync('openssl', args, { encoding: 'utf8' });
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

/** The serial as the CA store keys it: lowercase hex of the integer, no leading zeros. */
const storeSerial = (c: TestCertificate): string => BigInt(`0x${new X509Certificate(c.der).serialNumber}`).toString(16);

/** What `openssl ocsp -reqout` writes for these certificates of the intermediate. */
function opensslRequest(ca: TestCa, certs: TestCertificate[], extra: string[] = []): Uint8Array {
  const out = join(dir, `${files++}-req.der`);
  const args = ['ocsp', '-issuer', write('int.pem', ca.intermediate.pem), ...extra];
  for (const c of certs) args.push('-cert', write('cert.pem', c.pem));
  const r = run([...args, '-reqout', out]);
  expect(r.status, r.out).toBe(0);
  return new Uint8Array(readFileSync(out));
}

const responderOf = (c: TestCertificate) => ({ certificateDer: c.der, privateKey: c.privateKey! });

function answer(
  certId: OcspCertId,
  status: OcspSingleResponseInput['status'],
  more: Partial<OcspSingleResponseInput> = {},
): OcspSingleResponseInput {
  return { certId, status, thisUpdate: at(-60_000), nextUpdate: at(HOUR), ...more };
}

/** `openssl ocsp -respin` for one certificate, checking the response against root (and intermediate). */
function judge(ca: TestCa, response: Uint8Array, cert: TestCertificate, extra: string[] = []) {
  return run([
    'ocsp',
    '-respin',
    write('resp.der', response),
    '-issuer',
    write('int.pem', ca.intermediate.pem),
    '-verify_other',
    write('int.pem', ca.intermediate.pem),
    '-CAfile',
    write('root.pem', ca.root.pem),
    '-no_nonce',
    ...extra, // before -cert: a digest option applies to the -cert options after it
    '-cert',
    write('cert.pem', cert.pem),
  ]);
}

const KEY_TYPES: KeyType[] = ['p256', 'p384', 'rsa2048', 'ed25519'];

describe.each(KEY_TYPES)('%s responses judged by openssl ocsp', (keyType) => {
  const ca = createTestCa({ now: NOW, keyType });
  const responder = ca.issue({ profile: 'ocsp', subject: { commonName: 'mutual test OCSP Responder' } });
  const leaf = ca.issue({ profile: 'client', names: { dns: ['a.example.test'] } });
  const request = parseOcspRequest(opensslRequest(ca, [leaf]));
  const certId = request.certIds[0]!;

  it('parses the request openssl made: one SHA-1 CertID of the leaf under the intermediate, a 16-octet nonce', () => {
    expect(request.certIds).toHaveLength(1);
    expect(certId.hashAlgorithm).toBe('sha1');
    expect(certId.serialHex).toBe(storeSerial(leaf));
    expect(request.nonce).toHaveLength(16);
    expect(ocspCertIdMatches(certId, ca.intermediate.der)).toBe(true);
    expect(ocspCertIdMatches(certId, ca.root.der)).toBe(false);
    expect(ocspCertId(ca.intermediate.der, storeSerial(leaf))).toEqual(certId);
  });

  it('good: openssl verifies the response and prints good', () => {
    const r = judge(
      ca,
      buildOcspResponse({ responder: responderOf(responder), responses: [answer(certId, 'good')], producedAt: at(0) }),
      leaf,
    );
    expect(r.out).toContain('Response verify OK');
    expect(r.out).toMatch(/cert\.pem: good\n/);
    expect(r.status).toBe(0);
  });

  it('revoked: openssl prints revoked, the reason and the revocation time', () => {
    const response = buildOcspResponse({
      responder: responderOf(responder),
      responses: [answer(certId, 'revoked', { revokedAt: at(-30_000), reason: 'keyCompromise' })],
      producedAt: at(0),
    });
    const r = judge(ca, response, leaf);
    expect(r.out).toContain('Response verify OK');
    expect(r.out).toMatch(/cert\.pem: revoked\n/);
    expect(r.out).toContain('Reason: keyCompromise');
    const t = at(-30_000)
      .toUTCString()
      .replace(/^\w+, (\d+) (\w+) (\d+) ([\d:]+) GMT$/, '$2 $1 $4 $3')
      .replace(/ 0(\d) /, '  $1 ');
    expect(r.out).toContain(`Revocation Time: ${t} GMT`);
  });

  it('unknown: openssl prints unknown', () => {
    const r = judge(
      ca,
      buildOcspResponse({
        responder: responderOf(responder),
        responses: [answer(certId, 'unknown')],
        producedAt: at(0),
      }),
      leaf,
    );
    expect(r.out).toContain('Response verify OK');
    expect(r.out).toMatch(/cert\.pem: unknown\n/);
  });

  it('-VAfile with the responder certificate accepts the response too', () => {
    const response = buildOcspResponse({
      responder: responderOf(responder),
      responses: [answer(certId, 'good')],
      producedAt: at(0),
    });
    const r = run([
      'ocsp',
      '-respin',
      write('resp.der', response),
      '-issuer',
      write('int.pem', ca.intermediate.pem),
      '-VAfile',
      write('responder.pem', responder.pem),
      '-cert',
      write('leaf.pem', leaf.pem),
      '-no_nonce',
    ]);
    expect(r.out).toContain('Response verify OK');
    expect(r.out).toMatch(/leaf\.pem: good\n/);
  });

  it('a response signed by a certificate without id-kp-OCSPSigning is refused by openssl', () => {
    const client = ca.issue({ profile: 'client', names: { dns: ['not-a-responder.example.test'] } });
    const r = judge(
      ca,
      buildOcspResponse({ responder: responderOf(client), responses: [answer(certId, 'good')], producedAt: at(0) }),
      leaf,
    );
    expect(r.out).not.toContain('Response verify OK');
    expect(r.out).toContain('missing ocspsigning usage');
    expect(r.status).not.toBe(0);
  });
});

describe('responses in detail', () => {
  const ca = createTestCa({ now: NOW, keyType: 'p256' });
  const responder = ca.issue({ profile: 'ocsp', subject: { commonName: 'mutual test OCSP Responder' } });
  const leaf = ca.issue({ profile: 'client', names: { dns: ['a.example.test'] } });
  const other = ca.issue({ profile: 'server', names: { dns: ['b.example.test'] } });

  it('echoes the nonce: openssl compares it with its request, and notices a wrong or missing one', () => {
    const reqDer = opensslRequest(ca, [leaf]);
    const req = parseOcspRequest(reqDer);
    const respond = (nonce?: Uint8Array) =>
      run([
        'ocsp',
        '-reqin',
        write('req.der', reqDer),
        '-respin',
        write(
          'resp.der',
          buildOcspResponse({
            responder: responderOf(responder),
            responses: req.certIds.map((c) => answer(c, 'good')),
            producedAt: at(0),
            ...(nonce ? { nonce } : {}),
          }),
        ),
        '-issuer',
        write('int.pem', ca.intermediate.pem),
        '-CAfile',
        write('root.pem', ca.root.pem),
        '-verify_other',
        write('int.pem', ca.intermediate.pem),
      ]);
    const echoed = respond(req.nonce);
    expect(echoed.out).toContain('Response verify OK');
    expect(echoed.out).not.toMatch(/nonce/i);
    const wrong = Uint8Array.from(req.nonce!);
    wrong[0] = (wrong[0] ?? 0) ^ 1;
    expect(respond(wrong).out).toContain('Nonce Verify error');
    expect(respond().out).toContain('WARNING: no nonce in response');
  });

  it('-no_nonce requests have no nonce; responses answer several certificates in request order', () => {
    const req = parseOcspRequest(opensslRequest(ca, [leaf, other], ['-no_nonce']));
    expect(req.nonce).toBeUndefined();
    expect(req.certIds.map((c) => c.serialHex)).toEqual([storeSerial(leaf), storeSerial(other)]);
    const response = buildOcspResponse({
      responder: responderOf(responder),
      responses: [
        answer(req.certIds[0]!, 'good'),
        answer(req.certIds[1]!, 'revoked', { revokedAt: at(-5000), reason: 'superseded' }),
      ],
      producedAt: at(0),
    });
    const r = judge(ca, response, leaf, ['-cert', write('other.pem', other.pem)]);
    expect(r.out).toContain('Response verify OK');
    expect(r.out).toMatch(/cert\.pem: good\n/);
    expect(r.out).toMatch(/other\.pem: revoked\n[\s\S]*Reason: superseded/);
  });

  it('SHA-256 CertIDs (openssl -sha256) parse, match the issuer and are answered in kind', () => {
    const req = parseOcspRequest(opensslRequest(ca, [leaf], ['-sha256']));
    const certId = req.certIds[0]!;
    expect(certId.hashAlgorithm).toBe('sha256');
    expect(certId.issuerNameHash).toHaveLength(32);
    expect(ocspCertIdMatches(certId, ca.intermediate.der)).toBe(true);
    expect(ocspCertId(ca.intermediate.der, storeSerial(leaf), 'sha256')).toEqual(certId);
    const response = buildOcspResponse({
      responder: responderOf(responder),
      responses: [answer(certId, 'good')],
      producedAt: at(0),
    });
    const r = judge(ca, response, leaf, ['-sha256']);
    expect(r.out).toContain('Response verify OK');
    expect(r.out).toMatch(/cert\.pem: good\n/);
  });

  it('ocspCertIdMatches tells a CA of the same name but another key apart', () => {
    const impostor = createTestCa({ now: NOW, keyType: 'p256' });
    const certId = ocspCertId(ca.intermediate.der, storeSerial(leaf));
    const fake = ocspCertId(impostor.intermediate.der, storeSerial(leaf));
    expect(Buffer.from(fake.issuerNameHash)).toEqual(Buffer.from(certId.issuerNameHash));
    expect(ocspCertIdMatches(certId, impostor.intermediate.der)).toBe(false);
    expect(ocspCertIdMatches(fake, ca.intermediate.der)).toBe(false);
    expect(ocspCertIdMatches(certId, Uint8Array.of(0x30, 0x00))).toBe(false);
  });

  it('the CA itself may sign; a responder of another CA is refused by openssl', () => {
    const certId = ocspCertId(ca.intermediate.der, storeSerial(leaf));
    const byCa = judge(
      ca,
      buildOcspResponse({
        responder: responderOf(ca.intermediate),
        responses: [answer(certId, 'good')],
        producedAt: at(0),
      }),
      leaf,
    );
    expect(byCa.out).toContain('Response verify OK');
    const impostor = createTestCa({ now: NOW, keyType: 'p256' });
    const foreign = impostor.issue({ profile: 'ocsp', subject: { commonName: 'impostor OCSP Responder' } });
    const r = judge(
      ca,
      buildOcspResponse({ responder: responderOf(foreign), responses: [answer(certId, 'good')], producedAt: at(0) }),
      leaf,
    );
    expect(r.out).not.toContain('Response verify OK');
    expect(r.status).not.toBe(0);
  });

  it('identifies the responder by key and carries its certificate (then includeCertificates) in certs', () => {
    const certId = ocspCertId(ca.intermediate.der, storeSerial(leaf));
    const response = buildOcspResponse({
      responder: responderOf(responder),
      responses: [answer(certId, 'good')],
      producedAt: at(0),
      includeCertificates: [ca.intermediate.der],
    });
    const r = run(['ocsp', '-respin', write('resp.der', response), '-resp_text', '-noverify']);
    const keyHash = Buffer.from(keyIdentifier(parseCertificate(responder.der).spki))
      .toString('hex')
      .toUpperCase();
    expect(r.out).toContain(`Responder Id: ${keyHash}`);
    expect(r.out).toContain('Response Type: Basic OCSP Response');
    expect(r.out).toContain('OCSP Response Status: successful (0x0)');
    const subjects = [...r.out.matchAll(/Subject: (.+)\n/g)].map((m) => m[1]?.replace(/ = /g, '='));
    expect(subjects).toEqual(['CN=mutual test OCSP Responder', 'O=mutual test, CN=mutual test intermediate p256']);
    // With the intermediate in certs, openssl builds the responder's chain from the root alone.
    const alone = run(['ocsp', '-respin', write('resp.der', response), '-CAfile', write('root.pem', ca.root.pem)]);
    expect(alone.out).toContain('Response verify OK');
    const without = buildOcspResponse({
      responder: responderOf(responder),
      responses: [answer(certId, 'good')],
      producedAt: at(0),
    });
    const r2 = run(['ocsp', '-respin', write('resp.der', without), '-CAfile', write('root.pem', ca.root.pem)]);
    expect(r2.out).not.toContain('Response verify OK');
  });

  it('leaves the reason out for unspecified, as the CRL does', () => {
    const certId = ocspCertId(ca.intermediate.der, storeSerial(leaf));
    const response = buildOcspResponse({
      responder: responderOf(responder),
      responses: [answer(certId, 'revoked', { revokedAt: at(-1000), reason: 'unspecified' })],
      producedAt: at(0),
    });
    const r = judge(ca, response, leaf);
    expect(r.out).toMatch(/cert\.pem: revoked\n/);
    expect(r.out).not.toContain('Reason:');
  });

  it('error responses carry only their status, and openssl names it', () => {
    for (const [status, text] of [
      ['malformedRequest', 'malformedrequest (1)'],
      ['internalError', 'internalerror (2)'],
      ['tryLater', 'trylater (3)'],
      ['unauthorized', 'unauthorized (6)'],
    ] as const) {
      const der = ocspErrorResponse(status);
      expect(sequenceOf(readOne(der), 'OCSPResponse')).toHaveLength(1);
      expect(run(['ocsp', '-respin', write('err.der', der), '-resp_text']).out).toContain(`Responder Error: ${text}`);
    }
    expect(code(() => ocspErrorResponse('successful' as 'tryLater'))).toBe('ERR_OCSP_INPUT_INVALID');
  });

  it('refuses input that must not become a response', () => {
    const certId = ocspCertId(ca.intermediate.der, storeSerial(leaf));
    const build = (
      over: Partial<Parameters<typeof buildOcspResponse>[0]>,
      one: Partial<OcspSingleResponseInput> = {},
    ) =>
      code(() =>
        buildOcspResponse({
          responder: responderOf(responder),
          responses: [answer(certId, 'good', one)],
          producedAt: at(0),
          ...over,
        }),
      );
    expect(build({ responses: [] })).toBe('ERR_OCSP_INPUT_INVALID');
    expect(build({}, { status: 'revoked' })).toBe('ERR_OCSP_INPUT_INVALID');
    expect(build({}, { status: 'revoked', revokedAt: at(0), reason: 'removeFromCRL' as 'superseded' })).toBe(
      'ERR_OCSP_INPUT_INVALID',
    );
    expect(build({}, { status: 'maybe' as 'good' })).toBe('ERR_OCSP_INPUT_INVALID');
    expect(build({}, { nextUpdate: at(-2 * HOUR) })).toBe('ERR_OCSP_INPUT_INVALID');
    expect(build({}, { thisUpdate: new Date(Number.NaN) })).toBe('ERR_OCSP_INPUT_INVALID');
    expect(build({ producedAt: new Date(Date.UTC(10000, 0, 1)) })).toBe('ERR_OCSP_INPUT_INVALID');
    expect(build({ nonce: new Uint8Array(33) })).toBe('ERR_OCSP_INPUT_INVALID');
    expect(build({ nonce: new Uint8Array(0) })).toBe('ERR_OCSP_INPUT_INVALID');
    expect(build({}, { certId: { ...certId, serialHex: certId.serialHex.toUpperCase() } })).toBe(
      'ERR_OCSP_INPUT_INVALID',
    );
    expect(build({}, { certId: { ...certId, serialHex: '0001' } })).toBe('ERR_OCSP_INPUT_INVALID');
    expect(build({}, { certId: { ...certId, serialHex: '0' } })).toBe('ERR_OCSP_INPUT_INVALID');
    expect(build({}, { certId: { ...certId, serialHex: '8'.repeat(40) } })).toBe('ERR_OCSP_INPUT_INVALID');
    expect(build({}, { certId: { ...certId, issuerKeyHash: new Uint8Array(32) } })).toBe('ERR_OCSP_INPUT_INVALID');
    expect(build({}, { certId: { ...certId, hashAlgorithm: 'sha384' as 'sha1' } })).toBe('ERR_OCSP_INPUT_INVALID');
    expect(build({ includeCertificates: [Uint8Array.of(0x30)] })).toBe('ERR_OCSP_INPUT_INVALID');
    expect(build({ responder: { certificateDer: responder.der, privateKey: leaf.privateKey! } })).toBe(
      'ERR_PKI_ISSUER_INVALID',
    );
    expect(build({ responder: { certificateDer: Uint8Array.of(1, 2), privateKey: leaf.privateKey! } })).toBe(
      'ERR_PKI_ISSUER_INVALID',
    );
  });
});

describe('parseOcspRequest is strict and bounded', () => {
  const ca = createTestCa({ now: NOW, keyType: 'p256' });
  const leaf = ca.issue({ profile: 'client', names: { dns: ['a.example.test'] } });
  const certId = ocspCertId(ca.intermediate.der, storeSerial(leaf));
  const certIdDer = sequence([
    sequence([oid(OID.sha1), nullValue()]),
    octetString(certId.issuerNameHash),
    octetString(certId.issuerKeyHash),
    integer(5),
  ]);
  const ext = (id: string, value: Uint8Array, critical = false): Uint8Array =>
    sequence(critical ? [oid(id), boolean(true), octetString(value)] : [oid(id), octetString(value)]);
  /** OCSPRequest { TBSRequest { fields } } */
  const req = (fields: Uint8Array[], signature?: Uint8Array): Uint8Array =>
    sequence(signature ? [sequence(fields), signature] : [sequence(fields)]);
  const list = (n = 1): Uint8Array => sequence(Array.from({ length: n }, () => sequence([certIdDer])));
  const parseCode = (der: Uint8Array, opts?: Parameters<typeof parseOcspRequest>[1]): string =>
    code(() => parseOcspRequest(der, opts));

  it('round-trips buildOcspRequest, with and without a nonce', () => {
    const nonce = Uint8Array.from({ length: 32 }, (_, i) => i);
    expect(parseOcspRequest(buildOcspRequest({ certIds: [certId], nonce }))).toEqual({ certIds: [certId], nonce });
    expect(parseOcspRequest(buildOcspRequest({ certIds: [certId, certId] }))).toEqual({ certIds: [certId, certId] });
  });

  it('accepts a signed request (signature ignored), an explicit v1, a requestor name and non-critical extensions', () => {
    const key = write('leaf.key', leaf.keyPem!);
    const signed = opensslRequest(ca, [leaf], ['-signer', write('leaf.pem', leaf.pem), '-signkey', key]);
    expect(sequenceOf(readOne(signed), 'OCSPRequest')).toHaveLength(2);
    expect(parseOcspRequest(signed).certIds[0]?.serialHex).toBe(storeSerial(leaf));
    const requestor = explicit(1, implicitPrimitive(2, new TextEncoder().encode('client.example.test')));
    const acceptable = ext(OID.ocspAcceptableResponses, sequence([oid(OID.ocspBasic)]));
    const der = req([explicit(0, integer(0)), requestor, list(), explicit(2, sequence([acceptable]))]);
    expect(parseOcspRequest(der).certIds).toHaveLength(1);
    const withSingleExt = req([
      sequence([sequence([certIdDer, explicit(0, sequence([ext(OID.ocspServiceLocator, sequence([]))]))])]),
    ]);
    expect(parseOcspRequest(withSingleExt).certIds).toHaveLength(1);
  });

  it('refuses oversized requests and too many CertIDs with ERR_OCSP_TOO_LARGE', () => {
    expect(parseCode(req([list(10)]))).toBe('no error');
    expect(parseCode(req([list(11)]))).toBe('ERR_OCSP_TOO_LARGE');
    expect(parseCode(req([list(3)]), { maxCertIds: 2 })).toBe('ERR_OCSP_TOO_LARGE');
    expect(parseCode(new Uint8Array(8193))).toBe('ERR_OCSP_TOO_LARGE');
    const one = req([list()]);
    expect(parseCode(one, { maxBytes: one.length - 1 })).toBe('ERR_OCSP_TOO_LARGE');
  });

  it('refuses what it does not answer with ERR_OCSP_UNSUPPORTED', () => {
    const sha384 = parseCode(opensslRequest(ca, [leaf], ['-sha384']));
    expect(sha384).toBe('ERR_OCSP_UNSUPPORTED');
    expect(parseCode(req([explicit(0, integer(1)), list()]))).toBe('ERR_OCSP_UNSUPPORTED');
    expect(parseCode(req([list(), explicit(2, sequence([ext('1.3.6.1.4.1.99999.1', nullValue(), true)]))]))).toBe(
      'ERR_OCSP_UNSUPPORTED',
    );
    const criticalSingle = req([
      sequence([sequence([certIdDer, explicit(0, sequence([ext('1.3.6.1.4.1.99999.2', nullValue(), true)]))])]),
    ]);
    expect(parseCode(criticalSingle)).toBe('ERR_OCSP_UNSUPPORTED');
    const serialed = (serial: Uint8Array) =>
      req([
        sequence([
          sequence([
            sequence([
              sequence([oid(OID.sha1), nullValue()]),
              octetString(certId.issuerNameHash),
              octetString(certId.issuerKeyHash),
              serial,
            ]),
          ]),
        ]),
      ]);
    expect(parseCode(serialed(Uint8Array.of(0x02, 0x01, 0xff)))).toBe('ERR_OCSP_UNSUPPORTED');
    expect(parseCode(serialed(integer(0)))).toBe('ERR_OCSP_UNSUPPORTED');
    expect(parseOcspRequest(serialed(Uint8Array.of(0x02, 0x02, 0x00, 0x80))).certIds[0]?.serialHex).toBe('80');
  });

  it('refuses malformed requests with ERR_OCSP_MALFORMED', () => {
    const nonce = (value: Uint8Array) => req([list(), explicit(2, sequence([ext(OID.ocspNonce, value)]))]);
    const badCertId = (parts: Uint8Array[]) => req([sequence([sequence([sequence(parts)])])]);
    const alg = sequence([oid(OID.sha1), nullValue()]);
    const good = req([list()]);
    const cases: [string, Uint8Array][] = [
      ['empty', new Uint8Array(0)],
      ['trailing byte', Uint8Array.from([...good, 0])],
      ['truncated', good.subarray(0, good.length - 1)],
      ['empty request list', req([sequence([])])],
      ['nonce of 33 octets', nonce(octetString(new Uint8Array(33)))],
      ['empty nonce', nonce(octetString(new Uint8Array(0)))],
      ['nonce not an OCTET STRING', nonce(new Uint8Array(16).fill(7))],
      [
        'repeated extension',
        req([
          list(),
          explicit(
            2,
            sequence([
              ext(OID.ocspNonce, octetString(Uint8Array.of(1))),
              ext(OID.ocspNonce, octetString(Uint8Array.of(1))),
            ]),
          ),
        ]),
      ],
      [
        'name hash of 19 octets',
        badCertId([alg, octetString(new Uint8Array(19)), octetString(new Uint8Array(20)), integer(1)]),
      ],
      [
        'key hash of 32 octets under SHA-1',
        badCertId([alg, octetString(new Uint8Array(20)), octetString(new Uint8Array(32)), integer(1)]),
      ],
      [
        'hash parameters not NULL',
        badCertId([
          sequence([oid(OID.sha1), integer(0)]),
          octetString(new Uint8Array(20)),
          octetString(new Uint8Array(20)),
          integer(1),
        ]),
      ],
      [
        'non-minimal serial',
        badCertId([alg, octetString(new Uint8Array(20)), octetString(new Uint8Array(20)), Uint8Array.of(2, 2, 0, 1)]),
      ],
      [
        'serial of 22 octets',
        badCertId([
          alg,
          octetString(new Uint8Array(20)),
          octetString(new Uint8Array(20)),
          Uint8Array.of(2, 22, 1, ...new Uint8Array(21)),
        ]),
      ],
      [
        'CertID with an extra element',
        badCertId([alg, octetString(new Uint8Array(20)), octetString(new Uint8Array(20)), integer(1), integer(2)]),
      ],
      ['unexpected TBSRequest element', req([list(), integer(1)])],
      ['signature that is not a Signature', req([list()], explicit(0, integer(1)))],
      [
        'fields out of order',
        req([explicit(2, sequence([ext(OID.ocspNonce, octetString(Uint8Array.of(1)))])), list()]),
      ],
    ];
    for (const [what, der] of cases) expect([what, parseCode(der)]).toEqual([what, 'ERR_OCSP_MALFORMED']);
  });
});

describe('parseOcspRequest under fuzzing', () => {
  const ca = createTestCa({ now: NOW, keyType: 'p256' });
  const leaf = ca.issue({ profile: 'client', names: { dns: ['a.example.test'] } });
  const seed = opensslRequest(ca, [leaf, ca.leaf]);
  const RUNS = Number(process.env['MUTUAL_FUZZ_RUNS'] ?? 500);

  function onlyOcspErrors(der: Uint8Array): void {
    try {
      parseOcspRequest(der);
    } catch (e) {
      expect(e).toBeInstanceOf(MutualError);
      expect((e as MutualError).code).toMatch(/^ERR_OCSP_(MALFORMED|UNSUPPORTED|TOO_LARGE)$/);
    }
  }

  it('random bytes only ever throw MutualErrors', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 512 }), onlyOcspErrors), { numRuns: RUNS });
  });

  it('mutated openssl requests only ever throw MutualErrors, and what parses can be answered', () => {
    const responder = ca.issue({ profile: 'ocsp', subject: { commonName: 'mutual test OCSP Responder' } });
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
        onlyOcspErrors(der);
        let info: ReturnType<typeof parseOcspRequest>;
        try {
          info = parseOcspRequest(der);
        } catch {
          return;
        }
        // Whatever parses must be answerable: the CertIDs and nonce echo back without error.
        buildOcspResponse({
          responder: responderOf(responder),
          responses: info.certIds.map((c) => answer(c, 'unknown')),
          producedAt: at(0),
          ...(info.nonce ? { nonce: info.nonce } : {}),
        });
      }),
      { numRuns: RUNS },
    );
  });
});
