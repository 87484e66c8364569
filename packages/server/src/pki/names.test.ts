// Name rules of what mutual issues: DNS (with safe wildcards), IPs, URIs and SPIFFE IDs, email.
import { isIP } from 'node:net';
import fc from 'fast-check';
import { MutualError } from '@mutual/sdk';
import { describe, expect, it } from 'vitest';
import { dnsNameProblem, emailProblem, formatIp, parseIp, uriProblem, validateNames } from './names.js';

const none = { dns: [], ip: [], uri: [], email: [] };

describe('DNS names', () => {
  it.each([
    'example.test',
    'a.b.c.example.test',
    'xn--bcher-kva.example',
    'localhost',
    '*.example.test',
    'a-b.c1.test',
  ])('accepts %s', (n) => {
    expect(dnsNameProblem(n, true)).toBeUndefined();
  });

  it.each([
    ['', 'empty'],
    ['*', 'wildcard'],
    ['*.test', 'wildcard'],
    ['*.*.example.test', 'wildcard'],
    ['a*.example.test', 'wildcard'],
    ['foo.*.example.test', 'wildcard'],
    ['ex ample.test', 'label'],
    ['exa_mple.test', 'label'],
    ['-a.test', 'label'],
    ['a-.test', 'label'],
    ['a..test', 'empty label'],
    ['a.test.', 'trailing dot'],
    ['1.2.3.4', 'digits'],
    [`${'a'.repeat(64)}.test`, '63'],
    [`${'a.'.repeat(127)}test`, '253'],
    ['bücher.example', 'label'],
    ['ab--cd.example', 'not a valid DNS name'],
  ])('refuses %j (%s)', (n, why) => {
    expect(dnsNameProblem(n, true)).toContain(why === 'wildcard' ? 'wildcard' : why);
  });

  it('refuses wildcards where they are not allowed (email domains)', () => {
    expect(dnsNameProblem('*.example.test', false)).toContain('wildcard');
    expect(emailProblem('a@*.example.test')).toContain('wildcard');
  });
});

describe('IP addresses', () => {
  it('parses IPv4 strictly (no leading zeros, four parts) and IPv6 with compression and embedded IPv4', () => {
    expect(Array.from(parseIp('10.0.0.1') ?? [])).toEqual([10, 0, 0, 1]);
    for (const bad of [
      '010.0.0.1',
      '10.0.0',
      '10.0.0.256',
      '1.2.3.4.5',
      '',
      '::1::',
      '1:2:3:4:5:6:7:8:9',
      'fe80::1%eth0',
      '::ffff:1.2.3',
    ]) {
      expect(parseIp(bad), bad).toBeUndefined();
    }
    expect(formatIp(parseIp('2001:0DB8:0000:0000:0000:0000:0000:0001')!)).toBe('2001:db8::1');
    expect(formatIp(parseIp('::')!)).toBe('::');
    expect(formatIp(parseIp('::ffff:10.0.0.1')!)).toBe('::ffff:a00:1');
    expect(formatIp(parseIp('1:0:0:2:0:0:0:3')!)).toBe('1:0:0:2::3');
    expect(formatIp(parseIp('1:0:2:3:4:5:6:7')!)).toBe('1:0:2:3:4:5:6:7'); // a lone zero group is not compressed
  });

  it('formats any 16 octets to text node:net accepts and that parses back to the same octets (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), (b) => {
        const text = formatIp(b);
        expect(isIP(text)).toBe(6);
        expect(Array.from(parseIp(text)!)).toEqual(Array.from(b));
      }),
    );
    fc.assert(
      fc.property(fc.ipV6(), (text) => {
        const parsed = parseIp(text);
        expect(parsed).toBeDefined();
        expect(isIP(formatIp(parsed!))).toBe(6);
      }),
    );
  });
});

describe('URIs and SPIFFE IDs', () => {
  it('accepts absolute URIs and strict SPIFFE IDs', () => {
    for (const u of [
      'https://example.test/a?b=c',
      'urn:uuid:123e4567-e89b-12d3-a456-426614174000',
      'spiffe://example.test',
      'spiffe://example.test/ns/prod/sa/web',
    ]) {
      expect(uriProblem(u), u).toBeUndefined();
    }
  });

  it.each([
    'spiffe://EXAMPLE.test/a',
    'Spiffe://example.test/a',
    'spiffe:/example.test/a',
    'spiffe://example.test/a//b',
    'spiffe://example.test/./a',
    'spiffe://example.test/a%20b',
    'spiffe://example.test/a#frag',
    'spiffe://:80/a',
    'spiffe://',
  ])('refuses the SPIFFE ID %j', (id) => {
    expect(uriProblem(id)).toBeDefined();
  });

  it('agrees with the SPIFFE grammar on generated IDs (property)', () => {
    const seg = fc.stringMatching(/^[A-Za-z0-9._-]{1,10}$/).filter((s) => s !== '.' && s !== '..');
    fc.assert(
      fc.property(fc.stringMatching(/^[a-z0-9._-]{1,20}$/), fc.array(seg, { maxLength: 5 }), (td, segs) => {
        const id = `spiffe://${td}${segs.map((s) => `/${s}`).join('')}`;
        expect(uriProblem(id)).toBeUndefined();
      }),
    );
  });

  it('refuses URIs with spaces, quotes, control characters or no scheme', () => {
    for (const u of [
      'https://example.test/a b',
      'https://example.test/"',
      'https://example.test/\n',
      '//example.test/a',
      'example.test',
    ]) {
      expect(uriProblem(u), u).toBeDefined();
    }
  });
});

describe('validateNames', () => {
  it('normalizes (lowercase DNS and email domains, canonical IPs) and drops duplicates', () => {
    const v = validateNames({
      dns: ['A.Example.Test', 'a.example.test'],
      ip: ['2001:DB8::1', '2001:db8:0::1', '10.0.0.1'],
      uri: ['spiffe://example.test/a'],
      email: ['Me@Example.TEST'],
    });
    expect(v.names).toEqual({
      dns: ['a.example.test'],
      ip: ['2001:db8::1', '10.0.0.1'],
      uri: ['spiffe://example.test/a'],
      email: ['Me@example.test'],
    });
    expect(v.ipBytes.map((b) => b.length)).toEqual([16, 4]);
  });

  it('refuses a SPIFFE ID next to another URI, and values that are not strings', () => {
    expect(() => validateNames({ ...none, uri: ['spiffe://example.test/a', 'spiffe://example.test/b'] })).toThrow(
      MutualError,
    );
    expect(() => validateNames({ ...none, dns: [42 as unknown as string] })).toThrow(MutualError);
  });

  it('puts a truncated copy of an over-long name in the error details', () => {
    try {
      validateNames({ ...none, uri: [`https://example.test/${'a'.repeat(5000)}`] });
      expect.unreachable();
    } catch (e) {
      const d = (e as MutualError).details;
      expect((d['name'] as string).length).toBeLessThanOrEqual(257);
      expect(d['type']).toBe('uri');
    }
  });
});
