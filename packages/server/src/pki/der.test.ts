// The DER writer writes canonical DER and the reader refuses everything DER forbids; asn1js and
// node's own decoders agree with both.
import * as asn1js from 'asn1js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  DerError,
  boolean,
  decodeOid,
  integer,
  namedBits,
  oid,
  readBoolean,
  readIntegerContent,
  readNamedBits,
  readNode,
  readOne,
  readOid,
  readTime,
  setOf,
  tlv,
  x509Time,
  integerFromContent,
  bitString,
  readBitString,
} from './der.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const bytes = (h: string): Uint8Array => Uint8Array.from(Buffer.from(h, 'hex'));

describe('writer', () => {
  it('encodes lengths in the shortest form at every boundary', () => {
    for (const [n, header] of [
      [0, '0400'],
      [127, '047f'],
      [128, '048180'],
      [255, '0481ff'],
      [256, '04820100'],
      [65535, '0482ffff'],
      [65536, '0483010000'],
    ] as const) {
      const enc = tlv(0x04, new Uint8Array(n));
      expect(hex(enc.subarray(0, header.length / 2))).toBe(header);
      expect(readOne(enc).value.length).toBe(n);
    }
  });

  it('writes minimal INTEGERs, DER BOOLEANs and named bit lists without trailing zero bits', () => {
    expect(hex(integer(0))).toBe('020100');
    expect(hex(integer(127))).toBe('02017f');
    expect(hex(integer(128))).toBe('02020080');
    expect(hex(integer(256))).toBe('02020100');
    expect(hex(boolean(true))).toBe('0101ff');
    expect(hex(namedBits([0]))).toBe('03020780'); // digitalSignature
    expect(hex(namedBits([0, 2]))).toBe('030205a0'); // + keyEncipherment
    expect(hex(namedBits([0, 5, 6]))).toBe('03020186'); // + keyCertSign, cRLSign
    expect(hex(namedBits([8]))).toBe('0303070080'); // decipherOnly
    expect(readNamedBits(readOne(namedBits([0, 5, 6])), 'ku')).toEqual([0, 5, 6]);
  });

  it('writes OIDs asn1js decodes to the same dotted form (property)', () => {
    const arc = fc.integer({ min: 0, max: 2 ** 40 });
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 }),
        fc.integer({ min: 0, max: 39 }),
        fc.array(arc, { maxLength: 8 }),
        (a, b, rest) => {
          const dotted = [a, b, ...rest].join('.');
          const enc = oid(dotted);
          expect(readOid(readOne(enc), 'oid')).toBe(dotted);
          const parsed = asn1js.fromBER(enc);
          expect((parsed.result as asn1js.ObjectIdentifier).valueBlock.toString()).toBe(dotted);
        },
      ),
    );
  });

  it('sorts SET OF elements (DER)', () => {
    expect(hex(setOf([integer(2), integer(1)]))).toBe('3106020101020102');
  });

  it('round-trips INTEGER content octets of any positive value (property)', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 1n, max: 2n ** 159n }), (n) => {
        let h = n.toString(16);
        if (h.length % 2) h = `0${h}`;
        if (parseInt(h.slice(0, 2), 16) & 0x80) h = `00${h}`;
        const content = bytes(h);
        const enc = integerFromContent(content);
        expect(hex(readIntegerContent(readOne(enc), 'int'))).toBe(h);
        expect((asn1js.fromBER(enc).result as asn1js.Integer).toBigInt()).toBe(n);
      }),
    );
  });

  it('writes X.509 times: UTCTime through 2049, GeneralizedTime from 2050, whole seconds only', () => {
    expect(hex(x509Time(new Date('2049-12-31T23:59:59Z')))).toBe(
      hex(tlv(0x17, new TextEncoder().encode('491231235959Z'))),
    );
    expect(hex(x509Time(new Date('2050-01-01T00:00:00Z')))).toBe(
      hex(tlv(0x18, new TextEncoder().encode('20500101000000Z'))),
    );
    expect(() => x509Time(new Date('2030-01-01T00:00:00.500Z'))).toThrow(RangeError);
    expect(() => x509Time(new Date('1949-12-31T00:00:00Z'))).toThrow(RangeError);
    fc.assert(
      fc.property(
        fc.integer({ min: Date.UTC(1950, 0, 1) / 1000, max: Date.UTC(9999, 11, 31, 23, 59, 59) / 1000 }),
        (s) => {
          const d = new Date(s * 1000);
          expect(readTime(readOne(x509Time(d)), 't').date.getTime()).toBe(d.getTime());
        },
      ),
    );
  });
});

describe('strict reader', () => {
  const refuse = (h: string, read: (b: Uint8Array) => unknown = readOne): void => {
    expect(() => read(bytes(h)), h).toThrow(DerError);
  };

  it('refuses indefinite, non-minimal and oversized lengths, truncation and trailing bytes', () => {
    refuse('3080020100' + '0000'); // indefinite length
    refuse('30810100'); // long form for a short length
    refuse('3082000100'); // leading zero length octet
    refuse('3005020100'); // truncated content
    refuse('30'); // no length
    refuse('30030201000000'.slice(0, 12) + '00'); // trailing byte
    refuse('1f2100'); // high tag number
    refuse('3085ffffffffff');
    expect(readNode(bytes('3003020100ff')).bytes.length).toBe(5);
  });

  it('refuses non-minimal INTEGERs, BOOLEANs other than 00/ff, non-zero BIT STRING padding, OID padding', () => {
    refuse('02020001', (b) => readIntegerContent(readOne(b), 'i'));
    refuse('0202ff80', (b) => readIntegerContent(readOne(b), 'i'));
    refuse('0200', (b) => readIntegerContent(readOne(b), 'i'));
    refuse('010101', (b) => readBoolean(readOne(b), 'b'));
    refuse('01020000', (b) => readBoolean(readOne(b), 'b'));
    refuse('030201ff', (b) => readBitString(readOne(b), 'bs'));
    refuse('030108', (b) => readBitString(readOne(b), 'bs'));
    refuse('03020680', (b) => readNamedBits(readOne(b), 'ku')); // trailing zero bit kept
    refuse('0603808001', (b) => readOid(readOne(b), 'o'));
    refuse('060288', (b) => readOid(readOne(b), 'o'));
    expect(decodeOid(bytes('2a864886f70d01010b'))).toBe('1.2.840.113549.1.1.11');
    expect(readBitString(readOne(bitString(Uint8Array.of(1, 2))), 'bs').bytes).toEqual(Uint8Array.of(1, 2));
  });

  it('refuses times RFC 5280 forbids: fractions, offsets, missing seconds, impossible dates', () => {
    for (const [tag, text] of [
      [0x17, '300101000000+0100'],
      [0x17, '3001010000Z'],
      [0x18, '20300101000000.5Z'],
      [0x18, '20300230000000Z'],
      [0x17, '301301000000Z'],
      [0x18, '2030010100000Z'],
    ] as const) {
      expect(() => readTime(readOne(tlv(tag, new TextEncoder().encode(text))), 't'), text).toThrow(DerError);
    }
  });

  it('never throws anything but DerError on random bytes (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (b) => {
        try {
          readOne(b);
        } catch (e) {
          expect(e).toBeInstanceOf(DerError);
        }
      }),
    );
  });
});
