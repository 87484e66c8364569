/**
 * A small DER writer and a strict DER reader, enough for X.509 certificates and PKCS#10 requests.
 * The writer always produces canonical DER. The reader refuses what DER forbids: indefinite or
 * non-minimal lengths, high tag numbers, trailing bytes; its value decoders refuse non-minimal
 * INTEGERs, BOOLEANs other than 0x00/0xFF and BIT STRINGs with non-zero padding.
 */

/** Thrown by the reader; callers turn it into the MutualError of their context. */
export class DerError extends Error {
  override readonly name = 'DerError';
}

// ---------------------------------------------------------------------------------------------
// Writer

export const TAG = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  ENUMERATED: 0x0a,
  UTF8_STRING: 0x0c,
  PRINTABLE_STRING: 0x13,
  T61_STRING: 0x14,
  IA5_STRING: 0x16,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  UNIVERSAL_STRING: 0x1c,
  BMP_STRING: 0x1e,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const;

const textEncoder = new TextEncoder();

function lengthBytes(length: number): number[] {
  if (length < 0x80) return [length];
  const out: number[] = [];
  for (let n = length; n > 0; n = Math.floor(n / 256)) out.unshift(n & 0xff);
  return [0x80 | out.length, ...out];
}

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  let total = 0;
  for (const p of parts) total += p.length;
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** One TLV with the given identifier octet (class, constructed bit and tag number < 31). */
export function tlv(tag: number, content: Uint8Array | readonly Uint8Array[]): Uint8Array {
  const body = content instanceof Uint8Array ? content : concat(content);
  const header = [tag, ...lengthBytes(body.length)];
  const out = new Uint8Array(header.length + body.length);
  out.set(header, 0);
  out.set(body, header.length);
  return out;
}

export const sequence = (items: readonly Uint8Array[]): Uint8Array => tlv(TAG.SEQUENCE, items);

/** SET OF: DER sorts the encodings of the elements. */
export function setOf(items: readonly Uint8Array[]): Uint8Array {
  return tlv(TAG.SET, [...items].sort(compareBytes));
}

export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && compareBytes(a, b) === 0;
}

export const boolean = (value: boolean): Uint8Array => tlv(TAG.BOOLEAN, Uint8Array.of(value ? 0xff : 0x00));
export const nullValue = (): Uint8Array => Uint8Array.of(TAG.NULL, 0);

/** INTEGER from a non-negative safe integer. */
export function integer(value: number): Uint8Array {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError('integer: non-negative safe integer only');
  const bytes: number[] = [];
  let n = value;
  do {
    bytes.unshift(n & 0xff);
    n = Math.floor(n / 256);
  } while (n > 0);
  if ((bytes[0] ?? 0) & 0x80) bytes.unshift(0);
  return tlv(TAG.INTEGER, Uint8Array.from(bytes));
}

/** Minimal two's-complement content octets of a non-negative bigint. */
export function bigintContent(value: bigint): Uint8Array {
  if (value < 0n) throw new RangeError('bigintContent: non-negative values only');
  let hex = value.toString(16);
  if (hex.length % 2 === 1) hex = `0${hex}`;
  if (parseInt(hex.slice(0, 2), 16) & 0x80) hex = `00${hex}`;
  return Uint8Array.from(Buffer.from(hex, 'hex'));
}

/** The value of non-negative INTEGER content octets (callers check the sign and minimality). */
export const contentBigint = (content: Uint8Array): bigint =>
  content.length === 0 ? 0n : BigInt(`0x${Buffer.from(content).toString('hex')}`);

/** ENUMERATED from a small non-negative number. */
export function enumerated(value: number): Uint8Array {
  const int = integer(value);
  int[0] = TAG.ENUMERATED;
  return int;
}

/** INTEGER from its content octets, which must already be minimal two's complement. */
export function integerFromContent(content: Uint8Array): Uint8Array {
  checkIntegerContent(content);
  return tlv(TAG.INTEGER, content);
}

const oidCache = new Map<string, Uint8Array>();

/** OBJECT IDENTIFIER from dotted form. */
export function oid(dotted: string): Uint8Array {
  const cached = oidCache.get(dotted);
  if (cached) return cached;
  const arcs = dotted.split('.').map((s) => {
    if (!/^(0|[1-9][0-9]*)$/.test(s)) throw new RangeError(`oid: bad arc in ${dotted}`);
    return Number(s);
  });
  const [a, b, ...rest] = arcs;
  if (a === undefined || b === undefined || a > 2 || (a < 2 && b > 39)) throw new RangeError(`oid: bad ${dotted}`);
  const out: number[] = [];
  for (const arc of [a * 40 + b, ...rest]) {
    if (!Number.isSafeInteger(arc)) throw new RangeError(`oid: arc too large in ${dotted}`);
    const chunk: number[] = [arc & 0x7f];
    for (let n = Math.floor(arc / 128); n > 0; n = Math.floor(n / 128)) chunk.unshift(0x80 | (n & 0x7f));
    out.push(...chunk);
  }
  const encoded = tlv(TAG.OID, Uint8Array.from(out));
  oidCache.set(dotted, encoded);
  return encoded;
}

/** BIT STRING holding whole octets (unused bits = 0). */
export const bitString = (bytes: Uint8Array): Uint8Array => tlv(TAG.BIT_STRING, [Uint8Array.of(0), bytes]);

/**
 * BIT STRING of a NamedBitList (bit 0 is the most significant bit of the first octet).
 * DER drops trailing zero bits, so the encoding is as short as the highest set bit allows.
 */
export function namedBits(bits: readonly number[]): Uint8Array {
  if (bits.length === 0) return tlv(TAG.BIT_STRING, Uint8Array.of(0));
  const highest = Math.max(...bits);
  const octets = new Uint8Array(Math.floor(highest / 8) + 1);
  for (const bit of bits) {
    const i = Math.floor(bit / 8);
    octets[i] = (octets[i] ?? 0) | (0x80 >> (bit % 8));
  }
  const unused = 7 - (highest % 8);
  return tlv(TAG.BIT_STRING, [Uint8Array.of(unused), octets]);
}

export const octetString = (bytes: Uint8Array): Uint8Array => tlv(TAG.OCTET_STRING, bytes);
export const utf8String = (s: string): Uint8Array => tlv(TAG.UTF8_STRING, textEncoder.encode(s));
export const printableString = (s: string): Uint8Array => {
  if (!/^[A-Za-z0-9 '()+,\-./:=?]*$/.test(s)) throw new RangeError('printableString: character outside the set');
  return tlv(TAG.PRINTABLE_STRING, textEncoder.encode(s));
};
export const ia5String = (s: string): Uint8Array => {
  // Callers validate their names; this only guards the type.
  // eslint-disable-next-line no-control-regex
  if (!/^[\x00-\x7f]*$/.test(s)) throw new RangeError('ia5String: non-ASCII character');
  return tlv(TAG.IA5_STRING, textEncoder.encode(s));
};

/** [n] EXPLICIT: a constructed context tag around one encoding. */
export const explicit = (n: number, inner: Uint8Array | readonly Uint8Array[]): Uint8Array => tlv(0xa0 | n, inner);
/** [n] IMPLICIT over primitive content. */
export const implicitPrimitive = (n: number, content: Uint8Array): Uint8Array => tlv(0x80 | n, content);
/** [n] IMPLICIT over constructed content (for example a SEQUENCE's elements). */
export const implicitConstructed = (n: number, content: Uint8Array | readonly Uint8Array[]): Uint8Array =>
  tlv(0xa0 | n, content);

const pad = (n: number, width: number): string => String(n).padStart(width, '0');

/**
 * An X.509 Time (RFC 5280 §4.1.2.5): UTCTime through 2049, GeneralizedTime from 2050, always in
 * UTC with seconds and without fractions. Milliseconds must already be zero.
 */
export function x509Time(date: Date): Uint8Array {
  const ms = date.getTime();
  if (!Number.isFinite(ms) || ms % 1000 !== 0) throw new RangeError('x509Time: whole seconds only');
  const y = date.getUTCFullYear();
  if (y < 1950 || y > 9999) throw new RangeError('x509Time: year out of range');
  const rest =
    pad(date.getUTCMonth() + 1, 2) +
    pad(date.getUTCDate(), 2) +
    pad(date.getUTCHours(), 2) +
    pad(date.getUTCMinutes(), 2) +
    pad(date.getUTCSeconds(), 2) +
    'Z';
  return y < 2050
    ? tlv(TAG.UTC_TIME, textEncoder.encode(pad(y % 100, 2) + rest))
    : tlv(TAG.GENERALIZED_TIME, textEncoder.encode(pad(y, 4) + rest));
}

/** A GeneralizedTime in the RFC 5280 profile (YYYYMMDDHHMMSSZ), as OCSP writes every time. */
export function generalizedTime(date: Date): Uint8Array {
  const ms = date.getTime();
  if (!Number.isFinite(ms) || ms % 1000 !== 0) throw new RangeError('generalizedTime: whole seconds only');
  const y = date.getUTCFullYear();
  if (y < 1950 || y > 9999) throw new RangeError('generalizedTime: year out of range');
  return tlv(
    TAG.GENERALIZED_TIME,
    textEncoder.encode(
      pad(y, 4) +
        pad(date.getUTCMonth() + 1, 2) +
        pad(date.getUTCDate(), 2) +
        pad(date.getUTCHours(), 2) +
        pad(date.getUTCMinutes(), 2) +
        pad(date.getUTCSeconds(), 2) +
        'Z',
    ),
  );
}

// ---------------------------------------------------------------------------------------------
// Reader

export interface DerNode {
  /** The identifier octet: class, constructed bit and tag number. */
  readonly tag: number;
  readonly constructed: boolean;
  /** The whole TLV. */
  readonly bytes: Uint8Array;
  /** The content octets. */
  readonly value: Uint8Array;
  /** Offset of the TLV in the buffer it was read from. */
  readonly offset: number;
}

/** Reads one TLV at `offset` of `buf`, strictly. */
export function readNode(buf: Uint8Array, offset = 0): DerNode {
  const tag = buf[offset];
  if (tag === undefined) throw new DerError('truncated: no tag');
  if ((tag & 0x1f) === 0x1f) throw new DerError('high tag numbers are not used here');
  const first = buf[offset + 1];
  if (first === undefined) throw new DerError('truncated: no length');
  let length: number;
  let header: number;
  if (first < 0x80) {
    length = first;
    header = 2;
  } else {
    const n = first & 0x7f;
    if (n === 0) throw new DerError('indefinite length is not DER');
    if (n > 4) throw new DerError('length too large');
    if (offset + 2 + n > buf.length) throw new DerError('truncated: length');
    if (buf[offset + 2] === 0) throw new DerError('non-minimal length');
    length = 0;
    for (let i = 0; i < n; i++) length = length * 256 + (buf[offset + 2 + i] ?? 0);
    if (length < 0x80) throw new DerError('non-minimal length');
    header = 2 + n;
  }
  const end = offset + header + length;
  if (end > buf.length) throw new DerError('truncated: content');
  return {
    tag,
    constructed: (tag & 0x20) !== 0,
    bytes: buf.subarray(offset, end),
    value: buf.subarray(offset + header, end),
    offset,
  };
}

/** Reads a buffer that must hold exactly one TLV. */
export function readOne(buf: Uint8Array): DerNode {
  const node = readNode(buf, 0);
  if (node.bytes.length !== buf.length) throw new DerError('trailing bytes after the DER value');
  return node;
}

/** The elements inside a constructed node. */
export function children(node: DerNode): DerNode[] {
  if (!node.constructed) throw new DerError('expected a constructed value');
  const out: DerNode[] = [];
  let at = 0;
  while (at < node.value.length) {
    const child = readNode(node.value, at);
    out.push(child);
    at += child.bytes.length;
  }
  return out;
}

/** Reads a node and checks its tag. */
export function expectTag(node: DerNode | undefined, tag: number, what: string): DerNode {
  if (node === undefined) throw new DerError(`${what}: missing`);
  if (node.tag !== tag)
    throw new DerError(`${what}: expected tag 0x${tag.toString(16)}, got 0x${node.tag.toString(16)}`);
  return node;
}

/** A SEQUENCE's elements, checking the tag. */
export function sequenceOf(node: DerNode | undefined, what: string): DerNode[] {
  return children(expectTag(node, TAG.SEQUENCE, what));
}

export function checkIntegerContent(content: Uint8Array): void {
  if (content.length === 0) throw new DerError('empty INTEGER');
  const [a, b] = content;
  if (content.length > 1 && ((a === 0x00 && ((b ?? 0) & 0x80) === 0) || (a === 0xff && ((b ?? 0) & 0x80) !== 0)))
    throw new DerError('non-minimal INTEGER');
}

/** INTEGER content octets (minimal two's complement). */
export function readIntegerContent(node: DerNode | undefined, what: string): Uint8Array {
  const n = expectTag(node, TAG.INTEGER, what);
  checkIntegerContent(n.value);
  return n.value;
}

/** A small non-negative INTEGER as a number. */
export function readSmallInteger(node: DerNode | undefined, what: string): number {
  const content = readIntegerContent(node, what);
  if (((content[0] ?? 0) & 0x80) !== 0) throw new DerError(`${what}: negative`);
  if (content.length > 6) throw new DerError(`${what}: too large`);
  let n = 0;
  for (const b of content) n = n * 256 + b;
  return n;
}

export function readBoolean(node: DerNode | undefined, what: string): boolean {
  const n = expectTag(node, TAG.BOOLEAN, what);
  if (n.value.length !== 1 || (n.value[0] !== 0x00 && n.value[0] !== 0xff)) throw new DerError(`${what}: not DER`);
  return n.value[0] === 0xff;
}

/** OBJECT IDENTIFIER content → dotted form, refusing non-minimal sub-identifiers. */
export function decodeOid(content: Uint8Array): string {
  if (content.length === 0) throw new DerError('empty OID');
  const arcs: number[] = [];
  let value = 0;
  let fresh = true;
  for (const byte of content) {
    if (fresh && byte === 0x80) throw new DerError('non-minimal OID sub-identifier');
    value = value * 128 + (byte & 0x7f);
    if (!Number.isSafeInteger(value)) throw new DerError('OID arc too large');
    fresh = (byte & 0x80) === 0;
    if (fresh) {
      arcs.push(value);
      value = 0;
    }
  }
  if (!fresh) throw new DerError('truncated OID');
  const head = arcs[0] ?? 0;
  const [a, b] = head < 40 ? [0, head] : head < 80 ? [1, head - 40] : [2, head - 80];
  return [a, b, ...arcs.slice(1)].join('.');
}

export function readOid(node: DerNode | undefined, what: string): string {
  return decodeOid(expectTag(node, TAG.OID, what).value);
}

/** BIT STRING → unused-bit count and octets; padding bits must be zero. */
export function readBitString(node: DerNode | undefined, what: string): { unusedBits: number; bytes: Uint8Array } {
  const n = expectTag(node, TAG.BIT_STRING, what);
  const unusedBits = n.value[0];
  if (unusedBits === undefined || unusedBits > 7) throw new DerError(`${what}: bad unused-bits octet`);
  const bytes = n.value.subarray(1);
  if (bytes.length === 0 && unusedBits !== 0) throw new DerError(`${what}: bad unused-bits octet`);
  const last = bytes[bytes.length - 1];
  if (last !== undefined && (last & ((1 << unusedBits) - 1)) !== 0) throw new DerError(`${what}: non-zero padding`);
  return { unusedBits, bytes };
}

/** The set bit numbers of a NamedBitList BIT STRING, refusing trailing zero bits (not DER). */
export function readNamedBits(node: DerNode | undefined, what: string): number[] {
  const { unusedBits, bytes } = readBitString(node, what);
  const last = bytes[bytes.length - 1];
  if (last !== undefined && (last & (1 << unusedBits)) === 0) throw new DerError(`${what}: trailing zero bits`);
  const bits: number[] = [];
  bytes.forEach((byte, i) => {
    for (let j = 0; j < 8; j++) if (byte & (0x80 >> j)) bits.push(i * 8 + j);
  });
  return bits;
}

const UTC_RE = /^([0-9]{2})([0-9]{2})([0-9]{2})([0-9]{2})([0-9]{2})([0-9]{2})Z$/;
const GEN_RE = /^([0-9]{4})([0-9]{2})([0-9]{2})([0-9]{2})([0-9]{2})([0-9]{2})Z$/;

/** An X.509 Time in the RFC 5280 profile: UTCTime or GeneralizedTime, seconds, Z, no fractions. */
export function readTime(node: DerNode | undefined, what: string): { date: Date; generalized: boolean } {
  if (node === undefined) throw new DerError(`${what}: missing`);
  if (node.value.length > 15) throw new DerError(`${what}: not an RFC 5280 time`);
  const text = String.fromCharCode(...node.value);
  let m: RegExpExecArray | null;
  let year: number;
  if (node.tag === TAG.UTC_TIME && (m = UTC_RE.exec(text))) {
    const yy = Number(m[1]);
    year = yy >= 50 ? 1900 + yy : 2000 + yy;
  } else if (node.tag === TAG.GENERALIZED_TIME && (m = GEN_RE.exec(text))) {
    year = Number(m[1]);
  } else {
    throw new DerError(`${what}: not an RFC 5280 time`);
  }
  const [mo, d, h, mi, s] = [m[2], m[3], m[4], m[5], m[6]].map(Number) as [number, number, number, number, number];
  const ms = Date.UTC(year, mo - 1, d, h, mi, s);
  const date = new Date(ms);
  if (
    date.getUTCFullYear() !== year ||
    date.getUTCMonth() !== mo - 1 ||
    date.getUTCDate() !== d ||
    date.getUTCHours() !== h ||
    date.getUTCMinutes() !== mi ||
    date.getUTCSeconds() !== s
  )
    throw new DerError(`${what}: impossible date`);
  return { date, generalized: node.tag === TAG.GENERALIZED_TIME };
}

/**
 * Walks a whole tree, checking every constructed universal/context value parses strictly.
 * Primitive values are not decoded here (their decoders check them where they are used).
 */
export function checkTree(node: DerNode, depth = 0): void {
  if (depth > 32) throw new DerError('nesting too deep');
  if (node.constructed) for (const c of children(node)) checkTree(c, depth + 1);
}
