import { describe, expect, it } from 'vitest';

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected a throw');
}
import { compileProfilePolicy, dnsPatternProblem, type ProfilePolicyInput } from './policy.js';

const input = (over: Partial<ProfilePolicyInput> = {}): ProfilePolicyInput => ({
  dns: { allow: ['localhost', '*.svc.example.com', '**.internal.example.com'], allowWildcards: false },
  ip: { allow: ['127.0.0.0/8', '::1'] },
  spiffe: { trustDomain: 'example.org', paths: ['/ns/*/sa/*', '/jobs/**'] },
  email: { allow: ['*@example.com'] },
  maxLifetimeMs: 86_400_000,
  keyTypes: ['p256'],
  ...over,
});
const names = (n: Partial<Record<'dns' | 'ip' | 'uri' | 'email', string[]>>) => ({
  dns: [],
  ip: [],
  uri: [],
  email: [],
  ...n,
});
const policy = compileProfilePolicy('server', input());

describe('name policy', () => {
  it('admits names matching the patterns and normalizes DNS case', () => {
    const out = policy.checkNames(
      names({ dns: ['API.svc.example.com', 'a.b.internal.example.com'], ip: ['127.0.0.2', '::1'] }),
    );
    expect(out.dns).toEqual(['api.svc.example.com', 'a.b.internal.example.com']);
    expect(policy.checkNames(names({ uri: ['spiffe://example.org/ns/prod/sa/web'] })).uri).toHaveLength(1);
    expect(policy.checkNames(names({ uri: ['spiffe://example.org/jobs/a/b/c'] })).uri).toHaveLength(1);
    expect(policy.checkNames(names({ email: ['ops@example.com'] })).email).toEqual(['ops@example.com']);
  });

  it.each([
    [{ dns: ['a.b.svc.example.com'] }, 'ERR_POLICY_DNS_NOT_ALLOWED', 'policy.server.dns.allow'],
    [{ dns: ['svc.example.com'] }, 'ERR_POLICY_DNS_NOT_ALLOWED', 'policy.server.dns.allow'],
    [{ dns: ['evil.com'] }, 'ERR_POLICY_DNS_NOT_ALLOWED', 'policy.server.dns.allow'],
    [{ dns: ['*.svc.example.com'] }, 'ERR_POLICY_WILDCARD_NOT_ALLOWED', 'policy.server.dns.allowWildcards'],
    [{ dns: ['local\0host'] }, 'ERR_POLICY_NAME_INVALID', 'policy.server.dns'],
    [{ dns: ['a\r\nb.svc.example.com'] }, 'ERR_POLICY_NAME_INVALID', 'policy.server.dns'],
    [{ dns: [`${'a'.repeat(64)}.svc.example.com`] }, 'ERR_POLICY_NAME_INVALID', 'policy.server.dns'],
    [{ ip: ['10.0.0.1'] }, 'ERR_POLICY_IP_NOT_ALLOWED', 'policy.server.ip.allow'],
    [{ ip: ['127.1'] }, 'ERR_POLICY_NAME_INVALID', 'policy.server.ip'],
    [{ uri: ['spiffe://other.org/ns/a/sa/b'] }, 'ERR_POLICY_URI_NOT_ALLOWED', 'policy.server.spiffe.trustDomain'],
    [{ uri: ['spiffe://example.org/ns/a'] }, 'ERR_POLICY_URI_NOT_ALLOWED', 'policy.server.spiffe.paths'],
    [{ uri: ['spiffe://EXAMPLE.org/ns/a/sa/b'] }, 'ERR_POLICY_NAME_INVALID', 'policy.server.spiffe'],
    [{ uri: ['spiffe://example.org/ns/../sa/b'] }, 'ERR_POLICY_NAME_INVALID', 'policy.server.spiffe'],
    [{ uri: ['spiffe://example.org/ns/%2e/sa/b'] }, 'ERR_POLICY_NAME_INVALID', 'policy.server.spiffe'],
    [{ uri: ['https://example.org/'] }, 'ERR_POLICY_URI_NOT_ALLOWED', 'policy.server.spiffe'],
    [
      { uri: ['spiffe://example.org/ns/a/sa/b', 'spiffe://example.org/ns/a/sa/c'] },
      'ERR_POLICY_URI_NOT_ALLOWED',
      'policy.server.spiffe',
    ],
    [{ email: ['root@evil.com'] }, 'ERR_POLICY_EMAIL_NOT_ALLOWED', 'policy.server.email.allow'],
    [{}, 'ERR_POLICY_NO_NAMES', 'policy.server'],
  ] as const)('refuses %j with %s naming %s', (req, code, rule) => {
    expect(
      thrown(() => policy.checkNames(names(req as Partial<Record<'dns' | 'ip' | 'uri' | 'email', string[]>>))),
    ).toMatchObject({ code, details: { rule } });
  });

  it('fails closed: empty allow-lists admit nobody', () => {
    const closed = compileProfilePolicy(
      'client',
      input({
        dns: { allow: [], allowWildcards: true },
        ip: { allow: [] },
        spiffe: { trustDomain: null, paths: [] },
        email: { allow: [] },
      }),
    );
    expect(thrown(() => closed.checkNames(names({ dns: ['localhost'] })))).toMatchObject({
      code: 'ERR_POLICY_DNS_NOT_ALLOWED',
    });
    expect(thrown(() => closed.checkNames(names({ ip: ['127.0.0.1'] })))).toMatchObject({
      code: 'ERR_POLICY_IP_NOT_ALLOWED',
    });
    expect(thrown(() => closed.checkNames(names({ uri: ['spiffe://example.org/a'] })))).toMatchObject({
      code: 'ERR_POLICY_URI_NOT_ALLOWED',
    });
  });

  it('admits wildcards only when allowed, and only as a whole left-most label', () => {
    const wild = compileProfilePolicy('server', input({ dns: { allow: ['*.svc.example.com'], allowWildcards: true } }));
    expect(wild.checkNames(names({ dns: ['*.svc.example.com'] })).dns).toEqual(['*.svc.example.com']);
    for (const bad of ['a*.svc.example.com', 'x.*.example.com', '*.*.example.com', '*']) {
      expect(thrown(() => wild.checkNames(names({ dns: [bad] })))).toMatchObject({ code: 'ERR_POLICY_NAME_INVALID' });
    }
  });

  it('enforces the maximum lifetime', () => {
    policy.checkLifetime(3_600_000);
    expect(
      thrown(() => {
        policy.checkLifetime(2 * 86_400_000);
      }),
    ).toMatchObject({ code: 'ERR_POLICY_LIFETIME_EXCEEDED' });
  });

  it('validates patterns', () => {
    expect(dnsPatternProblem('*.example.com')).toBeUndefined();
    expect(dnsPatternProblem('**.localhost')).toBeUndefined();
    expect(dnsPatternProblem('**.internal')).toBeUndefined();
    expect(dnsPatternProblem('*')).toBeDefined();
    expect(dnsPatternProblem('**')).toBeDefined();
    expect(dnsPatternProblem('Bad_Label.com')).toBeDefined();
  });
});
