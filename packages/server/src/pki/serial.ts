import { MutualError } from '@mutual/sdk';
import { checkIntegerContent } from './der.js';

const RANDOM_OCTETS = 16;
const MAX_ATTEMPTS = 8;

/**
 * A certificate serial number: 128 random bits as the content octets of a positive DER INTEGER
 * (0x00 prefixed when the top bit is set, so 16 or 17 octets), never zero. A draw whose first
 * octet is zero would shorten the minimal encoding below 16 octets, so it is drawn again; a
 * random source that keeps returning such draws (or the wrong length) is refused.
 */
export function generateSerial(randomBytes: (n: number) => Uint8Array): Uint8Array {
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const r = randomBytes(RANDOM_OCTETS);
    if (!(r instanceof Uint8Array) || r.length !== RANDOM_OCTETS) {
      throw new MutualError('ERR_PKI_SERIAL_INVALID', {
        message: `The random source returned ${r instanceof Uint8Array ? r.length : 'no'} octets instead of ${RANDOM_OCTETS}.`,
      });
    }
    const first = r[0] ?? 0;
    if (first === 0) continue;
    if (first & 0x80) {
      const out = new Uint8Array(RANDOM_OCTETS + 1);
      out.set(r, 1);
      return out;
    }
    return Uint8Array.from(r);
  }
  throw new MutualError('ERR_PKI_SERIAL_INVALID', {
    message: 'The random source keeps returning serials that start with a zero octet.',
  });
}

/** Checks serial content octets: a positive, minimal DER INTEGER of 1 to 20 octets, not zero. */
export function assertValidSerial(serial: Uint8Array): void {
  const problem = serialProblem(serial);
  if (problem) throw new MutualError('ERR_PKI_SERIAL_INVALID', { message: `Invalid serial number: ${problem}.` });
}

export function serialProblem(serial: Uint8Array): string | undefined {
  if (!(serial instanceof Uint8Array) || serial.length === 0) return 'empty';
  if (serial.length > 20) return 'longer than 20 octets';
  try {
    checkIntegerContent(serial);
  } catch {
    return 'not a minimal INTEGER encoding';
  }
  if (((serial[0] ?? 0) & 0x80) !== 0) return 'negative';
  if (serial.every((b) => b === 0)) return 'zero';
  return undefined;
}
