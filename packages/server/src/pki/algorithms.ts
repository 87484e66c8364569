import { constants, sign, verify, type KeyObject } from 'node:crypto';
import { describePublicKey, MutualError } from '@mutual/sdk';
import {
  DerError,
  TAG,
  bytesEqual,
  children,
  expectTag,
  nullValue,
  oid,
  readOid,
  readSmallInteger,
  sequence,
  type DerNode,
} from './der.js';
import { OID } from './oids.js';

type Hash = 'sha256' | 'sha384' | 'sha512';

/** A signature algorithm mutual verifies. */
export interface SignatureAlgorithm {
  /** Display name: 'ecdsa-with-SHA256', 'sha256WithRSAEncryption', 'rsassa-pss-sha256', 'ed25519'. */
  name: string;
  kind: 'ecdsa' | 'rsa-pkcs1' | 'rsa-pss' | 'ed25519';
  hash: Hash | null;
  saltLength?: number;
}

export type DecodedAlgorithm =
  { ok: true; alg: SignatureAlgorithm } | { ok: false; weak: boolean; name: string; reason: string };

const WEAK: Record<string, string> = {
  [OID.md2WithRsa]: 'md2WithRSAEncryption',
  [OID.md5WithRsa]: 'md5WithRSAEncryption',
  [OID.sha1WithRsa]: 'sha1WithRSAEncryption',
  [OID.ecdsaWithSha1]: 'ecdsa-with-SHA1',
  [OID.dsaWithSha1]: 'dsa-with-SHA1',
};

const ECDSA: Record<string, Hash> = {
  [OID.ecdsaWithSha256]: 'sha256',
  [OID.ecdsaWithSha384]: 'sha384',
  [OID.ecdsaWithSha512]: 'sha512',
};

const RSA: Record<string, Hash> = {
  [OID.sha256WithRsa]: 'sha256',
  [OID.sha384WithRsa]: 'sha384',
  [OID.sha512WithRsa]: 'sha512',
};

const DIGESTS: Record<string, Hash | 'sha1' | 'md5' | 'sha224'> = {
  [OID.sha256]: 'sha256',
  [OID.sha384]: 'sha384',
  [OID.sha512]: 'sha512',
  [OID.sha1]: 'sha1',
  [OID.sha224]: 'sha224',
  [OID.md5]: 'md5',
};

const HASH_NAME: Record<Hash, string> = { sha256: 'SHA256', sha384: 'SHA384', sha512: 'SHA512' };

/**
 * Decodes an AlgorithmIdentifier of a signature. `strict` demands the exact parameter encoding of
 * RFC 5758/4055/8410 (used on certificates); CSRs from older tools may omit RSA's NULL.
 */
export function decodeSignatureAlgorithm(node: DerNode, strict: boolean): DecodedAlgorithm {
  const [oidNode, params, extra] = children(expectTag(node, TAG.SEQUENCE, 'AlgorithmIdentifier'));
  if (extra !== undefined) throw new DerError('AlgorithmIdentifier: too many elements');
  const id = readOid(oidNode, 'algorithm');
  const weak = WEAK[id];
  if (weak !== undefined) return { ok: false, weak: true, name: weak, reason: 'MD5 and SHA-1 signatures are refused' };
  const unsupported = (reason: string): DecodedAlgorithm => ({ ok: false, weak: false, name: id, reason });
  const ecdsaHash = ECDSA[id];
  if (ecdsaHash !== undefined) {
    if (params !== undefined) throw new DerError('ECDSA AlgorithmIdentifier must have no parameters');
    return { ok: true, alg: { name: `ecdsa-with-${HASH_NAME[ecdsaHash]}`, kind: 'ecdsa', hash: ecdsaHash } };
  }
  const rsaHash = RSA[id];
  if (rsaHash !== undefined) {
    if (params === undefined ? strict : !bytesEqual(params.bytes, nullValue()))
      throw new DerError('RSA AlgorithmIdentifier must have NULL parameters');
    return { ok: true, alg: { name: `${rsaHash}WithRSAEncryption`, kind: 'rsa-pkcs1', hash: rsaHash } };
  }
  if (id === OID.ed25519) {
    if (params !== undefined) throw new DerError('Ed25519 AlgorithmIdentifier must have no parameters');
    return { ok: true, alg: { name: 'ed25519', kind: 'ed25519', hash: null } };
  }
  if (id === OID.rsassaPss) {
    if (params === undefined) throw new DerError('RSASSA-PSS needs parameters');
    return decodePssParams(params);
  }
  return unsupported('unknown signature algorithm');
}

function digestOf(node: DerNode): string {
  const [o, p, extra] = children(expectTag(node, TAG.SEQUENCE, 'digest AlgorithmIdentifier'));
  if (extra !== undefined || (p !== undefined && !bytesEqual(p.bytes, nullValue())))
    throw new DerError('digest AlgorithmIdentifier: bad parameters');
  const id = readOid(o, 'digest');
  return DIGESTS[id] ?? id;
}

function decodePssParams(params: DerNode): DecodedAlgorithm {
  let hash = 'sha1';
  let mgfHash = 'sha1';
  let saltLength = 20;
  let lastTag = 0x9f;
  for (const field of children(expectTag(params, TAG.SEQUENCE, 'RSASSA-PSS-params'))) {
    if (field.tag <= lastTag && lastTag !== 0x9f) throw new DerError('RSASSA-PSS-params: fields out of order');
    lastTag = field.tag;
    const [inner, extra] = children(field);
    if (inner === undefined || extra !== undefined) throw new DerError('RSASSA-PSS-params: bad field');
    switch (field.tag) {
      case 0xa0:
        hash = digestOf(inner);
        break;
      case 0xa1: {
        const [mgfOid, mgfParams, more] = children(expectTag(inner, TAG.SEQUENCE, 'maskGenAlgorithm'));
        if (more !== undefined || mgfParams === undefined) throw new DerError('maskGenAlgorithm: bad shape');
        if (readOid(mgfOid, 'maskGenAlgorithm') !== OID.mgf1) {
          return { ok: false, weak: false, name: 'rsassa-pss', reason: 'mask generation other than MGF1' };
        }
        mgfHash = digestOf(mgfParams);
        break;
      }
      case 0xa2:
        saltLength = readSmallInteger(inner, 'saltLength');
        break;
      case 0xa3:
        if (readSmallInteger(inner, 'trailerField') !== 1) throw new DerError('RSASSA-PSS trailerField must be 1');
        break;
      default:
        throw new DerError('RSASSA-PSS-params: unknown field');
    }
  }
  if (hash === 'sha1' || hash === 'md5' || mgfHash === 'sha1' || mgfHash === 'md5')
    return { ok: false, weak: true, name: `rsassa-pss-${hash}`, reason: 'MD5 and SHA-1 signatures are refused' };
  if (hash !== 'sha256' && hash !== 'sha384' && hash !== 'sha512')
    return { ok: false, weak: false, name: `rsassa-pss-${hash}`, reason: 'unsupported PSS digest' };
  if (mgfHash !== hash)
    return { ok: false, weak: false, name: `rsassa-pss-${hash}`, reason: 'the MGF1 digest differs from the digest' };
  return { ok: true, alg: { name: `rsassa-pss-${hash}`, kind: 'rsa-pss', hash, saltLength } };
}

/** True when the signature verifies; false for a wrong key kind or any verification error. */
export function verifySignature(
  alg: SignatureAlgorithm,
  data: Uint8Array,
  signature: Uint8Array,
  publicKey: KeyObject,
): boolean {
  const type = publicKey.asymmetricKeyType;
  try {
    switch (alg.kind) {
      case 'ecdsa':
        return type === 'ec' && verify(alg.hash, data, { key: publicKey, dsaEncoding: 'der' }, signature);
      case 'rsa-pkcs1':
        return (
          type === 'rsa' && verify(alg.hash, data, { key: publicKey, padding: constants.RSA_PKCS1_PADDING }, signature)
        );
      case 'rsa-pss':
        return (
          (type === 'rsa' || type === 'rsa-pss') &&
          verify(
            alg.hash,
            data,
            { key: publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: alg.saltLength ?? 20 },
            signature,
          )
        );
      case 'ed25519':
        return type === 'ed25519' && verify(null, data, publicKey, signature);
    }
  } catch {
    return false;
  }
}

/** How an issuer key signs: the AlgorithmIdentifier written in the certificate and the signing call. */
export interface Signer {
  readonly algorithm: SignatureAlgorithm;
  /** The DER AlgorithmIdentifier (for TBSCertificate.signature and Certificate.signatureAlgorithm). */
  readonly algorithmIdentifier: Uint8Array;
  sign(data: Uint8Array): Uint8Array;
}

/**
 * A private key that never enters this process — on a PKCS#11 token — and signs through a call.
 * `sign` receives the data to be signed and signs it with the algorithm `signerFor` picks for
 * `publicKey` (P-256 → ECDSA with SHA-256, P-384 → with SHA-384, RSA → PKCS#1 v1.5 with SHA-256),
 * returning the signature as X.509 carries it (ECDSA as a DER SEQUENCE of r and s).
 */
export interface ExternalPrivateKey {
  readonly type: 'external';
  readonly publicKey: KeyObject;
  /** Where the key lives, for messages: a PKCS#11 URI without secrets. */
  readonly description: string;
  sign(data: Uint8Array): Uint8Array;
}

/** An issuer's private key: in memory (a KeyObject) or held by a token. */
export type SigningKey = KeyObject | ExternalPrivateKey;

export const isExternalKey = (key: SigningKey): key is ExternalPrivateKey => key.type === 'external';

const signers = new WeakMap<SigningKey, Signer>();

/**
 * The signer for an issuer private key: P-256 → ecdsa-with-SHA256, P-384 → ecdsa-with-SHA384,
 * RSA → sha256WithRSAEncryption (NULL parameters), Ed25519 → id-Ed25519 (no parameters).
 */
export function signerFor(privateKey: SigningKey): Signer {
  const cached = signers.get(privateKey);
  if (cached) return cached;
  if (privateKey.type !== 'private' && privateKey.type !== 'external') {
    throw new MutualError('ERR_PKI_ISSUER_INVALID', { message: 'The issuer key is not a private key.' });
  }
  const external = isExternalKey(privateKey) ? privateKey : null;
  const d = describePublicKey(external?.publicKey ?? (privateKey as KeyObject));
  let s: Signer;
  if (d.algorithm === 'ec') {
    const hash: Hash = d.curve === 'P-384' ? 'sha384' : 'sha256';
    s = {
      algorithm: { name: `ecdsa-with-${HASH_NAME[hash]}`, kind: 'ecdsa', hash },
      algorithmIdentifier: sequence([oid(hash === 'sha384' ? OID.ecdsaWithSha384 : OID.ecdsaWithSha256)]),
      sign: (data) => external?.sign(data) ?? sign(hash, data, { key: privateKey as KeyObject, dsaEncoding: 'der' }),
    };
  } else if (d.algorithm === 'rsa') {
    s = {
      algorithm: { name: 'sha256WithRSAEncryption', kind: 'rsa-pkcs1', hash: 'sha256' },
      algorithmIdentifier: sequence([oid(OID.sha256WithRsa), nullValue()]),
      sign: (data) =>
        external?.sign(data) ??
        sign('sha256', data, { key: privateKey as KeyObject, padding: constants.RSA_PKCS1_PADDING }),
    };
  } else {
    if (external !== null) {
      throw new MutualError('ERR_PKI_ISSUER_INVALID', { message: 'An Ed25519 key on a token cannot sign here.' });
    }
    s = {
      algorithm: { name: 'ed25519', kind: 'ed25519', hash: null },
      algorithmIdentifier: sequence([oid(OID.ed25519)]),
      sign: (data) => sign(null, data, privateKey as KeyObject),
    };
  }
  signers.set(privateKey, s);
  return s;
}

/** The signature algorithm mutual would use for a key (the lint's expectation). */
export function expectedAlgorithmName(publicKey: KeyObject): string {
  const d = describePublicKey(publicKey);
  if (d.algorithm === 'ec') return d.curve === 'P-384' ? 'ecdsa-with-SHA384' : 'ecdsa-with-SHA256';
  return d.algorithm === 'rsa' ? 'sha256WithRSAEncryption' : 'ed25519';
}
