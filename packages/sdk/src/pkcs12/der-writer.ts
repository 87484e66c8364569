/** A minimal DER writer: enough to build PKCS#12 structures (definite lengths, sorted SET OF). */

export type Der = Uint8Array;

function concat(parts: readonly Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts));
}

function lengthBytes(n: number): Uint8Array {
  if (n < 0x80) return Uint8Array.of(n);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Uint8Array.of(0x80 | bytes.length, ...bytes);
}

export function tlv(tag: number, ...content: readonly Uint8Array[]): Der {
  const body = concat(content);
  return concat([Uint8Array.of(tag), lengthBytes(body.length), body]);
}

export const sequence = (...items: readonly Der[]): Der => tlv(0x30, ...items);

/** SET OF: DER orders the elements by their encodings. */
export function setOf(...items: readonly Der[]): Der {
  const sorted = [...items].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  return tlv(0x31, ...sorted);
}

export const octetString = (bytes: Uint8Array): Der => tlv(0x04, bytes);
export const nullValue = (): Der => Uint8Array.of(0x05, 0x00);
/** [n] EXPLICIT (constructed, context-specific). */
export const explicit = (n: number, inner: Der): Der => tlv(0xa0 | n, inner);
/** [n] IMPLICIT on a primitive type (context-specific, primitive). */
export const implicitPrimitive = (n: number, bytes: Uint8Array): Der => tlv(0x80 | n, bytes);

/** A non-negative INTEGER. */
export function integer(n: number): Der {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError('integer out of range');
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  if (bytes.length === 0 || (bytes[0] ?? 0) >= 0x80) bytes.unshift(0);
  return tlv(0x02, Uint8Array.from(bytes));
}

export function oid(dotted: string): Der {
  const arcs = dotted.split('.').map((a) => BigInt(a));
  const [a0 = 0n, a1 = 0n, ...rest] = arcs;
  const out: number[] = [];
  for (const arc of [a0 * 40n + a1, ...rest]) {
    const chunk: number[] = [Number(arc & 0x7fn)];
    for (let v = arc >> 7n; v > 0n; v >>= 7n) chunk.unshift(Number(v & 0x7fn) | 0x80);
    out.push(...chunk);
  }
  return tlv(0x06, Uint8Array.from(out));
}

/** BMPString (UTF-16 big-endian), as PKCS#12 friendlyName requires. */
export function bmpString(s: string): Der {
  const out = Buffer.alloc(s.length * 2);
  for (let i = 0; i < s.length; i++) out.writeUInt16BE(s.charCodeAt(i), i * 2);
  return tlv(0x1e, out);
}
