import { createCipheriv, createHash, createHmac, pbkdf2Sync, randomBytes, type KeyObject } from 'node:crypto';
import { MutualError } from '../errors/index.js';
import { publicKeyMatches } from '../keys/index.js';
import { isSingleDerSequence } from '../pem/index.js';
import {
  bmpString,
  explicit,
  implicitPrimitive,
  integer,
  nullValue,
  octetString,
  oid,
  sequence,
  setOf,
  type Der,
} from './der-writer.js';
import { bmpPassword, pkcs12Kdf } from './kdf.js';

export interface Pkcs12Input {
  privateKey: KeyObject;
  /** The leaf certificate (DER). Its public key must match privateKey. */
  certificate: Uint8Array;
  /** Intermediates (and optionally the root), DER, in order from the leaf's issuer upwards. */
  chain: readonly Uint8Array[];
  passphrase: string;
  /** Shown by importing tools (Keychain, Windows, browsers) for the key and the leaf. */
  friendlyName?: string;
  /** PBKDF2 and MAC iterations; default DEFAULT_PKCS12_ITERATIONS. */
  iterations?: number;
  /** Source of salts and IVs; default node:crypto randomBytes (tests pass their own). */
  random?: (n: number) => Uint8Array;
}

/** Default iteration count for PBKDF2-HMAC-SHA256 and the PKCS#12 MAC. */
export const DEFAULT_PKCS12_ITERATIONS = 100_000;
const MIN_ITERATIONS = 1_000;
const MAX_ITERATIONS = 10_000_000;

const OID = {
  data: '1.2.840.113549.1.7.1',
  encryptedData: '1.2.840.113549.1.7.6',
  pbes2: '1.2.840.113549.1.5.13',
  pbkdf2: '1.2.840.113549.1.5.12',
  hmacWithSha256: '1.2.840.113549.2.9',
  aes256Cbc: '2.16.840.1.101.3.4.1.42',
  sha256: '2.16.840.1.101.3.4.2.1',
  keyBag: '1.2.840.113549.1.12.10.1.2', // pkcs8ShroudedKeyBag
  certBag: '1.2.840.113549.1.12.10.1.3',
  x509Certificate: '1.2.840.113549.1.9.22.1',
  friendlyName: '1.2.840.113549.1.9.20',
  localKeyId: '1.2.840.113549.1.9.21',
} as const;

function usage(message: string): MutualError {
  return new MutualError('ERR_USAGE_INVALID_ARGUMENT', { message });
}

/**
 * Encrypts with PBES2 (PBKDF2-HMAC-SHA256 → AES-256-CBC) and returns the AlgorithmIdentifier and
 * the ciphertext. The PBES2 password is the passphrase's UTF-8 bytes, as OpenSSL uses it.
 */
function pbes2Encrypt(
  plaintext: Uint8Array,
  passphrase: string,
  iterations: number,
  random: (n: number) => Uint8Array,
): { algorithm: Der; ciphertext: Uint8Array } {
  const salt = random(16);
  const iv = random(16);
  const key = pbkdf2Sync(Buffer.from(passphrase, 'utf8'), salt, iterations, 32, 'sha256');
  const cipher = createCipheriv('aes-256-cbc', key, iv);
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  key.fill(0);
  const algorithm = sequence(
    oid(OID.pbes2),
    sequence(
      sequence(
        oid(OID.pbkdf2),
        sequence(octetString(salt), integer(iterations), sequence(oid(OID.hmacWithSha256), nullValue())),
      ),
      sequence(oid(OID.aes256Cbc), octetString(iv)),
    ),
  );
  return { algorithm, ciphertext };
}

function attribute(type: string, value: Der): Der {
  return sequence(oid(type), setOf(value));
}

/**
 * Builds a PKCS#12 (PFX) file: the key in a PBES2-shrouded key bag, the leaf and chain in
 * PBES2-encrypted certificate bags, integrity by HMAC-SHA256. The key and leaf share a localKeyId
 * (SHA-256 of the leaf) and the optional friendlyName. An empty passphrase is refused.
 */
export function exportPkcs12(input: Pkcs12Input): Uint8Array {
  const { privateKey, certificate, chain, passphrase } = input;
  if (typeof passphrase !== 'string' || passphrase.length === 0) {
    throw new MutualError('ERR_PKCS12_PASSPHRASE_REQUIRED');
  }
  const iterations = input.iterations ?? DEFAULT_PKCS12_ITERATIONS;
  if (!Number.isInteger(iterations) || iterations < MIN_ITERATIONS || iterations > MAX_ITERATIONS) {
    throw usage(`PKCS#12 iterations must be an integer from ${MIN_ITERATIONS} to ${MAX_ITERATIONS}.`);
  }
  const source = input.random ?? ((n: number) => new Uint8Array(randomBytes(n)));
  const random = (n: number): Uint8Array => {
    const bytes = source(n);
    if (!(bytes instanceof Uint8Array) || bytes.length !== n) throw usage('The random source returned a wrong length.');
    return bytes;
  };
  if (privateKey.type !== 'private') throw usage('A PKCS#12 file needs the private key.');
  for (const [i, der] of [certificate, ...chain].entries()) {
    if (!isSingleDerSequence(der)) {
      throw new MutualError('ERR_X509_MALFORMED', {
        message: i === 0 ? 'The certificate is not one DER object.' : `Chain certificate ${i} is not one DER object.`,
      });
    }
  }
  if (!publicKeyMatches(privateKey, certificate)) {
    throw new MutualError('ERR_PKCS12_KEY_MISMATCH');
  }

  const localKeyId = createHash('sha256').update(certificate).digest();
  const leafAttributes = [attribute(OID.localKeyId, octetString(localKeyId))];
  if (input.friendlyName !== undefined) leafAttributes.push(attribute(OID.friendlyName, bmpString(input.friendlyName)));

  // Key: PKCS#8 → EncryptedPrivateKeyInfo in a pkcs8ShroudedKeyBag, in an unencrypted Data.
  const pkcs8 = privateKey.export({ type: 'pkcs8', format: 'der' });
  const shrouded = pbes2Encrypt(pkcs8, passphrase, iterations, random);
  pkcs8.fill(0);
  const keyBag = sequence(
    oid(OID.keyBag),
    explicit(0, sequence(shrouded.algorithm, octetString(shrouded.ciphertext))),
    setOf(...leafAttributes),
  );
  const keyContents = sequence(keyBag);

  // Certificates: cert bags in one SafeContents, encrypted as EncryptedData.
  const certBags = [certificate, ...chain].map((der, i) =>
    sequence(
      oid(OID.certBag),
      explicit(0, sequence(oid(OID.x509Certificate), explicit(0, octetString(der)))),
      ...(i === 0 ? [setOf(...leafAttributes)] : []),
    ),
  );
  const certContents = sequence(...certBags);
  const encryptedCerts = pbes2Encrypt(certContents, passphrase, iterations, random);
  const encryptedData = sequence(
    integer(0),
    sequence(oid(OID.data), encryptedCerts.algorithm, implicitPrimitive(0, encryptedCerts.ciphertext)),
  );

  const authenticatedSafe = sequence(
    sequence(oid(OID.encryptedData), explicit(0, encryptedData)),
    sequence(oid(OID.data), explicit(0, octetString(keyContents))),
  );

  // MAC: HMAC-SHA256 over the AuthenticatedSafe, key from the PKCS#12 KDF (id 3).
  const macSalt = random(16);
  const macKey = pkcs12Kdf(bmpPassword(passphrase), macSalt, 3, iterations, 32);
  const mac = createHmac('sha256', macKey).update(authenticatedSafe).digest();
  macKey.fill(0);
  const macData = sequence(
    sequence(sequence(oid(OID.sha256), nullValue()), octetString(mac)),
    octetString(macSalt),
    integer(iterations),
  );

  return sequence(integer(3), sequence(oid(OID.data), explicit(0, octetString(authenticatedSafe))), macData);
}
