import type { KeyObject } from 'node:crypto';
import { isExternalKey, type SigningKey } from '../pki/index.js';
import { MutualError, decodeOnePem, importPrivateKey, publicKeyMatches, readFileCapped } from '@mutual/sdk';

export interface LoadedIssuer {
  readonly certificateDer: Uint8Array;
  readonly privateKey: SigningKey;
}

/**
 * Loads a CA certificate and its (encrypted) private key from files and checks that they belong
 * together. The passphrase is never logged or put into an error.
 */
export async function loadIssuerFiles(
  files: { certificate: string; key: string },
  passphrase: string | null,
): Promise<LoadedIssuer> {
  const certificateDer = decodeOnePem(
    (await readFileCapped(files.certificate, 1024 * 1024)).toString('utf8'),
    'CERTIFICATE',
  );
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
