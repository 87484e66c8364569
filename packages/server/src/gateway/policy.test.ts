import { describe, expect, it } from 'vitest';
import { gatewayConfigSchema } from '../config/index.js';
import { compilePolicy, nextPinExpiry, type PeerIdentity } from './policy.js';

const peer = (spiffeId: string | undefined, dnsNames: string[] = []): PeerIdentity => ({
  type: spiffeId ? 'spiffe' : dnsNames.length > 0 ? 'dns' : 'none',
  value: spiffeId ?? dnsNames[0],
  spiffeId,
  dnsNames,
  path: [{ fingerprint: 'ab'.repeat(32), spkiSha256: `${'A'.repeat(43)}=`, issuer: 'CN=Issuing CA', serial: '0a' }],
});

function policy(routes: unknown[]) {
  const cfg = gatewayConfigSchema.parse({
    version: 1,
    listeners: [
      {
        name: 'l',
        listen: { port: 0 },
        tls: { certificate: 'c', key: 'k' },
        clientAuth: { trustBundles: ['t'] },
        routes,
      },
    ],
    upstreams: { app: { url: 'http://127.0.0.1:1' } },
  });
  return compilePolicy(cfg.listeners[0]!.routes);
}

describe('compiled routes', () => {
  it('matches prefixes on segment boundaries and hosts exactly or by one wildcard label', () => {
    const p = policy([
      {
        name: 'api',
        host: 'api.example.com',
        path: { prefix: '/api' },
        allow: [{ trustDomain: 'td' }],
        upstream: 'app',
      },
      { name: 'wild', host: '*.example.com', path: { prefix: '/' }, allow: [{ trustDomain: 'td' }], upstream: 'app' },
    ]);
    const id = peer('spiffe://td/x');
    expect(p.decide('api.example.com', '/api/v1', 'GET', id).route?.name).toBe('api');
    expect(p.decide('api.example.com', '/apiv1', 'GET', id).route?.name).toBe('wild');
    expect(p.decide('a.b.example.com', '/', 'GET', id)).toMatchObject({ decision: 'deny', reason: 'no-route' });
    expect(p.decide('example.com', '/', 'GET', id)).toMatchObject({ decision: 'deny', reason: 'no-route' });
  });

  it('globs take one segment per *, a final ** takes one or more; prefixes are segment-aware', () => {
    const p = policy([
      { name: 'g', path: { prefix: '/g' }, allow: [{ spiffeGlob: 'spiffe://td/ns/*/sa/web' }], upstream: 'app' },
      { name: 'gg', path: { prefix: '/gg' }, allow: [{ spiffeGlob: 'spiffe://td/ns/**' }], upstream: 'app' },
      { name: 'p', path: { prefix: '/p' }, allow: [{ spiffePrefix: 'spiffe://td/ns/prod/' }], upstream: 'app' },
    ]);
    const d = (path: string, id: string) => p.decide(undefined, path, 'GET', peer(id)).decision;
    expect(d('/g', 'spiffe://td/ns/prod/sa/web')).toBe('allow');
    expect(d('/g', 'spiffe://td/ns/a/b/sa/web')).toBe('deny');
    expect(d('/g', 'spiffe://td2/ns/prod/sa/web')).toBe('deny');
    expect(d('/gg', 'spiffe://td/ns/a/b')).toBe('allow');
    expect(d('/gg', 'spiffe://td/ns')).toBe('deny');
    expect(d('/p', 'spiffe://td/ns/prod/x')).toBe('allow');
    expect(d('/p', 'spiffe://td/ns/production/x')).toBe('deny');
  });

  it('a pin with until matches before that instant only; a route whose every pin ended admits nobody', () => {
    const T = Date.parse('2031-05-04T10:00:00Z');
    const p = policy([
      {
        name: 'rollover',
        path: { prefix: '/' },
        allow: [{ trustDomain: 'td' }],
        pins: [{ certificate: 'ab'.repeat(32), until: '2031-05-04T10:00:00Z' }, { spki: `sha256/${'B'.repeat(43)}=` }],
        upstream: 'app',
      },
    ]);
    const id = peer('spiffe://td/x');
    expect(p.decide(undefined, '/', 'GET', id, T - 1).decision).toBe('allow');
    expect(p.decide(undefined, '/', 'GET', id, T)).toMatchObject({ decision: 'deny', reason: 'pin-mismatch' });
    expect(
      policy([
        {
          name: 'ended',
          path: { prefix: '/' },
          allow: [{ trustDomain: 'td' }],
          pins: [{ certificate: 'ab'.repeat(32), until: '2031-05-04T12:00:00+02:00' }],
          upstream: 'app',
        },
      ]).decide(undefined, '/', 'GET', id, T + 1),
    ).toMatchObject({ decision: 'deny', reason: 'pin-mismatch' });
    expect(
      nextPinExpiry(
        [
          { certificate: 'ab'.repeat(32), until: T },
          { spki: 'x', until: T + 5 },
        ],
        T,
      ),
    ).toBe(T + 5);
    expect(nextPinExpiry([{ certificate: 'ab'.repeat(32) }], T)).toBeUndefined();
    expect(() =>
      policy([
        {
          name: 'bad',
          path: { prefix: '/' },
          allow: [{ trustDomain: 'td' }],
          pins: [{ certificate: 'ab'.repeat(32), until: 'next tuesday' }],
          upstream: 'app',
        },
      ]),
    ).toThrow();
  });

  it('pins match the validated path by certificate hash, SPKI hash, or issuer and serial together', () => {
    const p = policy([
      {
        name: 'a',
        path: { exact: '/a' },
        allow: [{ trustDomain: 'td' }],
        pins: [{ issuer: 'CN=Issuing CA', serial: '00:0A' }],
        upstream: 'app',
      },
      {
        name: 'b',
        path: { exact: '/b' },
        allow: [{ trustDomain: 'td' }],
        pins: [{ issuer: 'CN=Other', serial: '0a' }],
        upstream: 'app',
      },
      {
        name: 'c',
        path: { exact: '/c' },
        allow: [{ trustDomain: 'td' }],
        pins: [{ certificate: 'AB'.repeat(32) }],
        upstream: 'app',
      },
    ]);
    const id = peer('spiffe://td/x');
    expect(p.decide(undefined, '/a', 'GET', id).decision).toBe('allow');
    expect(p.decide(undefined, '/b', 'GET', id)).toMatchObject({ decision: 'deny', reason: 'pin-mismatch' });
    expect(p.decide(undefined, '/c', 'GET', id).decision).toBe('allow');
  });

  it('refuses rule grammar at load: bad SPIFFE IDs, globs, unknown upstreams, anonymous with allow', () => {
    const r = gatewayConfigSchema.safeParse({
      version: 1,
      listeners: [
        {
          name: 'l',
          listen: { port: 0 },
          tls: { certificate: 'c', key: 'k' },
          clientAuth: { trustBundles: ['t'] },
          routes: [
            { name: 'a', path: { prefix: '/' }, allow: [{ spiffeId: 'spiffe://TD/x' }], upstream: 'app' },
            { name: 'b', path: { prefix: '/' }, allow: [{ spiffeGlob: 'spiffe://td/**/x' }], upstream: 'nope' },
            { name: 'c', path: { prefix: '/' }, anonymous: true, allow: [{ trustDomain: 'td' }], upstream: 'app' },
          ],
        },
      ],
      upstreams: { app: { url: 'http://127.0.0.1:1/path' } },
    });
    expect(r.success).toBe(false);
    const paths = r.error!.issues.map((i) => i.path.join('.')).sort();
    expect(paths).toEqual([
      'listeners.0.routes.0.allow.0.spiffeId',
      'listeners.0.routes.1.allow.0.spiffeGlob',
      'listeners.0.routes.1.upstream',
      'listeners.0.routes.2.allow',
      'upstreams.app.url',
    ]);
  });
});
