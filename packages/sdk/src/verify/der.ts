/**
 * The verifier's strict DER reader: offsets into one buffer, definite minimal lengths, one-byte
 * tags, and strict decoders for the primitive types X.509 uses. Anything BER-only, truncated or
 * non-canonical throws `Malformed`, which the parser turns into a reason code.
 */

export class Malformed extends Error {
  constructor(what: string) {
    super(what);
    this.name = 'Malformed';
  }
}

/** Tag octets used by X.509. */
export const T = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  ENUMERATED: 0x0a,
  UTF8: 0x0c,
  SEQUENCE: 0x30,
  SET: 0x31,
  PRINTABLE: 0x13,
  T61: 0x14,
  IA5: 0x16,
  UTC_TIME: 0x17,
  GEN_TIME: 0x18,
  UNIVERSAL_STRING: 0x1c,
  BMP: 0x1e,
} as const;

/** One TLV: `start` of the tag, `vs`..`end` the value. */
export interface Tlv {
  readonly tag: number;
  readonly start: number;
  readonly vs: number;
  readonly end: number;
}

export function readTlvAt(buf: Uint8Array, pos: number, limit: number): Tlv {
  if (pos + 2 > limit) throw new Malformed('truncated TLV');
  const tag = buf[pos] as number;
  if ((tag & 0x1f) === 0x1f) throw new Malformed('high tag number form');
  const first = buf[pos + 1] as number;
  let len: number;
  let vs: number;
  if (first < 0x80) {
    len = first;
    vs = pos + 2;
  } else {
    const n = first & 0x7f;
    if (n === 0) throw new Malformed('indefinite length');
    if (n > 4) throw new Malformed('length too long');
    if (pos + 2 + n > limit) throw new Malformed('truncated length');
    if (buf[pos + 2] === 0) throw new Malformed('non-minimal length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + (buf[pos + 2 + i] as number);
    if (len < 0x80) throw new Malformed('non-minimal length');
    vs = pos + 2 + n;
  }
  const end = vs + len;
  if (end > limit) throw new Malformed('truncated value');
  // Universal types have a fixed primitive/constructed form in DER.
  if ((tag & 0xc0) === 0) {
    const constructed = (tag & 0x20) !== 0;
    const num = tag & 0x1f;
    const mustConstruct = num === 0x10 || num === 0x11;
    if (constructed !== mustConstruct) throw new Malformed('wrong primitive/constructed form');
  }
  return { tag, start: pos, vs, end };
}

/** Sequential reader over the contents of one constructed TLV (or a whole buffer). */
export class Reader {
  pos: number;
  constructor(
    readonly buf: Uint8Array,
    start: number,
    readonly end: number,
  ) {
    this.pos = start;
  }

  static of(buf: Uint8Array, tlv: Tlv): Reader {
    return new Reader(buf, tlv.vs, tlv.end);
  }

  atEnd(): boolean {
    return this.pos >= this.end;
  }

  peekTag(): number | undefined {
    return this.pos < this.end ? this.buf[this.pos] : undefined;
  }

  next(expected?: number): Tlv {
    const t = readTlvAt(this.buf, this.pos, this.end);
    if (expected !== undefined && t.tag !== expected) {
      throw new Malformed(`expected tag 0x${expected.toString(16)}, got 0x${t.tag.toString(16)}`);
    }
    this.pos = t.end;
    return t;
  }

  optional(tag: number): Tlv | undefined {
    return this.peekTag() === tag ? this.next(tag) : undefined;
  }

  done(): void {
    if (this.pos !== this.end) throw new Malformed('trailing data');
  }
}

/** Parses a buffer holding exactly one TLV with the given tag. */
export function single(buf: Uint8Array, tag: number): Tlv {
  const t = readTlvAt(buf, 0, buf.length);
  if (t.tag !== tag) throw new Malformed('unexpected outer tag');
  if (t.end !== buf.length) throw new Malformed('trailing data');
  return t;
}

export function bytes(buf: Uint8Array, t: Tlv): Uint8Array {
  return buf.subarray(t.vs, t.end);
}

export function whole(buf: Uint8Array, t: Tlv): Uint8Array {
  return buf.subarray(t.start, t.end);
}

export function children(buf: Uint8Array, t: Tlv): Tlv[] {
  const r = Reader.of(buf, t);
  const out: Tlv[] = [];
  while (!r.atEnd()) out.push(r.next());
  return out;
}

export function decBool(buf: Uint8Array, t: Tlv): boolean {
  if (t.end - t.vs !== 1) throw new Malformed('BOOLEAN length');
  const v = buf[t.vs];
  if (v === 0xff) return true;
  if (v === 0x00) return false;
  throw new Malformed('BOOLEAN not DER');
}

/** Returns the INTEGER's two's-complement bytes after checking minimal encoding. */
export function intBytes(buf: Uint8Array, t: Tlv): Uint8Array {
  const len = t.end - t.vs;
  if (len === 0) throw new Malformed('empty INTEGER');
  if (len > 1) {
    const a = buf[t.vs] as number;
    const b = buf[t.vs + 1] as number;
    if ((a === 0x00 && b < 0x80) || (a === 0xff && b >= 0x80)) throw new Malformed('non-minimal INTEGER');
  }
  return buf.subarray(t.vs, t.end);
}

/** A small non-negative INTEGER (pathLen, version, salt length). */
export function decSmallUint(buf: Uint8Array, t: Tlv): number {
  const b = intBytes(buf, t);
  if (((b[0] as number) & 0x80) !== 0) throw new Malformed('negative INTEGER');
  if (b.length > 4) throw new Malformed('INTEGER too large');
  let v = 0;
  for (const x of b) v = v * 256 + x;
  return v;
}

export function decOid(buf: Uint8Array, t: Tlv): string {
  const len = t.end - t.vs;
  if (len === 0 || len > 64) throw new Malformed('OID length');
  const parts: number[] = [];
  let v = 0;
  let fresh = true;
  for (let i = t.vs; i < t.end; i++) {
    const c = buf[i] as number;
    if (fresh && c === 0x80) throw new Malformed('non-minimal OID arc');
    fresh = false;
    v = v * 128 + (c & 0x7f);
    if (v > Number.MAX_SAFE_INTEGER / 256) throw new Malformed('OID arc too large');
    if ((c & 0x80) === 0) {
      parts.push(v);
      v = 0;
      fresh = true;
    }
  }
  if (!fresh) throw new Malformed('truncated OID');
  const first = parts[0] as number;
  const head = first < 40 ? [0, first] : first < 80 ? [1, first - 40] : [2, first - 80];
  return [...head, ...parts.slice(1)].join('.');
}

/** BIT STRING contents; `unused` trailing bits must be zero (DER). */
export function decBitString(buf: Uint8Array, t: Tlv): { unused: number; data: Uint8Array } {
  const len = t.end - t.vs;
  if (len === 0) throw new Malformed('empty BIT STRING');
  const unused = buf[t.vs] as number;
  if (unused > 7) throw new Malformed('BIT STRING unused bits');
  if (len === 1 && unused !== 0) throw new Malformed('BIT STRING unused bits');
  if (unused > 0) {
    const last = buf[t.end - 1] as number;
    if ((last & ((1 << unused) - 1)) !== 0) throw new Malformed('BIT STRING padding not zero');
  }
  return { unused, data: buf.subarray(t.vs + 1, t.end) };
}

/** A named-bit-list BIT STRING (KeyUsage) as bit flags; bit 0 is the most significant. */
export function decNamedBits(buf: Uint8Array, t: Tlv): number {
  const { data } = decBitString(buf, t);
  if (data.length > 2) {
    for (let i = 2; i < data.length; i++) if (data[i] !== 0) throw new Malformed('unknown named bit set');
  }
  let v = 0;
  for (let i = 0; i < Math.min(2, data.length); i++) v |= (data[i] as number) << (8 * (1 - i));
  return v; // bit n is (v >> (15 - n)) & 1
}

function digits(s: string, from: number, n: number): number {
  let v = 0;
  for (let i = from; i < from + n; i++) {
    const c = s.charCodeAt(i) - 48;
    if (c < 0 || c > 9) throw new Malformed('time digit');
    v = v * 10 + c;
  }
  return v;
}

/** UTCTime (YYMMDDHHMMSSZ) or GeneralizedTime (YYYYMMDDHHMMSSZ), strict RFC 5280 forms. Returns seconds. */
export function decTime(buf: Uint8Array, t: Tlv): number {
  const s = ascii(buf, t);
  let year: number;
  let rest: number;
  if (t.tag === T.UTC_TIME) {
    if (s.length !== 13 || !s.endsWith('Z')) throw new Malformed('UTCTime form');
    const yy = digits(s, 0, 2);
    year = yy >= 50 ? 1900 + yy : 2000 + yy;
    rest = 2;
  } else if (t.tag === T.GEN_TIME) {
    if (s.length !== 15 || !s.endsWith('Z')) throw new Malformed('GeneralizedTime form');
    year = digits(s, 0, 4);
    rest = 4;
  } else {
    throw new Malformed('time tag');
  }
  const mon = digits(s, rest, 2);
  const day = digits(s, rest + 2, 2);
  const hh = digits(s, rest + 4, 2);
  const mm = digits(s, rest + 6, 2);
  const ss = digits(s, rest + 8, 2);
  if (mon < 1 || mon > 12 || day < 1 || hh > 23 || mm > 59 || ss > 59) throw new Malformed('time field range');
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  const dim = mon === 2 ? (leap ? 29 : 28) : DAYS_IN_MONTH[mon - 1];
  if (day > (dim as number)) throw new Malformed('day of month');
  if (year >= 100) return Date.UTC(year, mon - 1, day, hh, mm, ss) / 1000;
  const d = new Date(0);
  d.setUTCFullYear(year, mon - 1, day);
  d.setUTCHours(hh, mm, ss, 0);
  return d.getTime() / 1000;
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function latin1(buf: Uint8Array, t: Tlv): string {
  return Buffer.from(buf.buffer, buf.byteOffset + t.vs, t.end - t.vs).toString('latin1');
}

export function ascii(buf: Uint8Array, t: Tlv): string {
  for (let i = t.vs; i < t.end; i++) {
    const c = buf[i] as number;
    if (c > 0x7e || c < 0x20) throw new Malformed('non-printable ASCII');
  }
  return latin1(buf, t);
}

/** IA5String contents as a string; refuses NUL and bytes ≥ 0x80 (NUL-byte injection, UTF-8 smuggling). */
export function ia5(buf: Uint8Array, t: Tlv): string {
  for (let i = t.vs; i < t.end; i++) {
    const c = buf[i] as number;
    if (c === 0 || c > 0x7f) throw new Malformed('IA5String byte');
  }
  return latin1(buf, t);
}

const PRINTABLE = new Uint8Array(256);
for (const ch of "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 '()+,-./:=?")
  PRINTABLE[ch.charCodeAt(0)] = 1;

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** A DirectoryString-ish attribute value as text (for display and case-folded comparison). */
export function dirString(buf: Uint8Array, t: Tlv): string | undefined {
  const b = buf.subarray(t.vs, t.end);
  switch (t.tag) {
    case T.UTF8:
      try {
        return utf8.decode(b);
      } catch {
        throw new Malformed('UTF8String not UTF-8');
      }
    case T.PRINTABLE:
      for (const c of b) if (PRINTABLE[c] !== 1) throw new Malformed('PrintableString char');
      return latin1(buf, t);
    case T.IA5:
      return ia5(buf, t);
    case T.T61:
      return latin1(buf, t);
    case T.BMP: {
      if (b.length % 2) throw new Malformed('BMPString length');
      let s = '';
      for (let i = 0; i < b.length; i += 2) s += String.fromCharCode(((b[i] as number) << 8) | (b[i + 1] as number));
      return s;
    }
    case T.UNIVERSAL_STRING: {
      if (b.length % 4) throw new Malformed('UniversalString length');
      let s = '';
      for (let i = 0; i < b.length; i += 4) {
        const cp =
          (((b[i] as number) << 24) |
            ((b[i + 1] as number) << 16) |
            ((b[i + 2] as number) << 8) |
            (b[i + 3] as number)) >>>
          0;
        if (cp > 0x10ffff) throw new Malformed('UniversalString code point');
        s += String.fromCodePoint(cp);
      }
      return s;
    }
    default:
      return undefined;
  }
}

export function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
