import { createPublicKey, type KeyObject } from 'node:crypto';
import { MutualError } from '@mutual/sdk';

/**
 * SubjectPublicKeyInfo DER per KeyObject. OpenSSL 3's key encoders and decoders cost far more than
 * a signature, so a key read from a CSR remembers the SPKI bytes it came from and issuance reuses
 * them instead of exporting the key again.
 */
const spkiOfKey = new WeakMap<KeyObject, Uint8Array>();

export function rememberSpki(key: KeyObject, spki: Uint8Array): void {
  spkiOfKey.set(key, spki);
}

/** The SPKI DER of a public key (or of a private key's public half). */
export function spkiBytes(key: KeyObject): Uint8Array {
  let spki = spkiOfKey.get(key);
  if (!spki) {
    const pub = key.type === 'private' ? createPublicKey(key) : key;
    spki = new Uint8Array(pub.export({ type: 'spki', format: 'der' }));
    spkiOfKey.set(key, spki);
  }
  return spki;
}

/** A public KeyObject from SPKI DER, remembering the bytes. */
export function publicKeyFromSpki(spki: Uint8Array): KeyObject {
  const key = createPublicKey({
    key: Buffer.from(spki.buffer, spki.byteOffset, spki.byteLength),
    format: 'der',
    type: 'spki',
  });
  spkiOfKey.set(key, Uint8Array.from(spki));
  return key;
}

/** What every signer cache entry keeps: the certificate's SPKI and the private keys already matched to it. */
export interface SignerInfo {
  readonly spki: Uint8Array;
  readonly matchedKeys: WeakSet<KeyObject>;
}

/**
 * Reads a signing certificate once per DER buffer (`read` parses and checks it) and checks each
 * private key against it once. `invalid` builds the error for an unreadable certificate or a key
 * that is not its private half; `what` names the signer in those messages.
 */
export function cachedSigner<T extends SignerInfo>(
  cache: WeakMap<Uint8Array, T>,
  signer: { readonly certificateDer: Uint8Array; readonly privateKey: KeyObject },
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
    if (signer.privateKey.type !== 'private') throw invalid(`The ${what} key is not a private key.`);
    const spki = spkiBytes(signer.privateKey);
    if (spki.length !== known.spki.length || !spki.every((b, i) => b === known.spki[i])) {
      throw invalid(`The ${what} private key does not match its certificate.`);
    }
    known.matchedKeys.add(signer.privateKey);
  }
  return known;
}
