import { createHash, type KeyObject } from 'node:crypto';
import {
  DerError,
  TAG,
  children,
  expectTag,
  readBitString,
  readBoolean,
  readIntegerContent,
  readNamedBits,
  readOid,
  readOne,
  readSmallInteger,
  readTime,
  sequenceOf,
  type DerNode,
} from './der.js';
import { decodeGeneralNames, type DecodedGeneralNames } from './names.js';
import { publicKeyFromSpki } from './keycache.js';

export interface Extension {
  oid: string;
  critical: boolean;
  /** The extnValue OCTET STRING's content (the extension's own DER). */
  value: Uint8Array;
}

/** A certificate read field by field, strictly, keeping the raw DER of each part. */
export interface ParsedCertificate {
  der: Uint8Array;
  tbs: Uint8Array;
  version: number;
  serial: Uint8Array;
  tbsSignatureAlgorithm: DerNode;
  issuer: DerNode;
  notBefore: Date;
  notAfter: Date;
  notBeforeGeneralized: boolean;
  notAfterGeneralized: boolean;
  subject: DerNode;
  spki: DerNode;
  extensions: Extension[];
  signatureAlgorithm: DerNode;
  signature: Uint8Array;
}

/** Parses a certificate strictly (throws DerError). Extension values are not decoded here. */
export function parseCertificate(der: Uint8Array): ParsedCertificate {
  const [tbsNode, sigAlg, sigValue, extra] = sequenceOf(readOne(der), 'Certificate');
  if (extra !== undefined) throw new DerError('Certificate: too many elements');
  const tbsFields = sequenceOf(tbsNode, 'TBSCertificate');
  let i = 0;
  let version = 1;
  if (tbsFields[0]?.tag === 0xa0) {
    const [v, more] = children(tbsFields[0]);
    if (more !== undefined) throw new DerError('version: bad shape');
    version = readSmallInteger(v, 'version') + 1;
    if (version === 1) throw new DerError('version: v1 must be omitted in DER');
    i = 1;
  }
  const serial = readIntegerContent(tbsFields[i++], 'serialNumber');
  const tbsSignatureAlgorithm = expectTag(tbsFields[i++], TAG.SEQUENCE, 'signature');
  const issuer = expectTag(tbsFields[i++], TAG.SEQUENCE, 'issuer');
  const [nb, na, moreTimes] = sequenceOf(tbsFields[i++], 'validity');
  if (moreTimes !== undefined) throw new DerError('validity: too many elements');
  const notBefore = readTime(nb, 'notBefore');
  const notAfter = readTime(na, 'notAfter');
  const subject = expectTag(tbsFields[i++], TAG.SEQUENCE, 'subject');
  const spki = expectTag(tbsFields[i++], TAG.SEQUENCE, 'subjectPublicKeyInfo');
  let extensions: Extension[] = [];
  for (; i < tbsFields.length; i++) {
    const f = tbsFields[i] as DerNode;
    if (f.tag === 0xa1 || f.tag === 0xa2 || f.tag === 0x81 || f.tag === 0x82)
      throw new DerError('unique identifiers are not used');
    if (f.tag !== 0xa3 || i !== tbsFields.length - 1) throw new DerError('TBSCertificate: unexpected element');
    if (version !== 3) throw new DerError('extensions need version 3');
    const [exts, more] = children(f);
    if (more !== undefined) throw new DerError('extensions: bad shape');
    extensions = sequenceOf(exts, 'Extensions').map(readExtension);
    if (extensions.length === 0) throw new DerError('Extensions: empty');
  }
  const { unusedBits, bytes: signature } = readBitString(sigValue, 'signatureValue');
  if (unusedBits !== 0) throw new DerError('signatureValue: unused bits');
  return {
    der,
    tbs: tbsNode?.bytes ?? new Uint8Array(),
    version,
    serial,
    tbsSignatureAlgorithm,
    issuer,
    notBefore: notBefore.date,
    notAfter: notAfter.date,
    notBeforeGeneralized: notBefore.generalized,
    notAfterGeneralized: notAfter.generalized,
    subject,
    spki,
    extensions,
    signatureAlgorithm: expectTag(sigAlg, TAG.SEQUENCE, 'signatureAlgorithm'),
    signature,
  };
}

export function readExtension(node: DerNode): Extension {
  const fields = sequenceOf(node, 'Extension');
  const id = readOid(fields[0], 'extnID');
  let critical = false;
  let at = 1;
  if (fields[1]?.tag === TAG.BOOLEAN) {
    critical = readBoolean(fields[1], 'critical');
    if (!critical) throw new DerError('critical FALSE must be omitted in DER');
    at = 2;
  }
  const value = expectTag(fields[at], TAG.OCTET_STRING, 'extnValue');
  if (fields.length !== at + 1) throw new DerError('Extension: too many elements');
  return { oid: id, critical, value: value.value };
}

export function findExtension(cert: ParsedCertificate, id: string): Extension | undefined {
  return cert.extensions.find((e) => e.oid === id);
}

/** SHA-1 of the subjectPublicKey BIT STRING contents (RFC 5280 §4.2.1.2 method 1). */
export function keyIdentifier(spkiDer: Uint8Array | DerNode): Uint8Array {
  const node = spkiDer instanceof Uint8Array ? readOne(spkiDer) : spkiDer;
  const [, bits] = sequenceOf(node, 'SubjectPublicKeyInfo');
  const { bytes } = readBitString(bits, 'subjectPublicKey');
  return createHash('sha1').update(bytes).digest();
}

export function publicKeyOf(cert: ParsedCertificate): KeyObject {
  return publicKeyFromSpki(cert.spki.bytes);
}

// ---------------------------------------------------------------------------------------------
// Extension values

export function decodeBasicConstraints(value: Uint8Array): { ca: boolean; pathLen?: number } {
  const fields = sequenceOf(readOne(value), 'BasicConstraints');
  let at = 0;
  let ca = false;
  if (fields[0]?.tag === TAG.BOOLEAN) {
    ca = readBoolean(fields[0], 'cA');
    if (!ca) throw new DerError('cA FALSE must be omitted in DER');
    at = 1;
  }
  if (fields[at] !== undefined) {
    const pathLen = readSmallInteger(fields[at], 'pathLenConstraint');
    if (fields.length !== at + 1) throw new DerError('BasicConstraints: too many elements');
    return { ca, pathLen };
  }
  return { ca };
}

export const KEY_USAGE = {
  digitalSignature: 0,
  nonRepudiation: 1,
  keyEncipherment: 2,
  dataEncipherment: 3,
  keyAgreement: 4,
  keyCertSign: 5,
  cRLSign: 6,
  encipherOnly: 7,
  decipherOnly: 8,
} as const;

export type KeyUsageName = keyof typeof KEY_USAGE;

export function decodeKeyUsage(value: Uint8Array): KeyUsageName[] {
  const bits = readNamedBits(readOne(value), 'KeyUsage');
  const names = Object.keys(KEY_USAGE) as KeyUsageName[];
  return bits.map((b) => {
    const name = names[b];
    if (name === undefined) throw new DerError('KeyUsage: unknown bit');
    return name;
  });
}

export function decodeExtKeyUsage(value: Uint8Array): string[] {
  const oids = sequenceOf(readOne(value), 'ExtKeyUsageSyntax').map((n) => readOid(n, 'KeyPurposeId'));
  if (oids.length === 0) throw new DerError('ExtKeyUsageSyntax: empty');
  return oids;
}

export function decodeSubjectKeyIdentifier(value: Uint8Array): Uint8Array {
  return expectTag(readOne(value), TAG.OCTET_STRING, 'SubjectKeyIdentifier').value;
}

/** The keyIdentifier of an AuthorityKeyIdentifier (undefined when absent). */
export function decodeAuthorityKeyIdentifier(value: Uint8Array): Uint8Array | undefined {
  const fields = sequenceOf(readOne(value), 'AuthorityKeyIdentifier');
  const keyId = fields.find((f) => f.tag === 0x80);
  return keyId?.value;
}

export function decodeSubjectAltName(value: Uint8Array): DecodedGeneralNames {
  return decodeGeneralNames(readOne(value));
}
