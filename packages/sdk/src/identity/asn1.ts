import { DerError, readChildren, readSingleTlv, readTlv, type DerTlv } from '../pem/index.js';

/** Thrown by the certificate reader on any encoding problem; mapped to ERR_X509_MALFORMED. */
export class CertificateFormatError extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'CertificateFormatError';
  }
}

export function fail(reason: string): never {
  throw new CertificateFormatError(reason);
}

/** Wraps DER reader errors with the context being read. */
export function der<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof DerError) fail(`${what}: ${e.message}`);
    throw e;
  }
}

export function expectTag(tlv: DerTlv | undefined, tag: number, what: string): DerTlv {
  if (tlv === undefined) fail(`${what}: missing`);
  if (tlv.tag !== tag) fail(`${what}: unexpected tag 0x${tlv.tag.toString(16)}`);
  return tlv;
}

export function children(tlv: DerTlv, what: string): DerTlv[] {
  if ((tlv.tag & 0x20) === 0) fail(`${what}: not constructed`);
  return der(what, () => readChildren(tlv.value));
}

export function single(buf: Uint8Array, what: string): DerTlv {
  return der(what, () => readSingleTlv(buf));
}

export { readTlv };

/** Decodes an OBJECT IDENTIFIER's contents to dotted form, refusing non-minimal arcs. */
export function decodeOid(value: Uint8Array): string {
  if (value.length === 0) fail('OID: empty');
  const arcs: bigint[] = [];
  let current = 0n;
  let start = true;
  for (const byte of value) {
    if (start && byte === 0x80) fail('OID: non-minimal arc');
    current = (current << 7n) | BigInt(byte & 0x7f);
    start = false;
    if ((byte & 0x80) === 0) {
      arcs.push(current);
      current = 0n;
      start = true;
    }
  }
  if (!start) fail('OID: truncated arc');
  const first = arcs[0] ?? 0n;
  const head = first < 40n ? [0n, first] : first < 80n ? [1n, first - 40n] : [2n, first - 80n];
  return [...head, ...arcs.slice(1)].map(String).join('.');
}

/** An INTEGER's contents as a bigint, refusing empty and non-minimal encodings. */
export function decodeInteger(value: Uint8Array, what: string): bigint {
  if (value.length === 0) fail(`${what}: empty INTEGER`);
  const b0 = value[0] ?? 0;
  const b1 = value[1];
  if (b1 !== undefined && ((b0 === 0 && b1 < 0x80) || (b0 === 0xff && b1 >= 0x80))) {
    fail(`${what}: non-minimal INTEGER`);
  }
  let n = 0n;
  for (const byte of value) n = (n << 8n) | BigInt(byte);
  if (b0 >= 0x80) n -= 1n << BigInt(value.length * 8);
  return n;
}

function isAscii(bytes: Uint8Array): boolean {
  return bytes.every((b) => b < 0x80);
}

/** Decodes the string types used in names; undefined for types that are not strings. */
export function decodeString(tlv: DerTlv, what: string): string | undefined {
  const v = tlv.value;
  switch (tlv.tag) {
    case 0x0c: // UTF8String
      try {
        return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(v);
      } catch {
        return fail(`${what}: invalid UTF-8`);
      }
    case 0x12: // NumericString
    case 0x13: // PrintableString
    case 0x16: // IA5String
    case 0x1a: {
      // VisibleString
      if (!isAscii(v)) fail(`${what}: non-ASCII byte in an ASCII string type`);
      return Buffer.from(v).toString('latin1');
    }
    case 0x14: // TeletexString: read as Latin-1, as most software does
      return Buffer.from(v).toString('latin1');
    case 0x1e: {
      // BMPString (UCS-2, big-endian)
      if (v.length % 2 !== 0) fail(`${what}: odd BMPString length`);
      let s = '';
      for (let i = 0; i < v.length; i += 2) s += String.fromCharCode(((v[i] ?? 0) << 8) | (v[i + 1] ?? 0));
      return s;
    }
    case 0x1c: {
      // UniversalString (UCS-4, big-endian)
      if (v.length % 4 !== 0) fail(`${what}: bad UniversalString length`);
      let s = '';
      for (let i = 0; i < v.length; i += 4) {
        const cp = (((v[i] ?? 0) << 24) | ((v[i + 1] ?? 0) << 16) | ((v[i + 2] ?? 0) << 8) | (v[i + 3] ?? 0)) >>> 0;
        if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) fail(`${what}: invalid code point`);
        s += String.fromCodePoint(cp);
      }
      return s;
    }
    default:
      return undefined;
  }
}

/** Reads an IA5String-typed value (implicitly tagged in GeneralName), refusing non-ASCII bytes. */
export function ia5(value: Uint8Array, what: string): string {
  if (!isAscii(value)) fail(`${what}: non-ASCII byte`);
  return Buffer.from(value).toString('latin1');
}

/** Parses UTCTime (YYMMDDHHMMSSZ) or GeneralizedTime (YYYYMMDDHHMMSSZ), as RFC 5280 requires. */
export function decodeTime(tlv: DerTlv, what: string): Date {
  const s = Buffer.from(tlv.value).toString('latin1');
  let m: RegExpExecArray | null;
  let year: number;
  if (tlv.tag === 0x17) {
    m = /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(s);
    if (!m) fail(`${what}: UTCTime is not YYMMDDHHMMSSZ`);
    const yy = Number(m[1]);
    year = yy >= 50 ? 1900 + yy : 2000 + yy;
  } else if (tlv.tag === 0x18) {
    m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(s);
    if (!m) fail(`${what}: GeneralizedTime is not YYYYMMDDHHMMSSZ`);
    year = Number(m[1]);
  } else {
    return fail(`${what}: not a time`);
  }
  const [month, day, hour, minute, second] = [m[2], m[3], m[4], m[5], m[6]].map(Number) as [
    number,
    number,
    number,
    number,
    number,
  ];
  const d = new Date(0);
  d.setUTCFullYear(year, month - 1, day);
  d.setUTCHours(hour, minute, second, 0);
  if (
    month < 1 ||
    month > 12 ||
    d.getUTCDate() !== day ||
    d.getUTCMonth() !== month - 1 ||
    hour > 23 ||
    minute > 59 ||
    second > 59
  ) {
    fail(`${what}: invalid date`);
  }
  return d;
}
