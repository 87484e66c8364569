import 'reflect-metadata';
import { createPrivateKey, webcrypto, type KeyObject } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import type { KeyType } from '@mutual/sdk';

const ALGORITHMS: Record<
  KeyType,
  {
    gen: webcrypto.RsaHashedKeyGenParams | webcrypto.EcKeyGenParams | webcrypto.Algorithm;
    sign: webcrypto.Algorithm | webcrypto.EcdsaParams;
  }
> = {
  p256: {
    gen: { name: 'ECDSA', namedCurve: 'P-256' },
    sign: { name: 'ECDSA', hash: 'SHA-256' },
  },
  p384: {
    gen: { name: 'ECDSA', namedCurve: 'P-384' },
    sign: { name: 'ECDSA', hash: 'SHA-384' },
  },
  rsa2048: { gen: rsa(2048), sign: { name: 'RSASSA-PKCS1-v1_5' } },
  rsa3072: { gen: rsa(3072), sign: { name: 'RSASSA-PKCS1-v1_5' } },
  rsa4096: { gen: rsa(4096), sign: { name: 'RSASSA-PKCS1-v1_5' } },
  ed25519: { gen: { name: 'Ed25519' }, sign: { name: 'Ed25519' } },
};

function rsa(bits: number): webcrypto.RsaHashedKeyGenParams {
  return { name: 'RSASSA-PKCS1-v1_5', modulusLength: bits, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' };
}

/**
 * Makes a new key and a PKCS#10 request for the given names on this machine: the key never
 * leaves it, only the CSR is sent to the CA (which ignores everything in it but key and names).
 */
export async function createKeyAndCsr(
  keyType: KeyType,
  names: { dns: readonly string[]; ip: readonly string[]; uri: readonly string[]; email: readonly string[] },
): Promise<{ privateKey: KeyObject; csrPem: string }> {
  x509.cryptoProvider.set(webcrypto as never);
  const alg = ALGORITHMS[keyType];
  const keys = (await webcrypto.subtle.generateKey(alg.gen, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const san = new x509.SubjectAlternativeNameExtension([
    ...names.dns.map((value) => ({ type: 'dns' as const, value })),
    ...names.ip.map((value) => ({ type: 'ip' as const, value })),
    ...names.uri.map((value) => ({ type: 'url' as const, value })),
    ...names.email.map((value) => ({ type: 'email' as const, value })),
  ]);
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    keys,
    signingAlgorithm: alg.sign,
    extensions: [san],
  });
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  return { privateKey: createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' }), csrPem: csr.toString('pem') };
}
