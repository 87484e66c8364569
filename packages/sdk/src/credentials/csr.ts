/**
 * A PKCS#10 request with an empty subject and no attributes: all the CA needs is the public key
 * and a proof of possession (a token or the current certificate decides the names). Built with
 * node:crypto on a key generated here, which never leaves the process.
 */
import { sign, type KeyObject } from 'node:crypto';
import { encodePem } from '../pem/index.js';
import { describePublicKey, generateKeyPair, type KeyType } from '../keys/index.js';

function length(n: number): Uint8Array {
  if (n < 0x80) return Uint8Array.of(n);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Uint8Array.of(0x80 | bytes.length, ...bytes);
}

function tlv(tag: number, ...content: readonly Uint8Array[]): Uint8Array {
  const body = Buffer.concat(content);
  return Buffer.concat([Uint8Array.of(tag), length(body.length), body]);
}

function oid(dotted: string): Uint8Array {
  const parts = dotted.split('.').map(Number);
  const out: number[] = [40 * (parts[0] ?? 0) + (parts[1] ?? 0)];
  for (const p of parts.slice(2)) {
    const chunk: number[] = [p & 0x7f];
    for (let v = Math.floor(p / 128); v > 0; v = Math.floor(v / 128)) chunk.unshift(0x80 | (v & 0x7f));
    out.push(...chunk);
  }
  return tlv(0x06, Uint8Array.from(out));
}

const NULL = Uint8Array.of(0x05, 0x00);

function signatureAlgorithm(key: KeyObject): { algId: Uint8Array; hash: string | null } {
  const d = describePublicKey(key);
  if (d.type === 'p384') return { algId: tlv(0x30, oid('1.2.840.10045.4.3.3')), hash: 'sha384' };
  if (d.type === 'p256') return { algId: tlv(0x30, oid('1.2.840.10045.4.3.2')), hash: 'sha256' };
  if (d.type === 'ed25519') return { algId: tlv(0x30, oid('1.3.101.112')), hash: null };
  return { algId: tlv(0x30, oid('1.2.840.113549.1.1.11'), NULL), hash: 'sha256' };
}

/** A PEM CSR for `privateKey` (subject empty, no extensions). */
export function createCsr(privateKey: KeyObject, publicKey: KeyObject): string {
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const info = tlv(0x30, tlv(0x02, Uint8Array.of(0)), tlv(0x30), spki, Uint8Array.of(0xa0, 0x00));
  const { algId, hash } = signatureAlgorithm(publicKey);
  const signature = sign(hash, info, privateKey);
  const der = tlv(0x30, info, algId, tlv(0x03, Uint8Array.of(0), signature));
  return encodePem(der, 'CERTIFICATE REQUEST');
}

/** A new key of `keyType` and a CSR for it: a new key on every enrollment and renewal. */
export function newKeyAndCsr(keyType: KeyType): { privateKey: KeyObject; csrPem: string } {
  const { privateKey, publicKey } = generateKeyPair(keyType);
  return { privateKey, csrPem: createCsr(privateKey, publicKey) };
}
