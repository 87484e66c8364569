import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  sign,
  verify,
  X509Certificate,
  type KeyObject,
} from 'node:crypto';
import { MutualError } from '../errors/index.js';
import { decodePem, isSingleDerSequence, readChildren, readSingleTlv, type PemBlock } from '../pem/index.js';

/** The key types mutual generates and accepts by name. */
export type KeyType = 'p256' | 'p384' | 'rsa2048' | 'rsa3072' | 'rsa4096' | 'ed25519';

export const KEY_TYPES: readonly KeyType[] = Object.freeze([
  'p256',
  'p384',
  'rsa2048',
  'rsa3072',
  'rsa4096',
  'ed25519',
]);

export interface KeyDescription {
  algorithm: 'ec' | 'rsa' | 'ed25519';
  curve?: 'P-256' | 'P-384';
  bits: number;
  /** The named type, or undefined for RSA keys whose size is not 2048, 3072 or 4096. */
  type: KeyType | undefined;
  /** Human label: 'ECDSA P-256', 'RSA 3072', 'Ed25519'. */
  label: string;
}

export interface KeyRequirements {
  /** Key types allowed; default all of KEY_TYPES. */
  allowed?: readonly KeyType[];
  /** Minimum RSA modulus size; never below 2048. */
  minRsaBits?: number;
}

const MIN_RSA_BITS = 2048;
const MAX_RSA_BITS = 8192;

/** Generates a fresh key pair of a named type (RSA with public exponent 65537). */
export function generateKeyPair(type: KeyType): { privateKey: KeyObject; publicKey: KeyObject } {
  switch (type) {
    case 'p256':
      return generateKeyPairSync('ec', { namedCurve: 'P-256' });
    case 'p384':
      return generateKeyPairSync('ec', { namedCurve: 'P-384' });
    case 'rsa2048':
    case 'rsa3072':
    case 'rsa4096':
      return generateKeyPairSync('rsa', { modulusLength: Number(type.slice(3)), publicExponent: 0x10001 });
    case 'ed25519':
      return generateKeyPairSync('ed25519');
    default:
      throw new MutualError('ERR_USAGE_INVALID_ARGUMENT', {
        message: `Unknown key type; use one of ${KEY_TYPES.join(', ')}.`,
        details: { type: String(type) },
      });
  }
}

function asymmetric(key: KeyObject): KeyObject {
  if (key.type === 'secret') {
    throw new MutualError('ERR_KEY_UNSUPPORTED', { message: 'A secret (symmetric) key is not a public/private key.' });
  }
  return key;
}

/** Describes a public or private key; throws ERR_KEY_UNSUPPORTED for types mutual does not use. */
export function describePublicKey(key: KeyObject): KeyDescription {
  const k = asymmetric(key);
  const kind = k.asymmetricKeyType;
  const details = k.asymmetricKeyDetails ?? {};
  if (kind === 'ec') {
    const curve = details.namedCurve;
    if (curve === 'prime256v1' || curve === 'P-256') {
      return { algorithm: 'ec', curve: 'P-256', bits: 256, type: 'p256', label: 'ECDSA P-256' };
    }
    if (curve === 'secp384r1' || curve === 'P-384') {
      return { algorithm: 'ec', curve: 'P-384', bits: 384, type: 'p384', label: 'ECDSA P-384' };
    }
    throw new MutualError('ERR_KEY_UNSUPPORTED', {
      message: 'Only the P-256 and P-384 elliptic curves are supported.',
      details: { algorithm: 'ec', curve: curve ?? 'unknown' },
    });
  }
  if (kind === 'rsa') {
    const bits = details.modulusLength ?? 0;
    const type = bits === 2048 || bits === 3072 || bits === 4096 ? (`rsa${bits}` as KeyType) : undefined;
    return { algorithm: 'rsa', bits, type, label: `RSA ${bits}` };
  }
  if (kind === 'ed25519') return { algorithm: 'ed25519', bits: 256, type: 'ed25519', label: 'Ed25519' };
  throw new MutualError('ERR_KEY_UNSUPPORTED', {
    message: `Keys of type ${kind ?? 'unknown'} are not supported; use ECDSA P-256/P-384, RSA or Ed25519.`,
    details: { algorithm: kind ?? 'unknown' },
  });
}

/**
 * Checks a key against mutual's floor (RSA 2048–8192 bits, exponent 65537; P-256, P-384, Ed25519)
 * and an optional allow-list. RSA sizes between the standard ones have type undefined and pass
 * only when some RSA type is allowed and the size reaches minRsaBits.
 */
export function assertAcceptableKey(key: KeyObject, req: KeyRequirements = {}): KeyDescription {
  const d = describePublicKey(key);
  const allowed = req.allowed ?? KEY_TYPES;
  const minRsaBits = Math.max(MIN_RSA_BITS, req.minRsaBits ?? MIN_RSA_BITS);
  if (d.algorithm === 'rsa') {
    if (d.bits < minRsaBits) {
      throw new MutualError('ERR_KEY_WEAK', {
        message: `RSA keys need at least ${minRsaBits} bits; this one has ${d.bits}.`,
        details: { reason: 'rsa-too-small', bits: d.bits, minBits: minRsaBits },
      });
    }
    if (d.bits > MAX_RSA_BITS) {
      throw new MutualError('ERR_KEY_WEAK', {
        message: `RSA keys larger than ${MAX_RSA_BITS} bits are refused (verification cost); this one has ${d.bits}.`,
        details: { reason: 'rsa-too-large', bits: d.bits, maxBits: MAX_RSA_BITS },
      });
    }
    const exponent = key.asymmetricKeyDetails?.publicExponent;
    if (exponent !== 65537n) {
      throw new MutualError('ERR_KEY_WEAK', {
        message: 'RSA keys must use the public exponent 65537.',
        details: { reason: 'rsa-exponent', exponent: exponent === undefined ? 'unknown' : exponent.toString() },
      });
    }
  }
  const ok =
    d.type !== undefined ? allowed.includes(d.type) : d.algorithm === 'rsa' && allowed.some((t) => t.startsWith('rsa'));
  if (!ok) {
    throw new MutualError('ERR_KEY_NOT_ALLOWED', {
      message: `${d.label} keys are not allowed here; allowed: ${allowed.join(', ') || 'none'}.`,
      details: { key: d.label, allowed: [...allowed] },
    });
  }
  return d;
}

function assertPassphrase(passphrase: string): void {
  if (passphrase.length === 0) throw new MutualError('ERR_KEY_PASSPHRASE_EMPTY');
}

/**
 * Exports a private key as PKCS#8 PEM ("PRIVATE KEY"), or encrypted PKCS#8 with PBES2 and
 * AES-256-CBC ("ENCRYPTED PRIVATE KEY") when a passphrase is given.
 */
export function exportPrivateKeyPem(key: KeyObject, passphrase?: string): string {
  if (key.type !== 'private') {
    throw new MutualError('ERR_USAGE_INVALID_ARGUMENT', { message: 'Only a private key can be exported here.' });
  }
  if (passphrase === undefined) return key.export({ type: 'pkcs8', format: 'pem' }) as string;
  assertPassphrase(passphrase);
  return key.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase }) as string;
}

const KEY_LABELS = ['PRIVATE KEY', 'ENCRYPTED PRIVATE KEY', 'EC PRIVATE KEY', 'RSA PRIVATE KEY'] as const;
type KeyLabel = (typeof KEY_LABELS)[number];

function keyMalformed(message: string, cause?: unknown): MutualError {
  return new MutualError('ERR_KEY_MALFORMED', cause === undefined ? { message } : { message, cause });
}

/**
 * Reads a private key from PEM (PKCS#8, encrypted PKCS#8, SEC1 "EC PRIVATE KEY", PKCS#1
 * "RSA PRIVATE KEY"; other blocks such as certificates or EC PARAMETERS are skipped) or from
 * PKCS#8 DER (plain or encrypted). Errors never contain key material.
 */
export function importPrivateKey(input: string | Uint8Array, passphrase?: string): KeyObject {
  let label: KeyLabel;
  let der: Uint8Array;
  if (typeof input !== 'string' && input.length > 0 && input[0] === 0x30) {
    if (!isSingleDerSequence(input)) throw keyMalformed('The DER private key is truncated or has trailing bytes.');
    der = input;
    label = isEncryptedPkcs8(input) ? 'ENCRYPTED PRIVATE KEY' : 'PRIVATE KEY';
  } else {
    let text: string;
    if (typeof input === 'string') text = input;
    else {
      try {
        text = new TextDecoder('utf-8', { fatal: true }).decode(input);
      } catch (cause) {
        throw keyMalformed('The private key is neither PEM text nor PKCS#8 DER.', cause);
      }
    }
    let blocks: PemBlock[];
    try {
      blocks = decodePem(text);
    } catch (cause) {
      if (cause instanceof MutualError && cause.code === 'ERR_PEM_TOO_LARGE') throw cause;
      if (/^Proc-Type:\s*4,ENCRYPTED/m.test(text)) {
        throw keyMalformed(
          'Legacy encrypted PEM (Proc-Type) keys are not supported; convert with `openssl pkcs8 -topk8 -v2 aes-256-cbc`.',
          cause,
        );
      }
      throw keyMalformed('The private key PEM is malformed.', cause);
    }
    const keyBlocks = blocks.filter((b) => (KEY_LABELS as readonly string[]).includes(b.label));
    if (keyBlocks.length === 0) throw keyMalformed('No private key block was found.');
    if (keyBlocks.length > 1) throw keyMalformed('More than one private key block was found.');
    const block = keyBlocks[0] as PemBlock;
    label = block.label as KeyLabel;
    der = block.der;
    if (!isSingleDerSequence(der)) throw keyMalformed('The private key DER is truncated or has trailing bytes.');
  }

  const buf = Buffer.from(der.buffer, der.byteOffset, der.byteLength);
  if (label === 'ENCRYPTED PRIVATE KEY') {
    if (passphrase === undefined || passphrase.length === 0) throw new MutualError('ERR_KEY_PASSPHRASE_REQUIRED');
    if (!isEncryptedPkcs8(der)) throw keyMalformed('The encrypted private key is not EncryptedPrivateKeyInfo.');
    let key: KeyObject;
    try {
      key = createPrivateKey({ key: buf, format: 'der', type: 'pkcs8', passphrase });
    } catch (cause) {
      throw new MutualError('ERR_KEY_DECRYPT_FAILED', { cause: sanitize(cause) });
    }
    return consistent(key);
  }
  const type = label === 'PRIVATE KEY' ? 'pkcs8' : label === 'EC PRIVATE KEY' ? 'sec1' : 'pkcs1';
  // The label must match the structure: PKCS#8 SEQUENCE { INTEGER, SEQUENCE … }, SEC1 SEQUENCE
  // { INTEGER 1, OCTET STRING … }, PKCS#1 SEQUENCE { INTEGER 0, INTEGER n … }.
  const expectedSecondTag = type === 'pkcs8' ? 0x30 : type === 'sec1' ? 0x04 : 0x02;
  if (secondTag(der) !== expectedSecondTag) throw keyMalformed(`The ${label} block does not hold that kind of key.`);
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: buf, format: 'der', type });
  } catch (cause) {
    throw keyMalformed('The private key could not be parsed.', sanitize(cause));
  }
  return consistent(key);
}

/**
 * Pairwise consistency check: a signature made with the private key must verify with the public
 * key derived from it. OpenSSL imports a corrupt RSA modulus or EC point without complaint.
 */
function consistent(key: KeyObject): KeyObject {
  const kind = key.asymmetricKeyType;
  if (kind !== 'rsa' && kind !== 'ec' && kind !== 'ed25519' && kind !== 'ed448') return key;
  const message = Buffer.from('mutual pairwise consistency check');
  const digest = kind === 'rsa' || kind === 'ec' ? 'sha256' : null;
  let ok: boolean;
  try {
    const signature = sign(digest, message, key);
    ok = verify(digest, message, createPublicKey(key), signature);
  } catch {
    ok = false;
  }
  if (!ok) throw keyMalformed('The private key is inconsistent (corrupt).');
  return key;
}

function secondTag(der: Uint8Array): number | undefined {
  try {
    const children = readChildren(readSingleTlv(der, 0x30).value);
    return children[0]?.tag === 0x02 ? children[1]?.tag : undefined;
  } catch {
    return undefined;
  }
}

/** EncryptedPrivateKeyInfo starts SEQUENCE { SEQUENCE (AlgorithmIdentifier), OCTET STRING }. */
function isEncryptedPkcs8(der: Uint8Array): boolean {
  try {
    const children = readChildren(readSingleTlv(der, 0x30).value);
    return children.length === 2 && children[0]?.tag === 0x30 && children[1]?.tag === 0x04;
  } catch {
    return false;
  }
}

/** Keeps only the code and message of a node:crypto error (they carry no key material). */
function sanitize(cause: unknown): Error {
  if (cause instanceof Error) {
    const code = (cause as Error & { code?: unknown }).code;
    const err = new Error(cause.message);
    if (typeof code === 'string') (err as Error & { code?: string }).code = code;
    return err;
  }
  return new Error('node:crypto refused the key');
}

function toPublic(key: KeyObject): KeyObject {
  const k = asymmetric(key);
  return k.type === 'private' ? createPublicKey(k) : k;
}

function spkiDer(key: KeyObject): Buffer {
  return toPublic(key).export({ type: 'spki', format: 'der' });
}

/**
 * True when `privateKey` belongs to the public key given (a KeyObject, or a certificate's DER).
 * Compares SubjectPublicKeyInfo DER after both pass through node:crypto.
 */
export function publicKeyMatches(privateKey: KeyObject, publicKeyOrCertificateDer: KeyObject | Uint8Array): boolean {
  const mine = spkiDer(privateKey);
  let other: KeyObject;
  if (publicKeyOrCertificateDer instanceof Uint8Array) {
    if (!isSingleDerSequence(publicKeyOrCertificateDer)) {
      throw new MutualError('ERR_X509_MALFORMED', {
        message: 'The certificate DER is truncated or has trailing bytes.',
      });
    }
    try {
      other = new X509Certificate(publicKeyOrCertificateDer).publicKey;
    } catch (cause) {
      throw new MutualError('ERR_X509_MALFORMED', { cause });
    }
  } else {
    other = publicKeyOrCertificateDer;
  }
  return mine.equals(spkiDer(other));
}

/** Lowercase hex SHA-256 of the key's SubjectPublicKeyInfo DER (the usual public-key pin). */
export function spkiSha256(key: KeyObject): string {
  return createHash('sha256').update(spkiDer(key)).digest('hex');
}
