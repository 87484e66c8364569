import { X509Certificate, type KeyObject } from 'node:crypto';
import { isExternalKey, type SigningKey } from '../pki/index.js';
import { loadPkcs11Module } from './pkcs11.js';
import { isPkcs11Uri, parsePkcs11Uri } from './pkcs11-uri.js';
import { MutualError, decodeOnePem, importPrivateKey, publicKeyMatches, readFileCapped } from '@mutual/sdk';

export interface LoadedIssuer {
  readonly certificateDer: Uint8Array;
  readonly privateKey: SigningKey;
}

/** Where keys named by `pkcs11:` URIs are: the module and the user PIN (resolved). */
export interface Pkcs11Access {
  readonly module: string;
  readonly pin: string;
}

/**
 * Loads a CA certificate and its private key — from an (encrypted) key file, or on a PKCS#11 token
 * when `key` is a `pkcs11:` URI — and checks that they belong together (on a token: a test
 * signature verifies under the certificate's key). The passphrase and PIN never reach a log or an
 * error.
 */
export async function loadIssuerFiles(
  files: { certificate: string; key: string },
  passphrase: string | null,
  pkcs11?: Pkcs11Access,
): Promise<LoadedIssuer> {
  const certificateDer = decodeOnePem(
    (await readFileCapped(files.certificate, 1024 * 1024)).toString('utf8'),
    'CERTIFICATE',
  );
  if (isPkcs11Uri(files.key)) {
    if (pkcs11 === undefined) throw new MutualError('ERR_KEYS_PKCS11_NOT_CONFIGURED', { details: { key: files.key } });
    const ref = parsePkcs11Uri(files.key);
    const token = loadPkcs11Module(pkcs11.module).openToken(ref, pkcs11.pin);
    const publicKey = new X509Certificate(certificateDer).publicKey;
    return { certificateDer, privateKey: token.key(ref, publicKey) };
  }
  const keyText = (await readFileCapped(files.key, 1024 * 1024)).toString('utf8');
  const privateKey = importPrivateKey(keyText, passphrase ?? undefined);
  if (!publicKeyMatches(privateKey, certificateDer)) {
    throw new MutualError('ERR_CA_KEY_MISMATCH', { details: { certificate: files.certificate, key: files.key } });
  }
  return { certificateDer, privateKey };
}

/** A key about to be written to a file: only a key this process holds can be. */
export function inMemoryKey(key: SigningKey): KeyObject {
  if (isExternalKey(key)) {
    throw new MutualError('ERR_INTERNAL_UNEXPECTED', { message: 'A key on a token cannot be written to a file.' });
  }
  return key;
}
