// Serial numbers and validity windows: time and randomness are arguments, so every edge is exact.
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { MutualError } from '@mutual/sdk';
import { describe, expect, it } from 'vitest';
import { generateSerial, serialProblem } from './serial.js';
import { computeValidity } from './validity.js';

const code = (fn: () => unknown): string => {
  try {
    fn();
  } catch (e) {
    if (e instanceof MutualError) return e.code;
    throw e;
  }
  return 'no error';
};

describe('generateSerial', () => {
  it('is 16 or 17 octets of positive minimal INTEGER content carrying all 128 random bits (property)', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 16, maxLength: 16 }).filter((b) => b[0] !== 0),
        (r) => {
          const s = generateSerial(() => r);
          expect(serialProblem(s)).toBeUndefined();
          expect(s.length).toBe(r[0]! & 0x80 ? 17 : 16);
          expect(Buffer.from(s.subarray(s.length - 16)).equals(Buffer.from(r))).toBe(true);
        },
      ),
    );
  });

  it('draws again when the first octet is zero, and refuses a source that never stops doing so', () => {
    const draws = [new Uint8Array(16), Uint8Array.from({ length: 16 }, () => 0x42)];
    let calls = 0;
    expect(generateSerial(() => draws[Math.min(calls++, 1)]!)[0]).toBe(0x42);
    expect(calls).toBe(2);
    expect(code(() => generateSerial((n) => new Uint8Array(n)))).toBe('ERR_PKI_SERIAL_INVALID');
    expect(code(() => generateSerial(() => new Uint8Array(8).fill(1)))).toBe('ERR_PKI_SERIAL_INVALID');
  });

  it('gives distinct serials from a real random source', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 1000; i++) seen.add(Buffer.from(generateSerial((n) => randomBytes(n))).toString('hex'));
    expect(seen.size).toBe(1000);
  });
});

describe('computeValidity', () => {
  const now = new Date('2030-06-01T12:00:00.750Z');

  it('backdates notBefore by 60 s by default and rounds both ends down to whole seconds', () => {
    const v = computeValidity({ now, lifetimeMs: 24 * 3600_000 });
    expect(v.notBefore.toISOString()).toBe('2030-06-01T11:59:00.000Z');
    expect(v.notAfter.toISOString()).toBe('2030-06-02T12:00:00.000Z');
    expect(v.clamped).toBe(false);
    expect(computeValidity({ now, lifetimeMs: 1000, backdateMs: 0 }).notBefore.toISOString()).toBe(
      '2030-06-01T12:00:00.000Z',
    );
  });

  it("cuts notAfter to the issuer's and never starts before the issuer", () => {
    const v = computeValidity({
      now,
      lifetimeMs: 30 * 24 * 3600_000,
      issuerNotBefore: new Date('2030-06-01T11:59:30Z'),
      issuerNotAfter: new Date('2030-06-10T00:00:00Z'),
    });
    expect(v.notBefore.toISOString()).toBe('2030-06-01T11:59:30.000Z');
    expect(v.notAfter.toISOString()).toBe('2030-06-10T00:00:00.000Z');
    expect(v.clamped).toBe(true);
  });

  it('ERR_PKI_ISSUER_EXPIRED when the issuer is expired, not yet valid, or expires within a second', () => {
    expect(
      code(() => computeValidity({ now, lifetimeMs: 3600_000, issuerNotAfter: new Date('2030-06-01T12:00:00Z') })),
    ).toBe('ERR_PKI_ISSUER_EXPIRED');
    expect(
      code(() => computeValidity({ now, lifetimeMs: 3600_000, issuerNotBefore: new Date('2030-06-01T12:00:01Z') })),
    ).toBe('ERR_PKI_ISSUER_EXPIRED');
    expect(
      code(() =>
        computeValidity({
          now,
          lifetimeMs: 3600_000,
          backdateMs: 0,
          issuerNotAfter: new Date('2030-06-01T12:00:00.900Z'),
        }),
      ),
    ).toBe('ERR_PKI_ISSUER_EXPIRED');
  });

  it('ERR_PKI_LIFETIME_INVALID for zero, negative, sub-second, absurd or non-finite lifetimes and bad backdates', () => {
    for (const lifetimeMs of [0, -1, 999, Number.NaN, Infinity, 51 * 365 * 24 * 3600_000]) {
      expect(
        code(() => computeValidity({ now, lifetimeMs })),
        String(lifetimeMs),
      ).toBe('ERR_PKI_LIFETIME_INVALID');
    }
    for (const backdateMs of [-1, 60_001, Number.NaN]) {
      expect(code(() => computeValidity({ now, lifetimeMs: 3600_000, backdateMs }))).toBe('ERR_PKI_LIFETIME_INVALID');
    }
    expect(code(() => computeValidity({ now: new Date(Number.NaN), lifetimeMs: 3600_000 }))).toBe(
      'ERR_PKI_LIFETIME_INVALID',
    );
    expect(code(() => computeValidity({ now: new Date('9999-12-31T00:00:00Z'), lifetimeMs: 7 * 24 * 3600_000 }))).toBe(
      'ERR_PKI_LIFETIME_INVALID',
    );
  });

  it('always yields whole seconds inside the issuer window (property)', () => {
    const t = fc.integer({ min: Date.UTC(2000, 0, 1), max: Date.UTC(2100, 0, 1) });
    fc.assert(
      fc.property(
        t,
        fc.integer({ min: 1000, max: 10 * 365 * 24 * 3600_000 }),
        fc.integer({ min: 0, max: 60_000 }),
        (ms, life, back) => {
          const issuerNotBefore = new Date(Math.floor((ms - 3600_000) / 1000) * 1000);
          const issuerNotAfter = new Date(Math.floor((ms + 365 * 24 * 3600_000) / 1000) * 1000);
          const v = computeValidity({
            now: new Date(ms),
            lifetimeMs: life,
            backdateMs: back,
            issuerNotBefore,
            issuerNotAfter,
          });
          expect(v.notBefore.getTime() % 1000).toBe(0);
          expect(v.notAfter.getTime() % 1000).toBe(0);
          expect(v.notBefore >= issuerNotBefore && v.notAfter <= issuerNotAfter).toBe(true);
          expect(v.notBefore.getTime()).toBeLessThanOrEqual(ms);
          expect(ms - v.notBefore.getTime()).toBeLessThan(61_000);
          expect(v.notBefore < v.notAfter).toBe(true);
        },
      ),
    );
  });
});
