/**
 * Strict X.509 v3 certificate parsing for the verifier. Structure that is not DER, or an
 * extension this module knows whose value does not parse, makes the certificate unusable
 * (`Malformed`); policy (criticality, name syntax, key strength) is judged later by the checks.
 */
import { createHash } from 'node:crypto';
import {
  Malformed,
  Reader,
  T,
  bytes,
  children,
  decBitString,
  decBool,
  decNamedBits,
  decOid,
  decSmallUint,
  decTime,
  dirString,
  hex,
  ia5,
  intBytes,
  single,
  whole,
  type Tlv,
} from './der.js';
import { OID } from './oids.js';

export interface AlgId {
  readonly oid: string;
  /** The parameters' whole TLV, or undefined when absent. */
  readonly params: Uint8Array | undefined;
  /** The whole AlgorithmIdentifier DER. */
  readonly der: Uint8Array;
}

export interface Attr {
  readonly oid: string;
  readonly tag: number;
  readonly value: Uint8Array;
  /** Decoded text for string types, undefined otherwise. */
  readonly text: string | undefined;
}

export interface Name {
  readonly der: Uint8Array;
  /** Hex of the DER: the key used to match issuer to subject (byte-exact, as Go and webpki do). */
  readonly key: string;
  readonly rdns: readonly (readonly Attr[])[];
}

export type GeneralName =
  | { readonly type: 'dns'; readonly value: string }
  | { readonly type: 'email'; readonly value: string }
  | { readonly type: 'uri'; readonly value: string }
  | { readonly type: 'ip'; readonly bytes: Uint8Array }
  | { readonly type: 'dn'; readonly name: Name }
  | { readonly type: 'other'; readonly tag: number };

export interface Extension {
  readonly oid: string;
  readonly critical: boolean;
  readonly value: Uint8Array;
}

export interface NameConstraints {
  readonly permitted: readonly GeneralName[] | undefined;
  readonly excluded: readonly GeneralName[] | undefined;
  /** Set when a subtree uses minimum/maximum, which RFC 5280 forbids. */
  readonly badSubtree: boolean;
}

export interface Cert {
  readonly der: Uint8Array;
  /** SHA-256 of the DER, hex. */
  readonly fingerprint: string;
  readonly tbs: Uint8Array;
  readonly version: number;
  readonly serial: Uint8Array;
  readonly tbsSigAlg: AlgId;
  readonly sigAlg: AlgId;
  readonly signature: Uint8Array;
  readonly issuer: Name;
  readonly subject: Name;
  readonly notBefore: number;
  readonly notAfter: number;
  readonly spki: Uint8Array;
  /** SHA-256 of the SubjectPublicKeyInfo DER, base64. */
  readonly spkiSha256: string;
  readonly keyAlg: AlgId;
  readonly keyBits: Uint8Array;
  readonly extensions: readonly Extension[];
  readonly duplicateExtension: string | undefined;
  readonly hasUniqueIds: boolean;
  readonly basicConstraints: { readonly ca: boolean; readonly pathLen: number | undefined } | undefined;
  /** KeyUsage bits, bit n = (keyUsage >> (15 - n)) & 1; undefined when absent. */
  readonly keyUsage: number | undefined;
  readonly extKeyUsage: readonly string[] | undefined;
  readonly subjectAltNames: readonly GeneralName[] | undefined;
  readonly nameConstraints: NameConstraints | undefined;
  readonly subjectKeyId: Uint8Array | undefined;
  readonly authorityKeyId:
    { readonly keyId: Uint8Array | undefined; readonly hasIssuer: boolean; readonly hasSerial: boolean } | undefined;
  readonly selfIssued: boolean;
}

export const KU = {
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

export function hasKu(bits: number, bit: number): boolean {
  return ((bits >> (15 - bit)) & 1) === 1;
}

export function parseAlgId(buf: Uint8Array, t: Tlv): AlgId {
  if (t.tag !== T.SEQUENCE) throw new Malformed('AlgorithmIdentifier');
  const r = Reader.of(buf, t);
  const oid = decOid(buf, r.next(T.OID));
  let params: Uint8Array | undefined;
  if (!r.atEnd()) params = whole(buf, r.next());
  r.done();
  return { oid, params, der: whole(buf, t) };
}

/** Most RDNs in a name, SAN entries or subtrees in one extension: more is refused before decoding. */
export const MAX_ENTRIES = 1024;

function capped(buf: Uint8Array, t: Tlv, what: string): Tlv[] {
  const list = children(buf, t);
  if (list.length > MAX_ENTRIES) throw new Malformed(`${what} has ${list.length} entries (limit ${MAX_ENTRIES})`);
  return list;
}

export function parseName(buf: Uint8Array, t: Tlv): Name {
  if (t.tag !== T.SEQUENCE) throw new Malformed('Name');
  const rdns: Attr[][] = [];
  for (const rdn of capped(buf, t, 'name')) {
    if (rdn.tag !== T.SET) throw new Malformed('RDN not a SET');
    const attrs: Attr[] = [];
    for (const atv of children(buf, rdn)) {
      if (atv.tag !== T.SEQUENCE) throw new Malformed('AttributeTypeAndValue');
      const r = Reader.of(buf, atv);
      const oid = decOid(buf, r.next(T.OID));
      const v = r.next();
      r.done();
      attrs.push({ oid, tag: v.tag, value: bytes(buf, v), text: dirString(buf, v) });
    }
    if (attrs.length === 0) throw new Malformed('empty RDN');
    rdns.push(attrs);
  }
  const der = whole(buf, t);
  return { der, key: hex(der), rdns };
}

function parseGeneralName(buf: Uint8Array, t: Tlv): GeneralName {
  switch (t.tag) {
    case 0x82:
      return { type: 'dns', value: ia5(buf, t) };
    case 0x81:
      return { type: 'email', value: ia5(buf, t) };
    case 0x86:
      return { type: 'uri', value: ia5(buf, t) };
    case 0x87:
      return { type: 'ip', bytes: bytes(buf, t) };
    case 0xa4: {
      const r = Reader.of(buf, t);
      const name = parseName(buf, r.next(T.SEQUENCE));
      r.done();
      return { type: 'dn', name };
    }
    case 0xa0: // otherName
    case 0xa3: // x400Address
    case 0xa5: // ediPartyName
    case 0x88: // registeredID
      return { type: 'other', tag: t.tag & 0x1f };
    default:
      throw new Malformed('GeneralName tag');
  }
}

function parseGeneralNames(buf: Uint8Array, t: Tlv): GeneralName[] {
  const out = capped(buf, t, 'GeneralNames').map((c) => parseGeneralName(buf, c));
  if (out.length === 0) throw new Malformed('empty GeneralNames');
  return out;
}

export function parseGeneralNamesDer(der: Uint8Array): GeneralName[] {
  return parseGeneralNames(der, single(der, T.SEQUENCE));
}

function parseSubtrees(buf: Uint8Array, t: Tlv, bad: { v: boolean }): GeneralName[] {
  const out: GeneralName[] = [];
  for (const st of capped(buf, t, 'GeneralSubtrees')) {
    if (st.tag !== T.SEQUENCE) throw new Malformed('GeneralSubtree');
    const r = Reader.of(buf, st);
    out.push(parseGeneralName(buf, r.next()));
    // minimum (DEFAULT 0) and maximum MUST be absent in RFC 5280 profiles.
    if (!r.atEnd()) {
      bad.v = true;
      while (!r.atEnd()) r.next();
    }
  }
  if (out.length === 0) throw new Malformed('empty GeneralSubtrees');
  return out;
}

function parseExtension(cert: Mutable, e: Extension): void {
  const buf = e.value;
  switch (e.oid) {
    case OID.basicConstraints: {
      const t = single(buf, T.SEQUENCE);
      const r = Reader.of(buf, t);
      let ca = false;
      const b = r.optional(T.BOOLEAN);
      if (b) {
        ca = decBool(buf, b);
        if (!ca) throw new Malformed('basicConstraints cA FALSE encoded (DER default)');
      }
      const p = r.optional(T.INTEGER);
      const pathLen = p ? decSmallUint(buf, p) : undefined;
      r.done();
      cert.basicConstraints = { ca, pathLen };
      return;
    }
    case OID.keyUsage:
      cert.keyUsage = decNamedBits(buf, single(buf, T.BIT_STRING));
      return;
    case OID.extKeyUsage: {
      const t = single(buf, T.SEQUENCE);
      cert.extKeyUsage = children(buf, t).map((c) => {
        if (c.tag !== T.OID) throw new Malformed('EKU entry');
        return decOid(buf, c);
      });
      return;
    }
    case OID.subjectAltName:
      cert.subjectAltNames = parseGeneralNames(buf, single(buf, T.SEQUENCE));
      return;
    case OID.nameConstraints: {
      const t = single(buf, T.SEQUENCE);
      const r = Reader.of(buf, t);
      const bad = { v: false };
      const p = r.optional(0xa0);
      const x = r.optional(0xa1);
      r.done();
      cert.nameConstraints = {
        permitted: p ? parseSubtrees(buf, p, bad) : undefined,
        excluded: x ? parseSubtrees(buf, x, bad) : undefined,
        badSubtree: bad.v,
      };
      return;
    }
    case OID.subjectKeyIdentifier:
      cert.subjectKeyId = bytes(buf, single(buf, T.OCTET_STRING));
      return;
    case OID.authorityKeyIdentifier: {
      const t = single(buf, T.SEQUENCE);
      const r = Reader.of(buf, t);
      const k = r.optional(0x80);
      const i = r.optional(0xa1);
      if (i) parseGeneralNames(buf, i);
      const s = r.optional(0x82);
      r.done();
      cert.authorityKeyId = { keyId: k ? bytes(buf, k) : undefined, hasIssuer: !!i, hasSerial: !!s };
      return;
    }
    default:
      return;
  }
}

type Mutable = { -readonly [K in keyof Cert]: Cert[K] };

/** Parses one DER certificate. Throws `Malformed` on anything not strictly DER or structurally wrong. */
export function parseCertificate(der: Uint8Array): Cert {
  const buf = der;
  const outer = single(buf, T.SEQUENCE);
  const r = Reader.of(buf, outer);
  const tbsT = r.next(T.SEQUENCE);
  const sigAlg = parseAlgId(buf, r.next(T.SEQUENCE));
  const sigBits = decBitString(buf, r.next(T.BIT_STRING));
  r.done();
  if (sigBits.unused !== 0) throw new Malformed('signature BIT STRING has unused bits');

  const tr = Reader.of(buf, tbsT);
  let version = 1;
  const v = tr.optional(0xa0);
  if (v) {
    const vr = Reader.of(buf, v);
    version = decSmallUint(buf, vr.next(T.INTEGER)) + 1;
    vr.done();
    if (version === 1) throw new Malformed('version v1 encoded explicitly (DER default)');
    if (version > 3) throw new Malformed('unknown version');
  }
  const serial = intBytes(buf, tr.next(T.INTEGER));
  const tbsSigAlg = parseAlgId(buf, tr.next(T.SEQUENCE));
  const issuer = parseName(buf, tr.next(T.SEQUENCE));
  const validity = Reader.of(buf, tr.next(T.SEQUENCE));
  const nbT = validity.next();
  const naT = validity.next();
  validity.done();
  const notBefore = decTime(buf, nbT);
  const notAfter = decTime(buf, naT);
  const subject = parseName(buf, tr.next(T.SEQUENCE));
  const spkiT = tr.next(T.SEQUENCE);
  const sr = Reader.of(buf, spkiT);
  const keyAlg = parseAlgId(buf, sr.next(T.SEQUENCE));
  const keyBitString = decBitString(buf, sr.next(T.BIT_STRING));
  sr.done();
  if (keyBitString.unused !== 0) throw new Malformed('public key BIT STRING has unused bits');
  let hasUniqueIds = false;
  if (tr.optional(0x81)) hasUniqueIds = true;
  if (tr.optional(0x82)) hasUniqueIds = true;
  if (hasUniqueIds && version < 2) throw new Malformed('unique identifiers in a v1 certificate');
  const extensions: Extension[] = [];
  let duplicateExtension: string | undefined;
  const extT = tr.optional(0xa3);
  if (extT) {
    if (version !== 3) throw new Malformed('extensions in a certificate that is not v3');
    const er = Reader.of(buf, extT);
    const seq = er.next(T.SEQUENCE);
    er.done();
    const seen = new Set<string>();
    for (const e of children(buf, seq)) {
      const { oid, critical, value } = readExtension(buf, e);
      if (seen.has(oid)) duplicateExtension ??= oid;
      seen.add(oid);
      extensions.push({ oid, critical, value });
    }
    if (extensions.length === 0) throw new Malformed('empty extensions');
  }
  tr.done();

  const spki = whole(buf, spkiT);
  const cert: Mutable = {
    der,
    fingerprint: createHash('sha256').update(der).digest('hex'),
    tbs: whole(buf, tbsT),
    version,
    serial,
    tbsSigAlg,
    sigAlg,
    signature: sigBits.data,
    issuer,
    subject,
    notBefore,
    notAfter,
    spki,
    spkiSha256: createHash('sha256').update(spki).digest('base64'),
    keyAlg,
    keyBits: keyBitString.data,
    extensions,
    duplicateExtension,
    hasUniqueIds,
    basicConstraints: undefined,
    keyUsage: undefined,
    extKeyUsage: undefined,
    subjectAltNames: undefined,
    nameConstraints: undefined,
    subjectKeyId: undefined,
    authorityKeyId: undefined,
    selfIssued: issuer.key === subject.key,
  };
  if (duplicateExtension === undefined) {
    for (const e of extensions) {
      try {
        parseExtension(cert, e);
      } catch (err) {
        if (err instanceof Malformed) throw new Malformed(`extension ${e.oid}: ${err.message}`);
        throw err;
      }
    }
  }
  return cert;
}

/** A short, readable subject for reasons (CN if any, else the first attribute, else "(empty)"). */
export function describeName(n: Name): string {
  const parts: string[] = [];
  let len = 0;
  outer: for (const rdn of n.rdns) {
    for (const a of rdn) {
      const label = ATTR_LABELS[a.oid] ?? a.oid;
      const part = `${label}=${a.text ?? '#' + hex(a.value)}`;
      parts.push(part);
      len += part.length + 2;
      if (len > 200) break outer;
    }
  }
  const s = parts.join(', ');
  return s.length === 0 ? '(empty)' : s.length > 200 ? s.slice(0, 197) + '...' : s;
}

const ATTR_LABELS: Readonly<Record<string, string>> = {
  '2.5.4.3': 'CN',
  '2.5.4.6': 'C',
  '2.5.4.7': 'L',
  '2.5.4.8': 'ST',
  '2.5.4.10': 'O',
  '2.5.4.11': 'OU',
  '2.5.4.5': 'serialNumber',
  '0.9.2342.19200300.100.1.25': 'DC',
  '1.2.840.113549.1.9.1': 'emailAddress',
};

/** One Extension (certificate or CRL): OID, criticality (DEFAULT FALSE must not be encoded) and value. */
export function readExtension(
  buf: Uint8Array,
  e: Parameters<typeof Reader.of>[1],
): { oid: string; critical: boolean; value: Uint8Array } {
  if (e.tag !== T.SEQUENCE) throw new Malformed('Extension');
  const r = Reader.of(buf, e);
  const oid = decOid(buf, r.next(T.OID));
  let critical = false;
  const c = r.optional(T.BOOLEAN);
  if (c) {
    critical = decBool(buf, c);
    if (!critical) throw new Malformed('critical FALSE encoded (DER default)');
  }
  const value = bytes(buf, r.next(T.OCTET_STRING));
  r.done();
  return { oid, critical, value };
}
