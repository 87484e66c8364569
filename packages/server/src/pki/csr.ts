import type { KeyObject } from 'node:crypto';
import { assertAcceptableKey, decodeOnePem, MutualError } from '@mutual/sdk';
import { decodeSignatureAlgorithm, verifySignature } from './algorithms.js';
import {
  DerError,
  TAG,
  children,
  expectTag,
  readBitString,
  readOid,
  readOne,
  readSmallInteger,
  sequenceOf,
  type DerNode,
} from './der.js';
import {
  decodeGeneralNames,
  decodeName,
  emptyNames,
  validateNames,
  type DistinguishedName,
  type SubjectNames,
} from './names.js';
import { publicKeyFromSpki } from './keycache.js';
import { OID } from './oids.js';
import { readExtension } from './x509.js';

export interface ParsedCsr {
  der: Uint8Array;
  /** The requester's public key, after proof of possession and the key-type check. */
  publicKey: KeyObject;
  /** Its SubjectPublicKeyInfo DER, exactly as in the request. */
  spki: Uint8Array;
  /** The subject as written in the request (informational: issuance never copies it). */
  subject: DistinguishedName;
  /**
   * Names from the extensionRequest's subjectAltName, validated like every name mutual issues
   * (ERR_PKI_NAME_INVALID) and normalized (DNS lowercase, canonical IPs, duplicates dropped).
   * Whether the requester may have them is the name policy's decision, not pki's.
   */
  requestedNames: SubjectNames;
  /** 'ecdsa-with-SHA256', 'sha256WithRSAEncryption', 'rsassa-pss-sha256', 'ed25519'… */
  signatureAlgorithm: string;
}

export interface ParseCsrOptions {
  /** Largest accepted input in bytes (PEM text or DER). Default 64 KiB. */
  maxBytes?: number;
}

export const DEFAULT_MAX_CSR_BYTES = 64 * 1024;
const PEM_LABELS = ['CERTIFICATE REQUEST', 'NEW CERTIFICATE REQUEST'];

function malformed(message: string, cause?: unknown): MutualError {
  return new MutualError('ERR_CSR_MALFORMED', cause === undefined ? { message } : { message, cause });
}

function toDer(input: Uint8Array | string, maxBytes: number): Uint8Array {
  const size = typeof input === 'string' ? Buffer.byteLength(input, 'utf8') : input.length;
  if (size > maxBytes) throw new MutualError('ERR_CSR_TOO_LARGE', { details: { maxBytes, size } });
  if (size === 0) throw malformed('The CSR is empty.');
  let text: string;
  if (typeof input === 'string') text = input;
  else if (input[0] === TAG.SEQUENCE) return input;
  else {
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(input);
    } catch (cause) {
      throw malformed('The CSR is neither DER nor PEM text.', cause);
    }
  }
  try {
    return decodeOnePem(text, PEM_LABELS);
  } catch (cause) {
    const reason = cause instanceof MutualError ? cause.message : 'unreadable PEM';
    throw malformed(`The CSR PEM is malformed: ${reason}`, cause);
  }
}

/**
 * Parses a PKCS#10 certificate signing request (PEM "CERTIFICATE REQUEST" / "NEW CERTIFICATE
 * REQUEST", or DER) strictly and checks proof of possession: the signature must verify with the
 * request's own key. Only the key, the subject (informational) and the subjectAltName of the
 * extensionRequest are read; every other requested extension is ignored, because issuance is
 * server-defined.
 */
export function parseCsr(input: Uint8Array | string, opts: ParseCsrOptions = {}): ParsedCsr {
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_CSR_BYTES;
  const der = toDer(input, maxBytes);

  let info: DerNode;
  let sigAlgNode: DerNode;
  let signature: Uint8Array;
  let subject: DistinguishedName;
  let spki: DerNode;
  let requestedNames: SubjectNames = emptyNames();
  let unsupportedNames: number[] = [];
  try {
    const [infoNode, algNode, sigNode, extra] = sequenceOf(readOne(der), 'CertificationRequest');
    if (extra !== undefined) throw new DerError('CertificationRequest: too many elements');
    info = expectTag(infoNode, TAG.SEQUENCE, 'certificationRequestInfo');
    sigAlgNode = expectTag(algNode, TAG.SEQUENCE, 'signatureAlgorithm');
    const bits = readBitString(sigNode, 'signature');
    if (bits.unusedBits !== 0) throw new DerError('signature: unused bits');
    signature = bits.bytes;

    const [version, subjectNode, spkiNode, attrs, more] = children(info);
    if (more !== undefined) throw new DerError('certificationRequestInfo: too many elements');
    if (readSmallInteger(version, 'version') !== 0) throw new DerError('version must be 0 (v1)');
    subject = decodeName(expectTag(subjectNode, TAG.SEQUENCE, 'subject'));
    spki = expectTag(spkiNode, TAG.SEQUENCE, 'subjectPKInfo');
    // Some older encoders omit the [0] attributes although PKCS#10 requires it.
    if (attrs !== undefined) {
      let seenExtensionRequest = false;
      for (const attr of children(expectTag(attrs, 0xa0, 'attributes'))) {
        const [typeNode, values, extraField] = sequenceOf(attr, 'Attribute');
        if (extraField !== undefined) throw new DerError('Attribute: too many elements');
        const type = readOid(typeNode, 'attribute type');
        const valueList = children(expectTag(values, TAG.SET, 'attribute values'));
        if (type !== OID.extensionRequest) continue;
        if (seenExtensionRequest || valueList.length !== 1) throw new DerError('more than one extensionRequest');
        seenExtensionRequest = true;
        const extensions = sequenceOf(valueList[0], 'Extensions').map(readExtension);
        const ids = new Set<string>();
        for (const ext of extensions) {
          if (ids.has(ext.oid)) throw new DerError(`extension ${ext.oid} requested twice`);
          ids.add(ext.oid);
          if (ext.oid === OID.subjectAltName) {
            const decoded = decodeGeneralNames(readOne(ext.value));
            requestedNames = decoded.names;
            unsupportedNames = decoded.unsupported;
          }
        }
      }
    }
  } catch (cause) {
    if (cause instanceof MutualError) throw cause;
    throw malformed(`The CSR is malformed: ${cause instanceof Error ? cause.message : 'unreadable'}.`, cause);
  }

  let publicKey: KeyObject;
  try {
    publicKey = publicKeyFromSpki(spki.bytes);
  } catch (cause) {
    // Unknown curves and algorithms node:crypto cannot load are unsupported keys, not bad DER.
    throw new MutualError('ERR_KEY_UNSUPPORTED', {
      message: 'The CSR public key is of a type mutual does not support.',
      cause,
    });
  }
  assertAcceptableKey(publicKey);

  let decoded;
  try {
    decoded = decodeSignatureAlgorithm(sigAlgNode, false);
  } catch (cause) {
    throw malformed('The CSR signature algorithm is malformed.', cause);
  }
  if (!decoded.ok) {
    throw new MutualError(decoded.weak ? 'ERR_CSR_WEAK_SIGNATURE' : 'ERR_CSR_SIGNATURE_UNSUPPORTED', {
      message: `The CSR signature algorithm ${decoded.name} is refused: ${decoded.reason}.`,
      details: { algorithm: decoded.name },
    });
  }
  if (!verifySignature(decoded.alg, info.bytes, signature, publicKey)) {
    throw new MutualError('ERR_CSR_SIGNATURE_INVALID', { details: { algorithm: decoded.alg.name } });
  }
  if (unsupportedNames.length > 0) {
    throw new MutualError('ERR_CSR_NAME_UNSUPPORTED', {
      details: { tags: unsupportedNames.map((t) => `0x${t.toString(16)}`) },
    });
  }
  // Names are checked like any name mutual issues (ERR_PKI_NAME_INVALID) and normalized.
  requestedNames = validateNames(requestedNames).names;
  return {
    der: typeof input === 'string' || der !== input ? der : Uint8Array.from(der),
    publicKey,
    spki: Uint8Array.from(spki.bytes),
    subject,
    requestedNames,
    signatureAlgorithm: decoded.alg.name,
  };
}
