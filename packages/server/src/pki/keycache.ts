import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { MutualError } from '@mutual/sdk';
import { isExternalKey, type SigningKey } from './algorithms.js';

/**
 * SubjectPublicKeyInfo DER per KeyObject. OpenSSL 3's key encoders and decoders cost far more than
 * a signature, so a key read from a CSR remembers the SPKI bytes it came from and issuance reuses
 * them instead of exporting the key again.
 */
const spkiOfKey = new WeakMap<KeyObject, Uint8Array>();

export function rememberSpki(key: KeyObject, spki: Uint8Array): void {
  spkiOfKey.set(key, spki);
}

/** The SPKI DER of a public key (or of a private key's public half, in memory or on a token). */
export function spkiBytes(signingOrPublic: SigningKey): Uint8Array {
  const key = isExternalKey(signingOrPublic) ? signingOrPublic.publicKey : signingOrPublic;
  let spki = spkiOfKey.get(key);
  if (!spki) {
    const pub = key.type === 'private' ? createPublicKey(key) : key;
    spki = new Uint8Array(pub.export({ type: 'spki', format: 'der' }));
    spkiOfKey.set(key, spki);
  }
  return spki;
}

/** The public half of an issuer key, in memory or on a token. */
export function publicKeyOf(key: SigningKey): KeyObject {
  if (isExternalKey(key)) return key.publicKey;
  return key.type === 'private' ? createPublicKey(key) : key;
}

/** Lowercase hex SHA-256 of a key's SPKI DER (the usual public-key pin), from the remembered bytes. */
export function spkiSha256Hex(key: KeyObject): string {
  return createHash('sha256').update(spkiBytes(key)).digest('hex');
}

/**
 * The SPKI DER prefixes of uncompressed EC public keys on the curves mutual accepts: SEQUENCE {
 * SEQUENCE { id-ecPublicKey, curve }, BIT STRING (0 unused bits) 04 || X || Y }. Everything up to the
 * point's first coordinate is fixed for a curve.
 */
const EC_SPKI = [
  {
    crv: 'P-256',
    size: 32,
    prefix: Buffer.from('3059301306072a8648ce3d020106082a8648ce3d03010703420004', 'hex'),
    p: Buffer.from('ffffffff00000001000000000000000000000000ffffffffffffffffffffffff', 'hex'),
  },
  {
    crv: 'P-384',
    size: 48,
    prefix: Buffer.from('3076301006072a8648ce3d020106052b8104002203620004', 'hex'),
    p: Buffer.from(
      'fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffeffffffff0000000000000000ffffffff',
      'hex',
    ),
  },
] as const;

/**
 * An uncompressed P-256/P-384 SPKI as a JWK, else undefined. OpenSSL 3.0 imports an EC key from
 * its coordinates (which checks the point is on the curve, like the DER import) in about 60 % of
 * the time its DER decoder takes; coordinates must be below the field prime, as the DER decoder
 * requires. Anything else — compressed points, other curves and algorithms —
 * goes through the DER decoder.
 */
function ecJwk(spki: Uint8Array): { kty: 'EC'; crv: string; x: string; y: string } | undefined {
  for (const c of EC_SPKI) {
    if (spki.length !== c.prefix.length + 2 * c.size) continue;
    const bytes = Buffer.from(spki.buffer, spki.byteOffset, spki.byteLength);
    if (!bytes.subarray(0, c.prefix.length).equals(c.prefix)) continue;
    const x = bytes.subarray(c.prefix.length, c.prefix.length + c.size);
    const y = bytes.subarray(c.prefix.length + c.size);
    // Coordinates at or above the field prime are not canonical; the DER decoder refuses them.
    if (x.compare(c.p) >= 0 || y.compare(c.p) >= 0) return undefined;
    return { kty: 'EC', crv: c.crv, x: x.toString('base64url'), y: y.toString('base64url') };
  }
  return undefined;
}

/** A public KeyObject from SPKI DER, remembering the bytes. */
export function publicKeyFromSpki(spki: Uint8Array): KeyObject {
  const jwk = ecJwk(spki);
  const key =
    jwk === undefined
      ? createPublicKey({
          key: Buffer.from(spki.buffer, spki.byteOffset, spki.byteLength),
          format: 'der',
          type: 'spki',
        })
      : createPublicKey({ key: jwk, format: 'jwk' });
  spkiOfKey.set(key, Uint8Array.from(spki));
  return key;
}

/** What every signer cache entry keeps: the certificate's SPKI and the private keys already matched to it. */
export interface SignerInfo {
  readonly spki: Uint8Array;
  readonly matchedKeys: WeakSet<SigningKey>;
}

/**
 * Reads a signing certificate once per DER buffer (`read` parses and checks it) and checks each
 * private key against it once. `invalid` builds the error for an unreadable certificate or a key
 * that is not its private half; `what` names the signer in those messages.
 */
export function cachedSigner<T extends SignerInfo>(
  cache: WeakMap<Uint8Array, T>,
  signer: { readonly certificateDer: Uint8Array; readonly privateKey: SigningKey },
  what: string,
  read: (der: Uint8Array) => T,
  invalid: (message: string, cause?: unknown) => Error,
): T {
  let info = cache.get(signer.certificateDer);
  if (!info) {
    try {
      info = read(signer.certificateDer);
    } catch (cause) {
      if (cause instanceof MutualError) throw cause;
      throw invalid(`The ${what} certificate could not be read.`, cause);
    }
    cache.set(signer.certificateDer, info);
  }
  const known = info;
  if (!known.matchedKeys.has(signer.privateKey)) {
    if (signer.privateKey.type !== 'private' && !isExternalKey(signer.privateKey))
      throw invalid(`The ${what} key is not a private key.`);
    const spki = spkiBytes(signer.privateKey);
    if (spki.length !== known.spki.length || !spki.every((b, i) => b === known.spki[i])) {
      throw invalid(`The ${what} private key does not match its certificate.`);
    }
    known.matchedKeys.add(signer.privateKey);
  }
  return known;
}
