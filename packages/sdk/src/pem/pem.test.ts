import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MutualError } from '../errors/index.js';
import { decodeOnePem, decodePem, encodePem, readDerObjects } from './index.js';

/** A DER SEQUENCE wrapping `n` bytes of an OCTET STRING, long enough to span several PEM lines. */
function derSequence(n: number): Uint8Array {
  const inner = Buffer.concat([Buffer.from([0x04]), derLength(n), randomBytes(n)]);
  return new Uint8Array(Buffer.concat([Buffer.from([0x30]), derLength(inner.length), inner]));
}
function derLength(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof MutualError) return e.code;
    throw e;
  }
  return 'no error';
}

describe('encodePem / decodePem', () => {
  it('round-trips with 64-column lines and a trailing newline', () => {
    const der = derSequence(300);
    const pem = encodePem(der, 'CERTIFICATE');
    expect(pem.endsWith('-----END CERTIFICATE-----\n')).toBe(true);
    const body = pem.split('\n').slice(1, -2);
    expect(body.slice(0, -1).every((l) => l.length === 64)).toBe(true);
    expect(body.at(-1)!.length).toBeLessThanOrEqual(64);
    expect(decodePem(pem)).toEqual([{ label: 'CERTIFICATE', der }]);
  });

  it('round-trips any bytes under any RFC 7468 label (property)', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 600 }),
        fc.constantFrom('CERTIFICATE', 'X509 CRL', 'ENCRYPTED PRIVATE KEY', 'EC PRIVATE KEY', 'A-B'),
        (der, label) => {
          const [block, ...rest] = decodePem(encodePem(der, label));
          expect(rest).toEqual([]);
          expect(block!.label).toBe(label);
          expect(Buffer.from(block!.der).equals(Buffer.from(der))).toBe(true);
        },
      ),
    );
  });

  it('tolerates text around blocks (openssl Bag Attributes), CRLF and several blocks', () => {
    const a = derSequence(10);
    const b = derSequence(200);
    const text =
      'Bag Attributes\n    localKeyId: 01 02\nsubject=CN = x\n' +
      encodePem(a, 'CERTIFICATE').replaceAll('\n', '\r\n') +
      'comment between\n' +
      encodePem(b, 'CERTIFICATE');
    const blocks = decodePem(text);
    expect(blocks.map((x) => x.der)).toEqual([a, b]);
  });

  it('tolerates a leading byte-order mark', () => {
    const der = derSequence(10);
    expect(decodePem(`\uFEFF${encodePem(der, 'CERTIFICATE')}`)).toEqual([{ label: 'CERTIFICATE', der }]);
  });

  it('refuses NUL bytes, bad base64, headers, mismatched END, missing END and empty blocks', () => {
    const pem = encodePem(derSequence(100), 'CERTIFICATE');
    const lines = pem.split('\n');
    const cases: Record<string, string> = {
      nul: pem.replace('-----END', '\0-----END'),
      nulOutside: `junk\0\n${pem}`,
      badChar: pem.replace(lines[1]!, `${lines[1]!.slice(0, 10)}*${lines[1]!.slice(11)}`),
      space: pem.replace(lines[1]!, `${lines[1]!.slice(0, 10)} ${lines[1]!.slice(11)}`),
      header: pem.replace('-----\n', '-----\nProc-Type: 4,ENCRYPTED\n'),
      mismatched: pem.replace('END CERTIFICATE', 'END PRIVATE KEY'),
      noEnd: pem.replace('-----END CERTIFICATE-----\n', ''),
      empty: '-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n',
      truncated: pem.replace(lines[1]!, lines[1]!.slice(0, 63)),
      emptyLine: pem.replace(lines[1]!, `${lines[1]!}\n`),
      paddingInMiddle: '-----BEGIN X-----\nAA==\nAAAA\n-----END X-----\n',
      nonCanonical: '-----BEGIN X-----\nAB==\n-----END X-----\n',
      nestedBegin: pem.replace(lines[1]!, `${lines[1]!}\n-----BEGIN CERTIFICATE-----`),
      badBeginLine: '-----BEGIN certificate\nAAAA\n-----END certificate-----\n',
    };
    for (const [name, text] of Object.entries(cases)) {
      expect([name, code(() => decodePem(text))]).toEqual([name, 'ERR_PEM_MALFORMED']);
    }
  });

  it('refuses text with no block, and oversized input before parsing it', () => {
    expect(code(() => decodePem('hello\n'))).toBe('ERR_PEM_EMPTY');
    expect(code(() => decodePem(''))).toBe('ERR_PEM_EMPTY');
    const big = encodePem(derSequence(800 * 1024), 'CERTIFICATE');
    expect(big.length).toBeGreaterThan(1024 * 1024);
    expect(code(() => decodePem(big))).toBe('ERR_PEM_TOO_LARGE');
    expect(decodePem(big, { maxBytes: 2 * 1024 * 1024 })).toHaveLength(1);
    expect(code(() => decodePem(encodePem(derSequence(100), 'X'), { maxBytes: 50 }))).toBe('ERR_PEM_TOO_LARGE');
    // Counts UTF-8 bytes, not UTF-16 units.
    expect(code(() => decodePem('é'.repeat(600), { maxBytes: 1000 }))).toBe('ERR_PEM_TOO_LARGE');
  });

  it('refuses invalid labels when encoding', () => {
    expect(code(() => encodePem(derSequence(1), 'BAD--LABEL'))).toBe('ERR_USAGE_INVALID_ARGUMENT');
    expect(code(() => encodePem(derSequence(1), 'X\nY'))).toBe('ERR_USAGE_INVALID_ARGUMENT');
    expect(code(() => encodePem(new Uint8Array(), 'X'))).toBe('ERR_USAGE_INVALID_ARGUMENT');
  });

  it('never throws anything but a MutualError on random text (property)', () => {
    const pemish = fc
      .array(
        fc.oneof(
          fc.constantFrom('-----BEGIN X-----', '-----END X-----', '-----BEGIN ', '=', 'AAAA', '\r', ':', '\0'),
          fc.string(),
        ),
      )
      .map((parts) => parts.join('\n'));
    fc.assert(
      fc.property(fc.oneof(fc.string(), pemish), (text) => {
        try {
          decodePem(text);
        } catch (e) {
          expect(e).toBeInstanceOf(MutualError);
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe('decodeOnePem', () => {
  it('returns the one block of an allowed label', () => {
    const der = derSequence(40);
    expect(decodeOnePem(encodePem(der, 'CSR'), ['CERTIFICATE REQUEST', 'CSR'])).toEqual(der);
    expect(decodeOnePem(encodePem(der, 'CSR'), 'CSR')).toEqual(der);
  });

  it('refuses other labels and several blocks', () => {
    const der = derSequence(40);
    expect(code(() => decodeOnePem(encodePem(der, 'PRIVATE KEY'), 'CERTIFICATE'))).toBe('ERR_PEM_UNEXPECTED_LABEL');
    expect(code(() => decodeOnePem(encodePem(der, 'CSR') + encodePem(der, 'CSR'), 'CSR'))).toBe(
      'ERR_PEM_MULTIPLE_BLOCKS',
    );
  });
});

describe('readDerObjects', () => {
  it('reads a PEM bundle (string or bytes) and a raw DER object', () => {
    const a = derSequence(5);
    const b = derSequence(500);
    const bundle = encodePem(a, 'CERTIFICATE') + encodePem(b, 'CERTIFICATE');
    expect(readDerObjects(bundle, ['CERTIFICATE'])).toEqual([a, b]);
    expect(readDerObjects(new TextEncoder().encode(bundle), ['CERTIFICATE'])).toEqual([a, b]);
    expect(readDerObjects(b, ['CERTIFICATE'])).toEqual([b]);
  });

  it('refuses truncated DER, trailing bytes, BER indefinite length and non-minimal lengths', () => {
    const b = derSequence(500);
    expect(code(() => readDerObjects(b.subarray(0, b.length - 1), ['CERTIFICATE']))).toBe('ERR_DER_MALFORMED');
    expect(code(() => readDerObjects(Buffer.concat([b, Buffer.from([0])]), ['CERTIFICATE']))).toBe('ERR_DER_MALFORMED');
    expect(code(() => readDerObjects(Uint8Array.from([0x30, 0x80, 0x05, 0x00, 0x00, 0x00]), ['X']))).toBe(
      'ERR_DER_MALFORMED',
    );
    expect(code(() => readDerObjects(Uint8Array.from([0x30, 0x81, 0x02, 0x05, 0x00]), ['X']))).toBe(
      'ERR_DER_MALFORMED',
    );
    expect(code(() => readDerObjects(encodePem(b.subarray(0, 100), 'CERTIFICATE'), ['CERTIFICATE']))).toBe(
      'ERR_DER_MALFORMED',
    );
  });

  it('refuses unexpected labels, binary garbage and an empty input', () => {
    const a = derSequence(5);
    expect(code(() => readDerObjects(encodePem(a, 'PRIVATE KEY'), ['CERTIFICATE']))).toBe('ERR_PEM_UNEXPECTED_LABEL');
    expect(code(() => readDerObjects(Uint8Array.from([0xff, 0xfe, 0x00]), ['CERTIFICATE']))).toBe('ERR_PEM_MALFORMED');
    expect(code(() => readDerObjects(new Uint8Array(), ['CERTIFICATE']))).toBe('ERR_PEM_EMPTY');
    expect(code(() => readDerObjects(new Uint8Array(2 * 1024 * 1024).fill(0x30), ['CERTIFICATE']))).toBe(
      'ERR_PEM_TOO_LARGE',
    );
  });

  it('never throws anything but a MutualError on random bytes (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        try {
          readDerObjects(bytes, ['CERTIFICATE']);
        } catch (e) {
          expect(e).toBeInstanceOf(MutualError);
        }
      }),
      { numRuns: 2000 },
    );
  });
});
