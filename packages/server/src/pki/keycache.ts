import { createPublicKey, type KeyObject } from 'node:crypto';

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
