import { createHash } from 'node:crypto';
import { sha256Iterate } from './sha256-chain.js';

/**
 * The PKCS#12 key derivation (RFC 7292 appendix B.2) with SHA-256 (u = 32, v = 64), used for the
 * MAC key (id 3). `password` is the BMPString form with its two trailing zero bytes.
 */
export function pkcs12Kdf(password: Uint8Array, salt: Uint8Array, id: number, iterations: number, n: number): Buffer {
  const u = 32;
  const v = 64;
  const D = Buffer.alloc(v, id);
  const stretch = (bytes: Uint8Array): Buffer => {
    if (bytes.length === 0) return Buffer.alloc(0);
    const len = v * Math.ceil(bytes.length / v);
    const out = Buffer.alloc(len);
    for (let i = 0; i < len; i++) out[i] = bytes[i % bytes.length] ?? 0;
    return out;
  };
  const I = Buffer.concat([stretch(salt), stretch(password)]);
  const blocks: Buffer[] = [];
  for (let produced = 0; produced < n; produced += u) {
    const first = createHash('sha256').update(D).update(I).digest();
    const A = Buffer.from(sha256Iterate(first, iterations - 1));
    blocks.push(A);
    const B = Buffer.alloc(v);
    for (let i = 0; i < v; i++) B[i] = A[i % u] ?? 0;
    // I_j = (I_j + B + 1) mod 2^(8v) for every v-byte block of I.
    for (let j = 0; j < I.length; j += v) {
      let carry = 1;
      for (let k = v - 1; k >= 0; k--) {
        const sum = (I[j + k] ?? 0) + (B[k] ?? 0) + carry;
        I[j + k] = sum & 0xff;
        carry = sum >> 8;
      }
    }
  }
  return Buffer.concat(blocks).subarray(0, n);
}

/** A password as PKCS#12 BMPString bytes: UTF-16 big-endian plus two zero bytes. */
export function bmpPassword(passphrase: string): Buffer {
  const out = Buffer.alloc(passphrase.length * 2 + 2);
  for (let i = 0; i < passphrase.length; i++) out.writeUInt16BE(passphrase.charCodeAt(i), i * 2);
  return out;
}
