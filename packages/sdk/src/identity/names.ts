import type { DerTlv } from '../pem/index.js';
import { children, decodeOid, decodeString, expectTag, fail } from './asn1.js';

/** Short names of RFC 4514 (plus a few everyone prints); other types are shown as dotted OIDs. */
const SHORT_NAMES: Readonly<Record<string, string>> = {
  '2.5.4.3': 'CN',
  '2.5.4.7': 'L',
  '2.5.4.8': 'ST',
  '2.5.4.10': 'O',
  '2.5.4.11': 'OU',
  '2.5.4.6': 'C',
  '2.5.4.9': 'STREET',
  '0.9.2342.19200300.100.1.25': 'DC',
  '0.9.2342.19200300.100.1.1': 'UID',
  '2.5.4.5': 'serialNumber',
  '2.5.4.4': 'SN',
  '2.5.4.42': 'GN',
  '2.5.4.12': 'title',
  '2.5.4.17': 'postalCode',
  '1.2.840.113549.1.9.1': 'emailAddress',
};

export const OID_COMMON_NAME = '2.5.4.3';

export interface NameAttribute {
  readonly oid: string;
  /** Decoded text, or undefined when the value is not a string type. */
  readonly text: string | undefined;
  /** The whole value TLV (used for the `#hex` form). */
  readonly valueDer: Uint8Array;
}

/** A parsed Name: RDNs in DER order, each a set of attributes. */
export type ParsedName = readonly (readonly NameAttribute[])[];

export function parseName(tlv: DerTlv, what: string): ParsedName {
  expectTag(tlv, 0x30, what);
  return children(tlv, what).map((rdn) => {
    expectTag(rdn, 0x31, `${what} RDN`);
    const atvs = children(rdn, `${what} RDN`);
    if (atvs.length === 0) fail(`${what}: empty RDN`);
    return atvs.map((atv) => {
      expectTag(atv, 0x30, `${what} attribute`);
      const [type, value, ...extra] = children(atv, `${what} attribute`);
      if (value === undefined || extra.length > 0) fail(`${what}: attribute is not (type, value)`);
      const oid = decodeOid(expectTag(type, 0x06, `${what} attribute type`).value);
      return { oid, text: decodeString(value, `${what} ${oid}`), valueDer: value.der };
    });
  });
}

/**
 * RFC 4514 string of a Name: RDNs in reverse DER order, joined by ','; multi-valued RDNs by '+'.
 * Values are escaped (`,+"\<>;`, leading '#' or space, trailing space) and control characters
 * are written as \XX so the result is safe to log and display. Display only — never compare it.
 */
export function nameToString(name: ParsedName): string {
  return [...name]
    .reverse()
    .map((rdn) =>
      rdn
        .map((a) => {
          const type = SHORT_NAMES[a.oid] ?? a.oid;
          const value = a.text === undefined ? `#${Buffer.from(a.valueDer).toString('hex')}` : escapeValue(a.text);
          return `${type}=${value}`;
        })
        .join('+'),
    )
    .join(',');
}

function hexEscape(ch: string): string {
  return Array.from(Buffer.from(ch, 'utf8'), (b) => `\\${b.toString(16).padStart(2, '0').toUpperCase()}`).join('');
}

/** Control characters, line separators and bidi overrides: written as \XX so a display cannot be spoofed. */
function unsafeForDisplay(cp: number): boolean {
  return (
    cp < 0x20 ||
    (cp >= 0x7f && cp <= 0x9f) ||
    cp === 0x200e ||
    cp === 0x200f ||
    (cp >= 0x2028 && cp <= 0x202e) ||
    (cp >= 0x2066 && cp <= 0x2069) ||
    cp === 0xfeff
  );
}

function escapeValue(v: string): string {
  const chars: string[] = [];
  for (const ch of v) chars.push(ch);
  let out = '';
  chars.forEach((ch, i) => {
    const cp = ch.codePointAt(0) ?? 0;
    if (unsafeForDisplay(cp)) {
      out += hexEscape(ch);
    } else if ('"+,;<>\\'.includes(ch)) {
      out += `\\${ch}`;
    } else if ((i === 0 && (ch === '#' || ch === ' ')) || (i === chars.length - 1 && ch === ' ')) {
      out += `\\${ch}`;
    } else {
      out += ch;
    }
  });
  return out;
}
