/**
 * Algorithm policy and signature checks through node:crypto. Only modern algorithms pass:
 * RSA ≥ 2048 bits (PKCS#1 v1.5 or PSS with SHA-256/384/512), ECDSA on P-256/P-384/P-521 with
 * named curves, Ed25519 and Ed448. MD5, SHA-1, SHA-224, DSA and small keys are refused.
 */
import { constants, createPublicKey, verify as nodeVerify, type KeyObject } from 'node:crypto';
import { Malformed, Reader, T, bytesEqual, decOid, decSmallUint, intBytes, single } from './der.js';
import type { AlgId, Cert } from './certificate.js';
import { parseAlgId } from './certificate.js';
import { OID } from './oids.js';

export type KeyKind = 'rsa' | 'ec' | 'ed25519' | 'ed448';

export interface KeyInfo {
  readonly kind: KeyKind;
  readonly key: KeyObject;
  readonly bits: number;
  readonly curve?: string;
}

export type KeyCheck =
  { ok: true; info: KeyInfo } | { ok: false; code: 'WEAK_KEY' | 'UNSUPPORTED_KEY'; detail: string };

const NULL_DER = Uint8Array.of(0x05, 0x00);
const CURVES: Readonly<Record<string, string>> = {
  [OID.p256]: 'P-256',
  [OID.p384]: 'P-384',
  [OID.p521]: 'P-521',
};

/** Judges a certificate's public key (algorithm, parameters, size) and builds the node:crypto key once. */
export function checkKey(cert: Cert, minRsaBits: number): KeyCheck {
  const alg = cert.keyAlg;
  try {
    switch (alg.oid) {
      case OID.rsaEncryption: {
        if (!alg.params || !bytesEqual(alg.params, NULL_DER)) {
          return { ok: false, code: 'UNSUPPORTED_KEY', detail: 'RSA key parameters must be NULL' };
        }
        const { modulusBits, exponentOk } = rsaShape(cert.keyBits);
        if (!exponentOk) return { ok: false, code: 'WEAK_KEY', detail: 'RSA public exponent is not allowed' };
        if (modulusBits < minRsaBits) {
          return { ok: false, code: 'WEAK_KEY', detail: `RSA key of ${modulusBits} bits (minimum ${minRsaBits})` };
        }
        if (modulusBits % 8 !== 0) {
          return { ok: false, code: 'WEAK_KEY', detail: `RSA modulus of ${modulusBits} bits is not a multiple of 8` };
        }
        if (modulusBits > 8192) return { ok: false, code: 'UNSUPPORTED_KEY', detail: 'RSA key larger than 8192 bits' };
        const key = createPublicKey({ key: Buffer.from(cert.spki), format: 'der', type: 'spki' });
        return { ok: true, info: { kind: 'rsa', key, bits: modulusBits } };
      }
      case OID.ecPublicKey: {
        if (!alg.params || alg.params[0] !== T.OID) {
          return { ok: false, code: 'UNSUPPORTED_KEY', detail: 'EC key without a named curve (explicit parameters)' };
        }
        const curveOid = decOid(alg.params, single(alg.params, T.OID));
        const curve = CURVES[curveOid];
        if (!curve) return { ok: false, code: 'WEAK_KEY', detail: `EC curve ${curveOid} is not allowed` };
        if (cert.keyBits[0] !== 0x04) {
          return { ok: false, code: 'UNSUPPORTED_KEY', detail: 'EC point is not in uncompressed form' };
        }
        const key = createPublicKey({ key: Buffer.from(cert.spki), format: 'der', type: 'spki' });
        return { ok: true, info: { kind: 'ec', key, bits: 0, curve } };
      }
      case OID.ed25519:
      case OID.ed448: {
        if (alg.params) return { ok: false, code: 'UNSUPPORTED_KEY', detail: 'EdDSA key with parameters' };
        const key = createPublicKey({ key: Buffer.from(cert.spki), format: 'der', type: 'spki' });
        return { ok: true, info: { kind: alg.oid === OID.ed25519 ? 'ed25519' : 'ed448', key, bits: 0 } };
      }
      case OID.dsa:
        return { ok: false, code: 'WEAK_KEY', detail: 'DSA keys are not allowed' };
      default:
        return { ok: false, code: 'UNSUPPORTED_KEY', detail: `public key algorithm ${alg.oid} is not supported` };
    }
  } catch (err) {
    return { ok: false, code: 'UNSUPPORTED_KEY', detail: `public key does not parse (${(err as Error).message})` };
  }
}

function rsaShape(keyBits: Uint8Array): { modulusBits: number; exponentOk: boolean } {
  const t = single(keyBits, T.SEQUENCE);
  const r = Reader.of(keyBits, t);
  const n = intBytes(keyBits, r.next(T.INTEGER));
  const e = intBytes(keyBits, r.next(T.INTEGER));
  r.done();
  if (((n[0] as number) & 0x80) !== 0) throw new Malformed('negative RSA modulus');
  let i = 0;
  while (i < n.length && n[i] === 0) i++;
  const top = n[i] ?? 0;
  const modulusBits = (n.length - i - 1) * 8 + (32 - Math.clz32(top));
  // e must be odd and > 1, at most 2^32 (anything else is a broken or hostile key).
  const eNum = e.length <= 5 ? e.reduce((a, b) => a * 256 + b, 0) : Infinity;
  const exponentOk = eNum !== Infinity && eNum >= 3 && eNum % 2 === 1 && ((e[0] as number) & 0x80) === 0;
  return { modulusBits, exponentOk };
}

export type SigAlg =
  | { kind: 'rsa'; hash: string }
  | { kind: 'rsa-pss'; hash: string; saltLength: number }
  | { kind: 'ec'; hash: string }
  | { kind: 'ed25519' }
  | { kind: 'ed448' };

export type SigAlgCheck =
  | { ok: true; alg: SigAlg }
  | { ok: false; code: 'WEAK_SIGNATURE_ALGORITHM' | 'UNSUPPORTED_SIGNATURE_ALGORITHM'; detail: string };

const RSA_HASH: Readonly<Record<string, string>> = {
  [OID.sha256WithRsa]: 'sha256',
  [OID.sha384WithRsa]: 'sha384',
  [OID.sha512WithRsa]: 'sha512',
};
const EC_HASH: Readonly<Record<string, string>> = {
  [OID.ecdsaSha256]: 'sha256',
  [OID.ecdsaSha384]: 'sha384',
  [OID.ecdsaSha512]: 'sha512',
};
const WEAK: ReadonlySet<string> = new Set([
  OID.md2WithRsa,
  OID.md5WithRsa,
  OID.sha1WithRsa,
  OID.sha224WithRsa,
  OID.ecdsaSha1,
  OID.ecdsaSha224,
  OID.dsaSha1,
  OID.dsaSha256,
]);
const HASH_BY_OID: Readonly<Record<string, [string, number]>> = {
  [OID.sha256]: ['sha256', 32],
  [OID.sha384]: ['sha384', 48],
  [OID.sha512]: ['sha512', 64],
};

/** Judges a signature AlgorithmIdentifier (the algorithm and the exact encoding of its parameters). */
export function checkSigAlg(alg: AlgId): SigAlgCheck {
  if (WEAK.has(alg.oid))
    return { ok: false, code: 'WEAK_SIGNATURE_ALGORITHM', detail: `signature algorithm ${alg.oid} is too weak` };
  const rsaHash = RSA_HASH[alg.oid];
  if (rsaHash) {
    if (alg.params && !bytesEqual(alg.params, NULL_DER)) {
      return { ok: false, code: 'UNSUPPORTED_SIGNATURE_ALGORITHM', detail: 'RSA signature parameters must be NULL' };
    }
    return { ok: true, alg: { kind: 'rsa', hash: rsaHash } };
  }
  const ecHash = EC_HASH[alg.oid];
  if (ecHash) {
    if (alg.params)
      return { ok: false, code: 'UNSUPPORTED_SIGNATURE_ALGORITHM', detail: 'ECDSA signature with parameters' };
    return { ok: true, alg: { kind: 'ec', hash: ecHash } };
  }
  if (alg.oid === OID.ed25519 || alg.oid === OID.ed448) {
    if (alg.params)
      return { ok: false, code: 'UNSUPPORTED_SIGNATURE_ALGORITHM', detail: 'EdDSA signature with parameters' };
    return { ok: true, alg: { kind: alg.oid === OID.ed25519 ? 'ed25519' : 'ed448' } };
  }
  if (alg.oid === OID.rsaPss) {
    try {
      return parsePss(alg.params);
    } catch {
      return { ok: false, code: 'UNSUPPORTED_SIGNATURE_ALGORITHM', detail: 'RSASSA-PSS parameters do not parse' };
    }
  }
  return {
    ok: false,
    code: 'UNSUPPORTED_SIGNATURE_ALGORITHM',
    detail: `signature algorithm ${alg.oid} is not supported`,
  };
}

function parsePss(params: Uint8Array | undefined): SigAlgCheck {
  const bad = (detail: string): SigAlgCheck => ({ ok: false, code: 'UNSUPPORTED_SIGNATURE_ALGORITHM', detail });
  if (!params) return bad('RSASSA-PSS without parameters');
  const t = single(params, T.SEQUENCE);
  const r = Reader.of(params, t);
  const h = r.optional(0xa0);
  const m = r.optional(0xa1);
  const s = r.optional(0xa2);
  const tf = r.optional(0xa3);
  r.done();
  if (!h || !m || !s) return bad('RSASSA-PSS must name its hash, MGF1 hash and salt length');
  if (tf) return bad('RSASSA-PSS trailer field must be absent');
  const hr = Reader.of(params, h);
  const hashAlg = parseAlgId(params, hr.next(T.SEQUENCE));
  hr.done();
  const hash = HASH_BY_OID[hashAlg.oid];
  if (!hash)
    return { ok: false, code: 'WEAK_SIGNATURE_ALGORITHM', detail: `RSASSA-PSS hash ${hashAlg.oid} is not allowed` };
  if (hashAlg.params && !bytesEqual(hashAlg.params, NULL_DER)) return bad('RSASSA-PSS hash parameters');
  const mr = Reader.of(params, m);
  const mgf = parseAlgId(params, mr.next(T.SEQUENCE));
  mr.done();
  if (mgf.oid !== OID.mgf1 || !mgf.params) return bad('RSASSA-PSS mask generation must be MGF1');
  const mgfHash = parseAlgId(mgf.params, single(mgf.params, T.SEQUENCE));
  if (mgfHash.oid !== hashAlg.oid) return bad('RSASSA-PSS MGF1 hash differs from the message hash');
  const sr = Reader.of(params, s);
  const salt = decSmallUint(params, sr.next(T.INTEGER));
  sr.done();
  if (salt !== hash[1]) return bad('RSASSA-PSS salt length must equal the hash length');
  return { ok: true, alg: { kind: 'rsa-pss', hash: hash[0], saltLength: salt } };
}

function strictEcdsaSig(sig: Uint8Array): boolean {
  try {
    const t = single(sig, T.SEQUENCE);
    const r = Reader.of(sig, t);
    for (let i = 0; i < 2; i++) {
      const v = intBytes(sig, r.next(T.INTEGER));
      if (((v[0] as number) & 0x80) !== 0) return false;
    }
    r.done();
    return true;
  } catch {
    return false;
  }
}

/** Verifies `signature` over `data` with `key`; false on any mismatch of algorithm and key. */
export function verifySignature(alg: SigAlg, key: KeyInfo, data: Uint8Array, signature: Uint8Array): boolean {
  try {
    switch (alg.kind) {
      case 'rsa':
        if (key.kind !== 'rsa') return false;
        return nodeVerify(alg.hash, data, { key: key.key, padding: constants.RSA_PKCS1_PADDING }, signature);
      case 'rsa-pss':
        if (key.kind !== 'rsa') return false;
        return nodeVerify(
          alg.hash,
          data,
          { key: key.key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: alg.saltLength },
          signature,
        );
      case 'ec':
        if (key.kind !== 'ec' || !strictEcdsaSig(signature)) return false;
        return nodeVerify(alg.hash, data, { key: key.key, dsaEncoding: 'der' }, signature);
      case 'ed25519':
      case 'ed448':
        if (key.kind !== alg.kind) return false;
        return nodeVerify(null, data, key.key, signature);
    }
  } catch {
    return false;
  }
}
