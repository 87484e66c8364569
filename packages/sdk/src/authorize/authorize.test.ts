import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  allOf,
  anyOf,
  authorizeAny,
  authorizeDnsName,
  authorizeID,
  authorizeMemberOf,
  authorizeOneOf,
  authorizeSpiffeGlob,
  authorizeSpiffePrefix,
  type AuthorizeSubject,
} from './index.js';

const spiffe = (id: string): AuthorizeSubject => ({ kind: 'spiffe', spiffeId: id, dnsNames: [] });
const dns = (...names: string[]): AuthorizeSubject => ({ kind: 'dns', spiffeId: null, dnsNames: names });
const none: AuthorizeSubject = { kind: 'none', spiffeId: null, dnsNames: [] };

const tdArb = fc.stringMatching(/^[a-z0-9][a-z0-9.-]{0,20}$/);
const segArb = fc.stringMatching(/^[A-Za-z0-9_-]{1,8}$/);
const idArb = fc
  .tuple(tdArb, fc.array(segArb, { minLength: 0, maxLength: 4 }))
  .map(([td, segs]) => `spiffe://${td}${segs.map((s) => `/${s}`).join('')}`);

describe('authorizers', () => {
  it('authorizeID admits exactly that ID, never another case or a longer path', () => {
    const a = authorizeID('spiffe://example.org/billing/worker');
    expect(a(spiffe('spiffe://example.org/billing/worker'))).toEqual({ ok: true });
    for (const other of [
      'spiffe://example.org/Billing/worker',
      'spiffe://example.org/billing/worker/x',
      'spiffe://example.org/billing',
      'spiffe://example.org.evil/billing/worker',
    ]) {
      const r = a(spiffe(other));
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.reason).toContain(other);
    }
    expect(a(dns('example.org')).ok).toBe(false);
    expect(a(none).ok).toBe(false);
  });

  it('refuses malformed arguments when built (fail closed at startup)', () => {
    expect(() => authorizeID('spiffe://Example.org/x')).toThrow(/ERR_USAGE_INVALID_ARGUMENT|not a valid SPIFFE ID/);
    expect(() => authorizeID('spiffe://example.org/a/../b')).toThrow();
    expect(() => authorizeMemberOf('Example.org')).toThrow();
    expect(() => authorizeSpiffeGlob('spiffe://td/**/x')).toThrow();
    expect(() => authorizeSpiffePrefix('spiffe://td//a')).toThrow();
    expect(() => authorizeDnsName('not a name')).toThrow();
  });

  it('authorizeOneOf admits the listed IDs only; an empty list admits nobody', () => {
    const a = authorizeOneOf('spiffe://td/a', 'spiffe://td/b');
    expect(a(spiffe('spiffe://td/a')).ok).toBe(true);
    expect(a(spiffe('spiffe://td/b')).ok).toBe(true);
    expect(a(spiffe('spiffe://td/c')).ok).toBe(false);
    expect(authorizeOneOf()(spiffe('spiffe://td/a')).ok).toBe(false);
  });

  it('authorizeMemberOf never admits another trust domain (property)', () => {
    fc.assert(
      fc.property(tdArb, idArb, (td, id) => {
        const admitted = authorizeMemberOf(td)(spiffe(id)).ok;
        const idTd = id.slice('spiffe://'.length).split('/')[0];
        expect(admitted).toBe(idTd === td);
      }),
    );
    const a = authorizeMemberOf('spiffe://example.org');
    expect(a(spiffe('spiffe://example.org/x')).ok).toBe(true);
    expect(a(spiffe('spiffe://example.org')).ok).toBe(true);
    expect(a(spiffe('spiffe://example.org.evil/x')).ok).toBe(false);
    expect(a(spiffe('spiffe://evil-example.org/x')).ok).toBe(false);
    expect(a(dns('example.org')).ok).toBe(false);
  });

  it('authorizeID admits an ID iff it is byte-equal (property, no case folding)', () => {
    fc.assert(
      fc.property(idArb, idArb, (want, got) => {
        expect(authorizeID(want)(spiffe(got)).ok).toBe(want === got);
      }),
    );
  });

  it('authorizeSpiffePrefix matches whole segments', () => {
    const a = authorizeSpiffePrefix('spiffe://td/billing/');
    expect(a(spiffe('spiffe://td/billing')).ok).toBe(true);
    expect(a(spiffe('spiffe://td/billing/worker')).ok).toBe(true);
    expect(a(spiffe('spiffe://td/billing-x')).ok).toBe(false);
    expect(a(spiffe('spiffe://td2/billing/worker')).ok).toBe(false);
    fc.assert(
      fc.property(idArb, segArb, (base, seg) => {
        expect(authorizeSpiffePrefix(base)(spiffe(`${base}/${seg}`)).ok).toBe(true);
        expect(authorizeSpiffePrefix(base)(spiffe(`${base}${seg}`)).ok).toBe(false);
      }),
    );
  });

  it('authorizeSpiffeGlob: * is one segment, a final ** one or more', () => {
    const a = authorizeSpiffeGlob('spiffe://td/ns/*/sa/**');
    expect(a(spiffe('spiffe://td/ns/prod/sa/web')).ok).toBe(true);
    expect(a(spiffe('spiffe://td/ns/prod/sa/web/x')).ok).toBe(true);
    expect(a(spiffe('spiffe://td/ns/prod/sa')).ok).toBe(false);
    expect(a(spiffe('spiffe://td/ns/a/b/sa/web')).ok).toBe(false);
    expect(a(spiffe('spiffe://other/ns/prod/sa/web')).ok).toBe(false);
  });

  it('authorizeDnsName compares DNS names without case, and never admits a SPIFFE identity', () => {
    const a = authorizeDnsName('API.internal');
    expect(a(dns('other.internal', 'api.INTERNAL')).ok).toBe(true);
    expect(a(dns('api.internal.evil')).ok).toBe(false);
    expect(a({ kind: 'spiffe', spiffeId: 'spiffe://td/x', dnsNames: ['api.internal'] }).ok).toBe(false);
    // Only ASCII letters fold: a dotless-i or Kelvin sign is never the same name.
    expect(authorizeDnsName('kelvin.internal')(dns('\u212aelvin.internal')).ok).toBe(false);
  });

  it('allOf and anyOf compose, fail closed when empty, and carry the reason', () => {
    const td = authorizeMemberOf('td');
    const one = authorizeID('spiffe://td/a');
    expect(allOf(td, one)(spiffe('spiffe://td/a')).ok).toBe(true);
    const r = allOf(td, one)(spiffe('spiffe://td/b'));
    expect(r).toEqual({ ok: false, reason: 'spiffe://td/b is not spiffe://td/a' });
    expect(anyOf(one, authorizeDnsName('x.internal'))(dns('x.internal')).ok).toBe(true);
    const d = anyOf(one, authorizeDnsName('x.internal'))(none);
    expect(d.ok).toBe(false);
    if (!d.ok) expect(d.reason).toContain('; ');
    expect(allOf()(spiffe('spiffe://td/a')).ok).toBe(false);
    expect(anyOf()(spiffe('spiffe://td/a')).ok).toBe(false);
    expect(authorizeAny()(none).ok).toBe(true);
  });
});
