import { describe, expect, it } from 'vitest';
import { normalizeTarget } from './path.js';

describe('normalizeTarget', () => {
  it.each([
    ['/a/b', '/a/b', ''],
    ['/a//b///c', '/a/b/c', ''],
    ['/a/./b/../c', '/a/c', ''],
    ['/a/%2e%2E/b', '/b', ''],
    ['/%7Euser/%41', '/~user/A', ''],
    ['/a/%3f%23', '/a/%3F%23', ''],
    ['/../../etc', '/etc', ''],
    ['/a/b/', '/a/b/', ''],
    ['/a/b/..', '/a/', ''],
    ['/a?x=%2F&y=1', '/a', '?x=%2F&y=1'],
    ['/', '/', ''],
    ['/a;v=1/b', '/a;v=1/b', ''],
  ])('%s → %s', (input, path, query) => {
    expect(normalizeTarget(input)).toEqual({ ok: true, path, query });
  });

  it.each([
    ['/a/%2Fb', 'encoded-slash'],
    ['/a/%2f', 'encoded-slash'],
    ['/a/%5C', 'encoded-backslash'],
    ['/a\\b', 'backslash'],
    ['/a/%00', 'encoded-control'],
    ['/a/%0a', 'encoded-control'],
    ['/a/%zz', 'bad-percent-encoding'],
    ['/a/%4', 'bad-percent-encoding'],
    ['/a/%C3%A9', 'encoded-non-ascii'],
    ['/a/..;/admin', 'dot-segment-parameter'],
    ['/a/.;x/admin', 'dot-segment-parameter'],
    ['http://evil/admin', 'not-origin-form'],
    ['*', 'not-origin-form'],
    ['/a#frag', 'fragment'],
    ['/a b', 'path-characters'],
    ['/é', 'path-characters'],
    ['/a?\x01', 'query-characters'],
    ['', 'target-length'],
  ])('%j is refused (%s)', (input, reason) => {
    expect(normalizeTarget(input)).toEqual({ ok: false, reason });
  });

  it('is idempotent: a normalized path normalizes to itself', () => {
    for (const p of ['/a//b/../c/%7e', '/x/%2e/y/%41%42', '/q/%3F/']) {
      const once = normalizeTarget(p);
      if (!once.ok) throw new Error(p);
      expect(normalizeTarget(once.path)).toEqual(once);
    }
  });
});
