import { createHash, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { publicKeyFromSpki, spkiBytes, spkiSha256Hex } from './keycache.js';

const spkiOf = (key: ReturnType<typeof generateKeyPairSync>['publicKey']): Buffer =>
  key.export({ type: 'spki', format: 'der' });

const importDer = (spki: Uint8Array) => createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });

describe('publicKeyFromSpki', () => {
  for (const namedCurve of ['P-256', 'P-384'] as const) {
    it(`imports ${namedCurve} keys equal to what the DER decoder reads`, () => {
      for (let i = 0; i < 20; i++) {
        const { publicKey } = generateKeyPairSync('ec', { namedCurve });
        const spki = spkiOf(publicKey);
        const key = publicKeyFromSpki(spki);
        expect(key.equals(importDer(spki))).toBe(true);
        expect(Buffer.from(key.export({ type: 'spki', format: 'der' })).equals(spki)).toBe(true);
        expect(Buffer.from(spkiBytes(key)).equals(spki)).toBe(true);
      }
    });
  }

  it('refuses a point that is not on the curve, like the DER decoder', () => {
    const spki = Buffer.from(spkiOf(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey));
    spki[spki.length - 1] = (spki[spki.length - 1] ?? 0) ^ 1;
    expect(() => importDer(spki)).toThrow();
    expect(() => publicKeyFromSpki(spki)).toThrow();
  });

  it('refuses coordinates at or above the field prime, like the DER decoder', () => {
    // A P-256 point with a small x, so that x + p still fits 32 bytes: the same point, not canonically encoded.
    const p = 2n ** 256n - 2n ** 224n + 2n ** 192n + 2n ** 96n - 1n;
    const b = 0x5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604bn;
    const pow = (base: bigint, exp: bigint): bigint => {
      let result = 1n;
      for (let x = base % p, e = exp; e > 0n; e >>= 1n, x = (x * x) % p) if (e & 1n) result = (result * x) % p;
      return result;
    };
    const hex32 = (v: bigint): string => v.toString(16).padStart(64, '0');
    const prefix = '3059301306072a8648ce3d020106082a8648ce3d03010703420004';
    let x = 0n;
    let y = 0n;
    for (; ; x++) {
      const rhs = (((x * x * x - 3n * x + b) % p) + p) % p;
      y = pow(rhs, (p + 1n) / 4n); // p ≡ 3 (mod 4)
      if ((y * y) % p === rhs) break;
    }
    const canonical = Buffer.from(prefix + hex32(x) + hex32(y), 'hex');
    expect(publicKeyFromSpki(canonical).equals(importDer(canonical))).toBe(true);
    const nonCanonical = Buffer.from(prefix + hex32(x + p) + hex32(y), 'hex');
    expect(() => importDer(nonCanonical)).toThrow();
    expect(() => publicKeyFromSpki(nonCanonical)).toThrow();
  });

  it('reads compressed points, Ed25519 and RSA keys through the DER decoder', () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey;
    const uncompressed = spkiOf(ec);
    const prefix = Buffer.from('3039301306072a8648ce3d020106082a8648ce3d030107032200', 'hex');
    const x = uncompressed.subarray(27, 59);
    const yOdd = ((uncompressed[uncompressed.length - 1] ?? 0) & 1) === 1;
    const short = Buffer.concat([prefix, Buffer.from([yOdd ? 3 : 2]), x]);
    expect(publicKeyFromSpki(short).equals(ec)).toBe(true);
    for (const key of [
      generateKeyPairSync('ed25519').publicKey,
      generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey,
    ]) {
      expect(publicKeyFromSpki(spkiOf(key)).equals(key)).toBe(true);
    }
  });

  it('spkiSha256Hex hashes the SPKI DER', () => {
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const spki = spkiOf(publicKey);
    expect(spkiSha256Hex(publicKeyFromSpki(spki))).toBe(createHash('sha256').update(spki).digest('hex'));
    expect(spkiSha256Hex(publicKey)).toBe(createHash('sha256').update(spki).digest('hex'));
  });
});
