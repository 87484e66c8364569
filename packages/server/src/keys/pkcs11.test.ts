import { X509Certificate, generateKeyPairSync, verify } from 'node:crypto';
import { execFileSync, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { isMutualError } from '@mutual/sdk';
import { buildCrl, generateSerial, issueCertificate, parseCrl, verifyCrlSignature } from '../pki/index.js';
import { createSoftHsmToken, type TestToken } from '../../test/support/softhsm.js';
import { ecdsaDer, loadPkcs11Module, type Pkcs11Token } from './pkcs11.js';
import { formatPkcs11Uri, parsePkcs11Uri } from './pkcs11-uri.js';

const code = (fn: () => unknown): string => {
  try {
    fn();
  } catch (err) {
    if (isMutualError(err)) return err.code;
    throw err;
  }
  return 'no error';
};
const message = (fn: () => unknown): string => {
  try {
    fn();
  } catch (err) {
    return (err as Error).message;
  }
  return 'no error';
};

const openssl = (args: string[], input: string): string => execFileSync('openssl', args, { input, encoding: 'utf8' });

const random = (n: number): Uint8Array => new Uint8Array(n).map((_, i) => (i * 37 + 11) & 0xff);

describe('PKCS#11 URIs (RFC 7512)', () => {
  it('reads the token, the key label and id, percent-decoded', () => {
    expect(parsePkcs11Uri('pkcs11:token=My%20HSM;object=ca-root;id=%01%a2;type=private')).toEqual({
      token: 'My HSM',
      object: 'ca-root',
      id: Uint8Array.from([0x01, 0xa2]),
    });
    expect(parsePkcs11Uri('pkcs11:serial=631a6d38;id=%ff')).toEqual({ serial: '631a6d38', id: Uint8Array.from([255]) });
  });

  it('writes what it reads', () => {
    const ref = { token: 'mutual ca', object: 'root é', id: Uint8Array.from([0, 1, 254]) };
    const uri = formatPkcs11Uri(ref);
    expect(uri).toBe('pkcs11:token=mutual%20ca;object=root%20%c3%a9;id=%00%01%fe;type=private');
    expect(parsePkcs11Uri(uri)).toEqual(ref);
  });

  it('refuses a PIN in the URI, unknown attributes, a missing token or key, public keys and bad escapes', () => {
    for (const bad of [
      'pkcs11:token=a;object=b?pin-value=1234',
      'pkcs11:token=a;object=b;slot-id=3',
      'pkcs11:object=b',
      'pkcs11:token=a',
      'pkcs11:token=a;object=b;type=public',
      'pkcs11:token=a;object=b%zz',
      'pkcs11:token=a;token=b;object=c',
      'file:root.key',
    ]) {
      expect(
        code(() => parsePkcs11Uri(bad)),
        bad,
      ).toBe('ERR_KEYS_PKCS11_URI_INVALID');
    }
    expect(message(() => parsePkcs11Uri('pkcs11:token=a;object=b?pin-value=1234'))).not.toContain('1234');
  });
});

describe('ECDSA signatures from a token', () => {
  it('turns fixed-width r‖s into DER with minimal, non-negative integers', () => {
    const r = new Uint8Array(32).fill(0);
    r[31] = 5;
    const s = new Uint8Array(32).fill(0xff);
    expect(Buffer.from(ecdsaDer(r, s)).toString('hex')).toBe(`3026020105022100${'ff'.repeat(32)}`);
  });
});

describe('keys on a SoftHSM token', () => {
  let token: TestToken;
  let opened: Pkcs11Token;

  beforeAll(() => {
    token = createSoftHsmToken('unit');
    token.addToken('locked-out');
    process.env.SOFTHSM2_CONF = token.conf;
    // A wrong PIN first, while nobody is logged in to that token.
    expect(code(() => loadPkcs11Module(token.module).openToken({ token: 'locked-out' }, '000000'))).toBe(
      'ERR_KEYS_PKCS11_PIN_INCORRECT',
    );
    opened = loadPkcs11Module(token.module).openToken({ token: 'unit' }, token.pin);
  });

  it.each([
    ['p256', 'ecdsa-with-SHA256'],
    ['p384', 'ecdsa-with-SHA384'],
    ['rsa2048', 'sha256WithRSAEncryption'],
  ] as const)('a %s key made on the token signs a root and a CRL that OpenSSL verifies', (type, algorithm) => {
    const key = opened.generate(
      `root-${type}`,
      random(4).map((b) => b ^ type.length),
      type,
    );
    expect(key.uri).toMatch(/^pkcs11:token=unit;object=root-/);
    expect(key.sensitive).toBe(true);
    expect(key.extractable).toBe(false);
    const now = new Date('2026-12-07T00:00:00Z');
    const root = issueCertificate({
      profile: 'root',
      subject: { commonName: `token ${type}` },
      names: { dns: [], ip: [], uri: [], email: [] },
      publicKey: key.publicKey,
      issuer: { selfSigned: key },
      serial: generateSerial(random),
      notBefore: now,
      notAfter: new Date(now.getTime() + 86_400_000),
    });
    const x = new X509Certificate(root.der);
    expect(x.verify(key.publicKey)).toBe(true);
    expect(root.pem).toContain('BEGIN CERTIFICATE');
    const crl = buildCrl({
      issuer: { certificateDer: root.der, privateKey: key },
      thisUpdate: now,
      nextUpdate: new Date(now.getTime() + 3_600_000),
      crlNumber: 1n,
      revoked: [],
    });
    expect(verifyCrlSignature(crl.der, root.der)).toBe(true);
    expect(parseCrl(crl.der).crlNumber).toBe(1n);
    expect(openssl(['x509', '-noout', '-text'], root.pem)).toContain(`Signature Algorithm: ${algorithm}`);
    const file = path.join(token.dir, `root-${type}.pem`);
    writeFileSync(file, root.pem);
    // Judged at the certificate's own time, not the machine's: the result does not depend on the day the test runs.
    const at = String(Math.floor(now.getTime() / 1000) + 60);
    expect(openssl(['verify', '-attime', at, '-check_ss_sig', '-CAfile', file, file], '')).toContain(': OK');
    // OpenSSL checks the CRL's signature too (it prints "verify OK" on stderr; a bad one fails the command).
    const crlFile = path.join(token.dir, `root-${type}.crl`);
    writeFileSync(crlFile, crl.der);
    const checked = spawnSync('openssl', ['crl', '-inform', 'DER', '-in', crlFile, '-CAfile', file, '-noout'], {
      encoding: 'utf8',
    });
    expect(checked.status, checked.stderr).toBe(0);
    expect(checked.stderr).toContain('verify OK');
  });

  it('finds a key again by its URI and checks it against a certificate', () => {
    const made = opened.generate('again', Uint8Array.from([9, 9]), 'p256');
    const found = opened.key(parsePkcs11Uri(made.uri), made.publicKey);
    expect(found.publicKey.export({ format: 'jwk' })).toEqual(made.publicKey.export({ format: 'jwk' }));
    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey;
    expect(code(() => opened.key(parsePkcs11Uri(made.uri), other))).toBe('ERR_CA_KEY_MISMATCH');
  });

  it('says which tokens and keys it does see when the reference names none', () => {
    const mod = loadPkcs11Module(token.module);
    expect(code(() => mod.openToken({ token: 'nope' }, token.pin))).toBe('ERR_KEYS_PKCS11_TOKEN_NOT_FOUND');
    expect(message(() => mod.openToken({ token: 'nope' }, token.pin))).toMatch(/"unit" \(serial [0-9a-f]+\)/);
    opened.generate('listed', Uint8Array.from([7]), 'p256');
    expect(code(() => opened.key({ object: 'missing' }))).toBe('ERR_KEYS_PKCS11_KEY_NOT_FOUND');
    expect(message(() => opened.key({ object: 'missing' }))).toContain('"listed" (id 07, EC)');
  });

  it('refuses a second key under the same label and id', () => {
    opened.generate('twice', Uint8Array.from([1, 2, 3]), 'p256');
    expect(code(() => opened.generate('twice', Uint8Array.from([1, 2, 3]), 'p256'))).toBe('ERR_USAGE_INVALID_ARGUMENT');
  });

  it('reopens its session and logs in again when the token dropped it', () => {
    const key = opened.generate('survivor', Uint8Array.from([5, 5]), 'p256');
    // Another handle on the same library closes every session of the slot, as a reset token would.
    const pkcs11js = createRequire(import.meta.url)('pkcs11js') as typeof import('pkcs11js');
    const other = new pkcs11js.PKCS11();
    other.load(token.module);
    try {
      other.C_Initialize();
    } catch {
      // already initialised in this process
    }
    for (const slot of other.C_GetSlotList(true)) other.C_CloseAllSessions(slot);
    const data = new TextEncoder().encode('after a reset');
    const signature = key.sign(data);
    expect(verify('sha256', data, { key: key.publicKey, dsaEncoding: 'der' }, signature)).toBe(true);
  });

  it('says what went wrong with a module that is not there', () => {
    expect(code(() => loadPkcs11Module('/nonexistent/libpkcs11.so'))).toBe('ERR_KEYS_PKCS11_MODULE');
    expect(message(() => loadPkcs11Module('/nonexistent/libpkcs11.so'))).toContain('cannot open shared object file');
  });
});
