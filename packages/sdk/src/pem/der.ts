/**
 * A strict DER reader: single-byte tags, definite minimal lengths, no trailing bytes unless the
 * caller asks for them. It reads only; nothing here allocates copies of the input.
 */

/** One tag-length-value read from a buffer. `der` is the whole TLV, `value` its contents (views, not copies). */
export interface DerTlv {
  /** The identifier octet (class, constructed bit and tag number; tags ≥ 31 are refused). */
  readonly tag: number;
  readonly der: Uint8Array;
  readonly value: Uint8Array;
}

/** Thrown by the DER reader; callers map it to their own MutualError code. */
export class DerError extends Error {
  constructor(reason: string) {
    super(`DER: ${reason}`);
    this.name = 'DerError';
  }
}

/** Reads the TLV that starts at `offset`. Returns it and the offset just after it. */
export function readTlv(buf: Uint8Array, offset = 0): { tlv: DerTlv; next: number } {
  if (offset >= buf.length) throw new DerError('truncated (no tag)');
  const tag = buf[offset] ?? 0;
  if ((tag & 0x1f) === 0x1f) throw new DerError('multi-byte tags are not supported');
  if (offset + 1 >= buf.length) throw new DerError('truncated (no length)');
  const first = buf[offset + 1] ?? 0;
  let length: number;
  let headerLength: number;
  if (first < 0x80) {
    length = first;
    headerLength = 2;
  } else if (first === 0x80) {
    throw new DerError('indefinite length is not DER');
  } else {
    const count = first & 0x7f;
    if (count > 4) throw new DerError('length too large');
    if (offset + 2 + count > buf.length) throw new DerError('truncated (length)');
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + (buf[offset + 2 + i] ?? 0);
    if (buf[offset + 2] === 0) throw new DerError('non-minimal length');
    if (length < 0x80) throw new DerError('non-minimal length');
    headerLength = 2 + count;
  }
  const end = offset + headerLength + length;
  if (end > buf.length) throw new DerError('truncated (value)');
  return {
    tlv: { tag, der: buf.subarray(offset, end), value: buf.subarray(offset + headerLength, end) },
    next: end,
  };
}

/** Reads exactly one TLV spanning the whole buffer (no trailing bytes). */
export function readSingleTlv(buf: Uint8Array, expectedTag?: number): DerTlv {
  const { tlv, next } = readTlv(buf, 0);
  if (next !== buf.length) throw new DerError('trailing bytes');
  if (expectedTag !== undefined && tlv.tag !== expectedTag) throw new DerError('unexpected tag');
  return tlv;
}

/** Reads all TLVs that make up a constructed value's contents. */
export function readChildren(value: Uint8Array): DerTlv[] {
  const out: DerTlv[] = [];
  let offset = 0;
  while (offset < value.length) {
    const { tlv, next } = readTlv(value, offset);
    out.push(tlv);
    offset = next;
  }
  return out;
}

/** True when `buf` is exactly one DER SEQUENCE (0x30) whose encoded length matches the buffer length. */
export function isSingleDerSequence(buf: Uint8Array): boolean {
  try {
    readSingleTlv(buf, 0x30);
    return true;
  } catch {
    return false;
  }
}
