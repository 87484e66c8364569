import { execFileSync } from 'node:child_process';
import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MutualError } from '../errors/index.js';
import { decodePem, encodePem } from '../pem/index.js';
import {
  assertAcceptableKey,
  describePublicKey,
  exportPrivateKeyPem,
  generateKeyPair,
  importPrivateKey,
  KEY_TYPES,
  publicKeyMatches,
  spkiSha256,
  type KeyType,
} from './index.js';

const dir = mkdtempSync(join(tmpdir(), 'mutual-keys-'));
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

function openssl(args: string[], input?: string): string {
  return execFileSync('/usr/bin/openssl', args, {
    encoding: 'utf8',
    stdio: ['pipe', 'pipe', 'pipe'],
    ...(input === undefined ? {} : { input }),
  });
}

function error(fn: () => unknown): MutualError {
  try {
    fn();
  } catch (e) {
    if (e instanceof MutualError) return e;
    throw e;
  }
  throw new Error('expected a MutualError');
}

// One pair per type for the whole file (RSA 4096 takes a moment to generate).
const pairs = Object.fromEntries(KEY_TYPES.map((t) => [t, generateKeyPair(t)])) as Record<
  KeyType,
  ReturnType<typeof generateKeyPair>
>;

describe('generateKeyPair / describePublicKey', () => {
  it('generates every key type, described the same from the private and the public half', () => {
    const labels: Record<KeyType, [string, number]> = {
      p256: ['ECDSA P-256', 256],
      p384: ['ECDSA P-384', 384],
      rsa2048: ['RSA 2048', 2048],
      rsa3072: ['RSA 3072', 3072],
      rsa4096: ['RSA 4096', 4096],
      ed25519: ['Ed25519', 256],
    };
    for (const t of KEY_TYPES) {
      const d = describePublicKey(pairs[t].publicKey);
      expect(d).toEqual(describePublicKey(pairs[t].privateKey));
      expect([d.type, d.label, d.bits]).toEqual([t, ...labels[t]]);
      expect(assertAcceptableKey(pairs[t].privateKey)).toEqual(d);
    }
    expect(describePublicKey(pairs.p256.publicKey).curve).toBe('P-256');
    expect(pairs.rsa2048.publicKey.asymmetricKeyDetails?.publicExponent).toBe(65537n);
  });

  it('refuses unknown key type names', () => {
    expect(error(() => generateKeyPair('rsa1024' as KeyType)).code).toBe('ERR_USAGE_INVALID_ARGUMENT');
  });
});

describe('assertAcceptableKey', () => {
  it('refuses small RSA keys, odd exponents and oversized RSA', () => {
    const small = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey;
    expect(error(() => assertAcceptableKey(small)).code).toBe('ERR_KEY_WEAK');
    const e3 = generateKeyPairSync('rsa', { modulusLength: 2048, publicExponent: 3 }).publicKey;
    const err = error(() => assertAcceptableKey(e3));
    expect([err.code, err.details['reason']]).toEqual(['ERR_KEY_WEAK', 'rsa-exponent']);
    expect(error(() => assertAcceptableKey(pairs.rsa2048.publicKey, { minRsaBits: 3072 })).code).toBe('ERR_KEY_WEAK');
    // minRsaBits below the floor does not lower it.
    expect(error(() => assertAcceptableKey(small, { minRsaBits: 512 })).code).toBe('ERR_KEY_WEAK');
  });

  it('refuses RSA keys above 8192 bits', () => {
    // A public key is enough: an 8200-bit odd modulus, exponent 65537 (no primes needed).
    const n = Buffer.from(randomBytes(1025));
    n[0] = 0x80 | (n[0]! & 0x7f);
    n[1024] = n[1024]! | 1;
    const big = createPublicKey({ key: { kty: 'RSA', n: n.toString('base64url'), e: 'AQAB' }, format: 'jwk' });
    expect(describePublicKey(big).bits).toBe(8200);
    const err = error(() => assertAcceptableKey(big));
    expect([err.code, err.details['reason']]).toEqual(['ERR_KEY_WEAK', 'rsa-too-large']);
  });

  it('refuses other curves, DSA, DH, Ed448, X25519 and secret keys as unsupported', () => {
    const unsupported = [
      generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).publicKey,
      generateKeyPairSync('ec', { namedCurve: 'P-521' }).publicKey,
      generateKeyPairSync('dsa', { modulusLength: 2048, divisorLength: 256 }).publicKey,
      generateKeyPairSync('ed448').publicKey,
      generateKeyPairSync('x25519').publicKey,
      createPrivateKey(openssl(['genpkey', '-algorithm', 'DH', '-pkeyopt', 'group:ffdhe2048'])),
      generateKeyPairSync('rsa-pss', { modulusLength: 2048 }).publicKey,
    ];
    for (const k of unsupported) expect(error(() => assertAcceptableKey(k)).code).toBe('ERR_KEY_UNSUPPORTED');
  });

  it('applies the allow-list; non-standard RSA sizes pass only when RSA is allowed and big enough', () => {
    expect(error(() => assertAcceptableKey(pairs.ed25519.publicKey, { allowed: ['p256'] })).code).toBe(
      'ERR_KEY_NOT_ALLOWED',
    );
    expect(error(() => assertAcceptableKey(pairs.rsa3072.publicKey, { allowed: ['rsa2048'] })).code).toBe(
      'ERR_KEY_NOT_ALLOWED',
    );
    expect(error(() => assertAcceptableKey(pairs.p256.publicKey, { allowed: [] })).code).toBe('ERR_KEY_NOT_ALLOWED');
    const odd = generateKeyPairSync('rsa', { modulusLength: 2560 }).publicKey;
    expect(describePublicKey(odd)).toMatchObject({ type: undefined, label: 'RSA 2560', bits: 2560 });
    expect(assertAcceptableKey(odd, { allowed: ['rsa2048'] }).bits).toBe(2560);
    expect(error(() => assertAcceptableKey(odd, { allowed: ['p256', 'ed25519'] })).code).toBe('ERR_KEY_NOT_ALLOWED');
    expect(error(() => assertAcceptableKey(odd, { allowed: ['rsa2048'], minRsaBits: 3072 })).code).toBe('ERR_KEY_WEAK');
  });
});

describe('exportPrivateKeyPem / importPrivateKey', () => {
  it('writes PKCS#8 PEM that openssl reads, and reads it back', () => {
    for (const t of KEY_TYPES) {
      const pem = exportPrivateKeyPem(pairs[t].privateKey);
      expect(pem.startsWith('-----BEGIN PRIVATE KEY-----\n')).toBe(true);
      const pub = openssl(['pkey', '-pubout'], pem);
      expect(createPublicKey(pub).equals(pairs[t].publicKey)).toBe(true);
      expect(importPrivateKey(pem).equals(pairs[t].privateKey)).toBe(true);
    }
  });

  it('writes encrypted PKCS#8 (PBES2, AES-256-CBC) that openssl opens only with the passphrase', () => {
    const pem = exportPrivateKeyPem(pairs.p256.privateKey, 'correct horse');
    expect(decodePem(pem).map((b) => b.label)).toEqual(['ENCRYPTED PRIVATE KEY']);
    const file = join(dir, 'enc.pem');
    writeFileSync(file, pem);
    const asn1 = openssl(['asn1parse', '-in', file]);
    expect(asn1).toContain('PBES2');
    expect(asn1).toContain('aes-256-cbc');
    const pub = openssl(['pkey', '-in', file, '-passin', 'pass:correct horse', '-pubout']);
    expect(createPublicKey(pub).equals(pairs.p256.publicKey)).toBe(true);
    expect(() => openssl(['pkey', '-in', file, '-passin', 'pass:wrong', '-noout'])).toThrow();

    expect(importPrivateKey(pem, 'correct horse').equals(pairs.p256.privateKey)).toBe(true);
    expect(error(() => importPrivateKey(pem)).code).toBe('ERR_KEY_PASSPHRASE_REQUIRED');
    expect(error(() => importPrivateKey(pem, '')).code).toBe('ERR_KEY_PASSPHRASE_REQUIRED');
    const wrong = error(() => importPrivateKey(pem, 'wrong'));
    expect(wrong.code).toBe('ERR_KEY_DECRYPT_FAILED');
    expect(error(() => exportPrivateKeyPem(pairs.p256.privateKey, '')).code).toBe('ERR_KEY_PASSPHRASE_EMPTY');
  });

  it('reads keys openssl wrote: SEC1 with EC PARAMETERS, PKCS#1, encrypted PKCS#8, PKCS#8 DER', () => {
    const sec1 = openssl(['ecparam', '-name', 'prime256v1', '-genkey']);
    expect(sec1).toContain('EC PARAMETERS');
    expect(sec1).toContain('EC PRIVATE KEY');
    expect(describePublicKey(importPrivateKey(sec1)).type).toBe('p256');

    const pkcs1 = openssl(['rsa', '-traditional'], exportPrivateKeyPem(pairs.rsa2048.privateKey));
    expect(pkcs1).toContain('BEGIN RSA PRIVATE KEY');
    expect(importPrivateKey(pkcs1).equals(pairs.rsa2048.privateKey)).toBe(true);

    const plainFile = join(dir, 'plain.pem');
    writeFileSync(plainFile, exportPrivateKeyPem(pairs.ed25519.privateKey));
    const enc = openssl(['pkcs8', '-topk8', '-in', plainFile, '-v2', 'aes-128-cbc', '-passout', 'pass:pw']);
    expect(importPrivateKey(enc, 'pw').equals(pairs.ed25519.privateKey)).toBe(true);

    const derFile = join(dir, 'key.der');
    openssl(['pkey', '-in', plainFile, '-outform', 'DER', '-out', derFile]);
    const der = new Uint8Array(readFileSync(derFile));
    expect(importPrivateKey(der).equals(pairs.ed25519.privateKey)).toBe(true);
    expect(importPrivateKey(new TextEncoder().encode(enc), 'pw').equals(pairs.ed25519.privateKey)).toBe(true);

    const encDerFile = join(dir, 'enc.der');
    openssl(['pkcs8', '-topk8', '-in', plainFile, '-outform', 'DER', '-out', encDerFile, '-passout', 'pass:pw']);
    const encDer = new Uint8Array(readFileSync(encDerFile));
    expect(error(() => importPrivateKey(encDer)).code).toBe('ERR_KEY_PASSPHRASE_REQUIRED');
    expect(importPrivateKey(encDer, 'pw').equals(pairs.ed25519.privateKey)).toBe(true);
  });

  it('skips certificates in a combined file but refuses two keys, no key and legacy encrypted PEM', () => {
    const key = exportPrivateKeyPem(pairs.p256.privateKey);
    const cert = encodePem(Uint8Array.from([0x30, 0x03, 0x02, 0x01, 0x01]), 'CERTIFICATE');
    expect(importPrivateKey(cert + key).equals(pairs.p256.privateKey)).toBe(true);
    expect(error(() => importPrivateKey(key + key)).code).toBe('ERR_KEY_MALFORMED');
    expect(error(() => importPrivateKey(cert)).code).toBe('ERR_KEY_MALFORMED');
    const legacy = openssl(['ec', '-aes128', '-passout', 'pass:pw'], key);
    expect(legacy).toContain('Proc-Type: 4,ENCRYPTED');
    expect(error(() => importPrivateKey(legacy, 'pw')).code).toBe('ERR_KEY_MALFORMED');
  });

  it('refuses corrupt keys without echoing key material', () => {
    const pem = exportPrivateKeyPem(pairs.rsa2048.privateKey);
    const der = decodePem(pem)[0]!.der;
    const secretB64 = pem.split('\n')[5]!;
    const corrupt = Uint8Array.from(der);
    corrupt[40] = corrupt[40]! ^ 0xff;
    corrupt[41] = corrupt[41]! ^ 0xff;
    const inputs: (string | Uint8Array)[] = [
      encodePem(corrupt, 'PRIVATE KEY'),
      corrupt,
      der.subarray(0, der.length - 3),
      encodePem(der, 'RSA PRIVATE KEY'), // PKCS#8 under a PKCS#1 label
      encodePem(der, 'ENCRYPTED PRIVATE KEY'),
      pem.replace(secretB64, `${secretB64.slice(0, 20)}!${secretB64.slice(21)}`),
      'not a key',
      Uint8Array.from([0xff, 0x00]),
    ];
    for (const input of inputs) {
      let e: MutualError;
      try {
        e = error(() => importPrivateKey(input, 'x'));
      } catch {
        throw new Error(`no MutualError for input ${inputs.indexOf(input)}`);
      }
      expect(['ERR_KEY_MALFORMED', 'ERR_KEY_DECRYPT_FAILED']).toContain(e.code);
      const everything = JSON.stringify({ m: e.message, d: e.details, c: String(e.cause) });
      expect(everything).not.toContain(secretB64.slice(0, 16));
    }
  });
});

describe('publicKeyMatches / spkiSha256', () => {
  it('matches a key against its public half and its certificate, not against another key', () => {
    const file = join(dir, 'k.pem');
    writeFileSync(file, exportPrivateKeyPem(pairs.p384.privateKey));
    const certPem = openssl(['req', '-new', '-x509', '-key', file, '-subj', '/CN=t', '-days', '1']);
    const certDer = new Uint8Array(new X509Certificate(certPem).raw);
    expect(publicKeyMatches(pairs.p384.privateKey, certDer)).toBe(true);
    expect(publicKeyMatches(pairs.p384.privateKey, pairs.p384.publicKey)).toBe(true);
    expect(publicKeyMatches(pairs.p384.privateKey, pairs.p384.privateKey)).toBe(true);
    expect(publicKeyMatches(pairs.p256.privateKey, certDer)).toBe(false);
    expect(publicKeyMatches(pairs.p256.privateKey, pairs.ed25519.publicKey)).toBe(false);
    expect(error(() => publicKeyMatches(pairs.p384.privateKey, certDer.subarray(0, 100))).code).toBe(
      'ERR_X509_MALFORMED',
    );
  });

  it('hashes the SubjectPublicKeyInfo DER exactly as openssl does', () => {
    for (const t of ['p256', 'rsa2048', 'ed25519'] as const) {
      const pem = exportPrivateKeyPem(pairs[t].privateKey);
      const spki = execFileSync('/usr/bin/openssl', ['pkey', '-pubout', '-outform', 'DER'], { input: pem });
      const hex = execFileSync('/usr/bin/openssl', ['dgst', '-sha256', '-r'], { input: spki }).toString().split(' ')[0];
      expect(spkiSha256(pairs[t].privateKey)).toBe(hex);
      expect(spkiSha256(pairs[t].publicKey)).toBe(hex);
      expect(spkiSha256(createPrivateKey(pem))).toMatch(/^[0-9a-f]{64}$/);
    }
  });
});
