import { isValidDnsName, MutualError, spiffeIdProblem } from '@mutual/sdk';
import {
  DerError,
  TAG,
  children,
  expectTag,
  ia5String,
  implicitPrimitive,
  oid,
  printableString,
  readOid,
  sequence,
  setOf,
  utf8String,
  type DerNode,
} from './der.js';
import { OID } from './oids.js';

/** The names a certificate is for, by SAN type. */
export interface SubjectNames {
  dns: string[];
  ip: string[];
  uri: string[];
  email: string[];
}

/** The subject attributes mutual writes. Other attributes are never written. */
export interface DistinguishedName {
  commonName?: string;
  organization?: string;
  organizationalUnit?: string;
  country?: string;
}

export type NameType = keyof SubjectNames;

export const emptyNames = (): SubjectNames => ({ dns: [], ip: [], uri: [], email: [] });

export const countNames = (n: SubjectNames): number => n.dns.length + n.ip.length + n.uri.length + n.email.length;

const MAX_DNS = 253;
const MAX_URI = 2048;
const MAX_EMAIL = 254;
/** Upper bound of each DN attribute (RFC 5280 Appendix A: ub-common-name etc.). */
export const MAX_DN_ATTRIBUTE = 64;

function nameInvalid(type: NameType, name: string, reason: string): MutualError {
  return new MutualError('ERR_PKI_NAME_INVALID', {
    message: `Invalid ${type} name: ${reason}.`,
    details: { type, name: name.length > 256 ? `${name.slice(0, 256)}…` : name, reason },
  });
}

const LABEL_RE = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/**
 * A DNS name as mutual issues it: ASCII (IDNs as A-labels), lowercase, no trailing dot, labels of
 * 1–63 letters, digits and inner hyphens, at most 253 characters, a last label that is not all
 * digits (it would read as an IP address). A wildcard is the whole leftmost label `*` followed by
 * at least two labels (`*.example.com`; never `*`, `*.com`, `a*.x` or `*.*.x`).
 * Returns the reason it is invalid, or undefined.
 */
export function dnsNameProblem(name: string, allowWildcard: boolean): string | undefined {
  if (name.length === 0) return 'empty';
  if (name.length > MAX_DNS) return `longer than ${MAX_DNS} characters`;
  if (name.endsWith('.')) return 'trailing dot';
  const labels = name.split('.');
  let rest = labels;
  if (labels[0] === '*') {
    if (!allowWildcard) return 'wildcards are not allowed here';
    if (labels.length < 3) return 'a wildcard needs at least two labels after it';
    rest = labels.slice(1);
  }
  for (const label of rest) {
    if (label.length === 0) return 'empty label';
    if (label.includes('*')) return 'a wildcard may only be the whole leftmost label';
    if (label.length > 63) return 'label longer than 63 characters';
    if (!LABEL_RE.test(label)) return 'label has characters other than letters, digits and inner hyphens';
  }
  if (/^[0-9]+$/.test(rest[rest.length - 1] ?? '')) return 'the last label is all digits';
  // The shared grammar of sdk/identity must agree (it also refuses reserved `ab--` labels).
  if (!isValidDnsName(name, { allowWildcard })) return 'not a valid DNS name';
  return undefined;
}

/** IPv4 dotted quad (no leading zeros) or IPv6 text → 4 or 16 octets; undefined when invalid. */
export function parseIp(text: string): Uint8Array | undefined {
  if (/^[0-9.]+$/.test(text)) return parseIpv4(text);
  if (text.includes(':')) return parseIpv6(text);
  return undefined;
}

function parseIpv4(text: string): Uint8Array | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i] ?? '';
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    out[i] = n;
  }
  return out;
}

function parseIpv6(text: string): Uint8Array | undefined {
  if (!/^[0-9a-fA-F:.]+$/.test(text) || text.length > 45) return undefined;
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const groups = (s: string): number[] | undefined => {
    if (s === '') return [];
    const out: number[] = [];
    const parts = s.split(':');
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i] ?? '';
      if (i === parts.length - 1 && p.includes('.')) {
        const v4 = parseIpv4(p);
        if (!v4) return undefined;
        out.push(((v4[0] ?? 0) << 8) | (v4[1] ?? 0), ((v4[2] ?? 0) << 8) | (v4[3] ?? 0));
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(p)) return undefined;
        out.push(parseInt(p, 16));
      }
    }
    return out;
  };
  const head = groups(halves[0] ?? '');
  const tail = halves.length === 2 ? groups(halves[1] ?? '') : [];
  if (!head || !tail) return undefined;
  let all: number[];
  if (halves.length === 2) {
    const missing = 8 - head.length - tail.length;
    if (missing < 1) return undefined;
    all = [...head, ...new Array<number>(missing).fill(0), ...tail];
  } else {
    all = head;
  }
  if (all.length !== 8) return undefined;
  const out = new Uint8Array(16);
  all.forEach((g, i) => {
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & 0xff;
  });
  return out;
}

/** 4 or 16 octets → canonical text (dotted quad, or RFC 5952 lowercase compressed IPv6). */
export function formatIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return Array.from(bytes).join('.');
  const g: number[] = [];
  for (let i = 0; i < 16; i += 2) g.push(((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0));
  let bestAt = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      bestAt = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = g.map((x) => x.toString(16));
  if (bestAt < 0) return hex.join(':');
  return `${hex.slice(0, bestAt).join(':')}::${hex.slice(bestAt + bestLen).join(':')}`;
}

const URI_CHARS = /^[A-Za-z0-9\-._~:/?#[\]@!$&'()*+,;=%]+$/;
const SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*:/;

/** An absolute URI of printable ASCII that the WHATWG parser accepts; SPIFFE IDs strictly. */
export function uriProblem(uri: string): string | undefined {
  if (uri.length > MAX_URI) return `longer than ${MAX_URI} characters`;
  if (!URI_CHARS.test(uri)) return 'characters outside RFC 3986';
  if (!SCHEME.test(uri)) return 'not an absolute URI';
  if (/^spiffe:/i.test(uri)) {
    // The SPIFFE-ID grammar of sdk/identity: no case folding, no percent-encoding, no dot segments.
    const problem = spiffeIdProblem(uri);
    return problem === undefined ? undefined : `not a valid SPIFFE ID (${problem})`;
  }
  try {
    new URL(uri);
  } catch {
    return 'not a parseable URI';
  }
  return undefined;
}

const LOCAL_PART = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$/;

export function emailProblem(email: string): string | undefined {
  if (email.length > MAX_EMAIL) return `longer than ${MAX_EMAIL} characters`;
  const at = email.lastIndexOf('@');
  if (at <= 0) return 'not local@domain';
  const local = email.slice(0, at);
  if (local.length > 64 || !LOCAL_PART.test(local)) return 'invalid local part';
  const domain = dnsNameProblem(email.slice(at + 1).toLowerCase(), false);
  return domain === undefined ? undefined : `domain: ${domain}`;
}

export interface ValidatedNames {
  /** Normalized text forms: DNS names lowercased, IPs canonical, email domains lowercased. */
  names: SubjectNames;
  /** The octets of each IP, in the order of names.ip. */
  ipBytes: Uint8Array[];
}

/**
 * Validates and normalizes names (ERR_PKI_NAME_INVALID names the first bad one). Duplicates are
 * dropped. A SPIFFE ID must be the certificate's only URI (X509-SVID).
 */
export function validateNames(input: SubjectNames): ValidatedNames {
  const names = emptyNames();
  const ipBytes: Uint8Array[] = [];
  const seen = new Set<string>();
  const add = (type: NameType, value: string): boolean => {
    const key = `${type}:${value}`;
    if (seen.has(key)) return false;
    seen.add(key);
    names[type].push(value);
    return true;
  };
  for (const raw of input.dns) {
    if (typeof raw !== 'string') throw nameInvalid('dns', String(raw), 'not a string');
    const name = raw.toLowerCase();
    const problem = dnsNameProblem(name, true);
    if (problem) throw nameInvalid('dns', raw, problem);
    add('dns', name);
  }
  for (const raw of input.ip) {
    if (typeof raw !== 'string') throw nameInvalid('ip', String(raw), 'not a string');
    const bytes = parseIp(raw);
    if (!bytes) throw nameInvalid('ip', raw, 'not an IPv4 or IPv6 address');
    if (add('ip', formatIp(bytes))) ipBytes.push(bytes);
  }
  for (const raw of input.uri) {
    if (typeof raw !== 'string') throw nameInvalid('uri', String(raw), 'not a string');
    const problem = uriProblem(raw);
    if (problem) throw nameInvalid('uri', raw, problem);
    add('uri', raw);
  }
  if (names.uri.length > 1 && names.uri.some((u) => u.startsWith('spiffe:'))) {
    throw nameInvalid('uri', names.uri.join(' '), 'a SPIFFE ID must be the only URI name of a certificate');
  }
  for (const raw of input.email) {
    if (typeof raw !== 'string') throw nameInvalid('email', String(raw), 'not a string');
    const problem = emailProblem(raw);
    if (problem) throw nameInvalid('email', raw, problem);
    const at = raw.lastIndexOf('@');
    add('email', `${raw.slice(0, at)}@${raw.slice(at + 1).toLowerCase()}`);
  }
  return { names, ipBytes };
}

/** The first name in the order dns, ip, uri, email. */
export function firstName(names: SubjectNames): string | undefined {
  return names.dns[0] ?? names.ip[0] ?? names.uri[0] ?? names.email[0];
}

/** GeneralNames (SEQUENCE OF GeneralName) for a subjectAltName, from validated names. */
export function encodeGeneralNames(v: ValidatedNames): Uint8Array {
  const items: Uint8Array[] = [];
  for (const n of v.names.email) items.push(implicitPrimitive(1, ia5Content(n)));
  for (const n of v.names.dns) items.push(implicitPrimitive(2, ia5Content(n)));
  for (const n of v.names.uri) items.push(implicitPrimitive(6, ia5Content(n)));
  for (const b of v.ipBytes) items.push(implicitPrimitive(7, b));
  return sequence(items);
}

/** The content octets of an IA5String (the string type check included). */
function ia5Content(s: string): Uint8Array {
  const tlvBytes = ia5String(s);
  return tlvBytes.subarray(tlvBytes.length - s.length);
}

export interface DecodedGeneralNames {
  names: SubjectNames;
  /** GeneralName choices mutual neither issues nor reads (otherName, directoryName…), by tag. */
  unsupported: number[];
}

/**
 * Decodes GeneralNames. IA5 names must be printable ASCII (a NUL, CR, LF, other control or
 * non-ASCII byte is an error: such names are injection attempts); IPs must be 4 or 16 octets.
 */
export function decodeGeneralNames(node: DerNode): DecodedGeneralNames {
  const names = emptyNames();
  const unsupported: number[] = [];
  const seq = children(expectTag(node, TAG.SEQUENCE, 'GeneralNames'));
  if (seq.length === 0) throw new DerError('GeneralNames: empty');
  for (const gn of seq) {
    switch (gn.tag) {
      case 0x81:
        names.email.push(printableAscii(gn.value, 'rfc822Name'));
        break;
      case 0x82:
        names.dns.push(printableAscii(gn.value, 'dNSName'));
        break;
      case 0x86:
        names.uri.push(printableAscii(gn.value, 'uniformResourceIdentifier'));
        break;
      case 0x87:
        if (gn.value.length !== 4 && gn.value.length !== 16) throw new DerError('iPAddress: not 4 or 16 octets');
        names.ip.push(formatIp(gn.value));
        break;
      case 0xa0: // otherName
      case 0xa3: // x400Address
      case 0xa4: // directoryName
      case 0xa5: // ediPartyName
      case 0x88: // registeredID
        unsupported.push(gn.tag);
        break;
      default:
        throw new DerError(`GeneralName: unknown tag 0x${gn.tag.toString(16)}`);
    }
  }
  return { names, unsupported };
}

function printableAscii(bytes: Uint8Array, what: string): string {
  if (bytes.length === 0) throw new DerError(`${what}: empty`);
  for (const b of bytes) {
    if (b < 0x20 || b > 0x7e) throw new DerError(`${what}: control or non-ASCII byte 0x${b.toString(16)}`);
  }
  return String.fromCharCode(...bytes);
}

// ---------------------------------------------------------------------------------------------
// Distinguished names

function subjectInvalid(message: string, field: string): MutualError {
  return new MutualError('ERR_PKI_SUBJECT_INVALID', { message, details: { field } });
}

function checkDnText(value: string, field: string): void {
  if (value.length === 0 || value.replace(/[\uD800-\uDBFF][\uDC00-\uDFFF]/g, '_').length > MAX_DN_ATTRIBUTE) {
    throw subjectInvalid(`The subject ${field} must have 1 to ${MAX_DN_ATTRIBUTE} characters.`, field);
  }
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f-\u009f]/.test(value)) {
    throw subjectInvalid(`The subject ${field} contains control characters.`, field);
  }
  if (value !== value.normalize('NFC')) throw subjectInvalid(`The subject ${field} is not in NFC form.`, field);
}

/** Encodes a Name: C, O, OU, CN, one attribute per RDN; an empty subject is an empty SEQUENCE. */
export function encodeName(dn: DistinguishedName): Uint8Array {
  const rdns: Uint8Array[] = [];
  const rdn = (type: string, value: Uint8Array): void => {
    rdns.push(setOf([sequence([oid(type), value])]));
  };
  if (dn.country !== undefined) {
    if (!/^[A-Z]{2}$/.test(dn.country))
      throw subjectInvalid('The subject country must be two uppercase letters (ISO 3166).', 'country');
    rdn(OID.countryName, printableString(dn.country));
  }
  if (dn.organization !== undefined) {
    checkDnText(dn.organization, 'organization');
    rdn(OID.organizationName, utf8String(dn.organization));
  }
  if (dn.organizationalUnit !== undefined) {
    checkDnText(dn.organizationalUnit, 'organizationalUnit');
    rdn(OID.organizationalUnitName, utf8String(dn.organizationalUnit));
  }
  if (dn.commonName !== undefined) {
    checkDnText(dn.commonName, 'commonName');
    rdn(OID.commonName, utf8String(dn.commonName));
  }
  return sequence(rdns);
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function decodeDirectoryString(node: DerNode): string {
  switch (node.tag) {
    case TAG.UTF8_STRING:
      return utf8.decode(node.value);
    case TAG.PRINTABLE_STRING:
    case TAG.IA5_STRING:
      for (const b of node.value) if (b > 0x7e) throw new DerError('non-ASCII byte in an ASCII string');
      return String.fromCharCode(...node.value);
    case TAG.T61_STRING:
      return String.fromCharCode(...node.value);
    case TAG.BMP_STRING: {
      if (node.value.length % 2 !== 0) throw new DerError('BMPString of odd length');
      let s = '';
      for (let i = 0; i < node.value.length; i += 2)
        s += String.fromCharCode(((node.value[i] ?? 0) << 8) | (node.value[i + 1] ?? 0));
      return s;
    }
    default:
      throw new DerError(`unsupported string type 0x${node.tag.toString(16)}`);
  }
}

/**
 * Reads the C, O, OU and CN of a Name (first value of each; other attributes are skipped).
 * Control characters in these values are an error.
 */
export function decodeName(node: DerNode): DistinguishedName {
  const out: DistinguishedName = {};
  for (const rdnSet of children(expectTag(node, TAG.SEQUENCE, 'Name'))) {
    const attrs = children(expectTag(rdnSet, TAG.SET, 'RelativeDistinguishedName'));
    if (attrs.length === 0) throw new DerError('empty RelativeDistinguishedName');
    for (const attr of attrs) {
      const [typeNode, valueNode, extra] = children(expectTag(attr, TAG.SEQUENCE, 'AttributeTypeAndValue'));
      if (extra !== undefined || valueNode === undefined) throw new DerError('AttributeTypeAndValue: bad shape');
      const type = readOid(typeNode, 'attribute type');
      const key =
        type === OID.commonName
          ? 'commonName'
          : type === OID.organizationName
            ? 'organization'
            : type === OID.organizationalUnitName
              ? 'organizationalUnit'
              : type === OID.countryName
                ? 'country'
                : undefined;
      if (key === undefined || out[key] !== undefined) continue;
      const value = decodeDirectoryString(valueNode);
      // eslint-disable-next-line no-control-regex
      if (/[\u0000-\u001f\u007f]/.test(value)) throw new DerError('control character in a name attribute');
      out[key] = value;
    }
  }
  return out;
}
