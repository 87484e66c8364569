import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MutualError } from '../errors/index.js';
import { isValidSpiffeId, parseSpiffeId } from './index.js';

function reason(s: string): unknown {
  try {
    parseSpiffeId(s);
  } catch (e) {
    if (e instanceof MutualError && e.code === 'ERR_IDENTITY_SPIFFE_INVALID') return e.details['reason'];
    throw e;
  }
  return 'accepted';
}

const tdChars = Array.from('abcdefghijklmnopqrstuvwxyz0123456789._-');
const segChars = Array.from('abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-');
const trustDomain = fc.string({ unit: fc.constantFrom(...tdChars), minLength: 1, maxLength: 40 });
const segment = fc
  .string({ unit: fc.constantFrom(...segChars), minLength: 1, maxLength: 16 })
  .filter((s) => s !== '.' && s !== '..');
const validId = fc
  .tuple(trustDomain, fc.array(segment, { maxLength: 6 }))
  .map(([td, segs]) => ({ td, path: segs.map((s) => `/${s}`).join('') }));

describe('parseSpiffeId', () => {
  it('accepts every ID the grammar generates and round-trips it (property)', () => {
    fc.assert(
      fc.property(validId, ({ td, path }) => {
        const text = `spiffe://${td}${path}`;
        const id = parseSpiffeId(text);
        expect([id.trustDomain, id.path, id.toString(), String(id)]).toEqual([td, path, text, text]);
        expect(JSON.stringify({ id })).toBe(JSON.stringify({ id: text }));
        expect(Object.isFrozen(id)).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it('refuses each grammar trick with a stable reason (property over valid IDs)', () => {
    const mutations: [string, (td: string, path: string) => string][] = [
      ['trust-domain-uppercase', (td, p) => `spiffe://${td}A${p}`],
      ['percent-encoding', (td, p) => `spiffe://${td}${p}/%2e%2e`],
      ['percent-encoding', (td, p) => `spiffe://${td}/%41${p}`],
      ['path-dot-segment', (td, p) => `spiffe://${td}${p}/..`],
      ['path-dot-segment', (td, p) => `spiffe://${td}/.${p}`],
      ['path-empty-segment', (td, p) => `spiffe://${td}/${p}/x`],
      ['path-trailing-slash', (td, p) => `spiffe://${td}${p}/`],
      ['port', (td, p) => `spiffe://${td}:8443${p}`],
      ['userinfo', (td, p) => `spiffe://user@${td}${p}`],
      ['userinfo', (td, p) => `spiffe://user:pw@${td}${p}`],
      ['query', (td, p) => `spiffe://${td}${p}?x=1`],
      ['fragment', (td, p) => `spiffe://${td}${p}#frag`],
      ['scheme', (td, p) => `SPIFFE://${td}${p}`],
      ['scheme', (td, p) => `Spiffe://${td}${p}`],
      ['scheme', (td, p) => `spiffe:/${td}${p}`],
      ['scheme', (td, p) => `https://${td}${p}`],
      ['scheme', (td, p) => ` spiffe://${td}${p}`],
      ['path-chars', (td, p) => `spiffe://${td}${p}/a b`],
      ['path-chars', (td, p) => `spiffe://${td}${p}/a\0b`],
      ['path-chars', (td, p) => `spiffe://${td}${p}/é`],
      ['path-chars', (td, p) => `spiffe://${td}${p}/a\nb`],
      ['trust-domain-chars', (td, p) => `spiffe://${td}\0${p}`],
      ['trust-domain-chars', (td, p) => `spiffe://${td}é${p}`],
    ];
    fc.assert(
      fc.property(validId, fc.nat(mutations.length - 1), ({ td, path }, i) => {
        const [expected, mutate] = mutations[i]!;
        expect(reason(mutate(td, path))).toBe(expected);
      }),
      { numRuns: 3000 },
    );
  });

  it('gives the expected reason on fixed examples', () => {
    const cases: [string, string][] = [
      ['spiffe://example.org', 'accepted'],
      ['spiffe://example.org/ns/prod/sa/web', 'accepted'],
      ['spiffe://example.org/A.b_c-D', 'accepted'],
      ['spiffe://1.2.3.4/x', 'accepted'],
      ['', 'empty'],
      ['spiffe://', 'trust-domain-missing'],
      ['spiffe:///path', 'trust-domain-missing'],
      ['spiffe://example.org/', 'path-trailing-slash'],
      ['spiffe://example.org//a', 'path-empty-segment'],
      ['spiffe://[::1]/a', 'port'],
      ['spiffe://example.org/a/./b', 'path-dot-segment'],
      ['spiffe://example.org/%2E%2E', 'percent-encoding'],
      ['spiffe://exa%6dple.org/a', 'percent-encoding'],
      [`spiffe://${'a'.repeat(256)}/a`, 'trust-domain-too-long'],
      [`spiffe://${'a'.repeat(255)}/a`, 'accepted'],
      [`spiffe://example.org/${'a'.repeat(2048 - 'spiffe://example.org/'.length)}`, 'accepted'],
      [`spiffe://example.org/${'a'.repeat(2049 - 'spiffe://example.org/'.length)}`, 'too-long'],
    ];
    for (const [s, r] of cases) expect([s.slice(0, 40), reason(s)]).toEqual([s.slice(0, 40), r]);
    expect(() => parseSpiffeId(42 as unknown as string)).toThrow(MutualError);
  });

  it('agrees with an independent regular expression of the grammar on random strings (property)', () => {
    const grammar = /^spiffe:\/\/[a-z0-9._-]{1,255}(\/(?!\.\.?(?:\/|$))[A-Za-z0-9._-]+)*$/;
    const alphabet = [
      ...Array.from('aZ09._-/:@?#%'),
      'spiffe://',
      'spiffe://a',
      '/..',
      '/.',
      '//',
      'A',
      ' ',
      '\0',
      'é',
    ];
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom(...alphabet), { maxLength: 12 }).map((parts) => parts.join('')),
        (s) => {
          expect([s, isValidSpiffeId(s)]).toEqual([s, grammar.test(s)]);
        },
      ),
      { numRuns: 20000 },
    );
  });
});
