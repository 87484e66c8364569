/**
 * Strict SPIFFE ID grammar for the verifier (SPIFFE-ID spec): `spiffe://` in lower case, a lower
 * case trust domain of [a-z0-9._-], path segments of [A-Za-z0-9._-] that are not "." or "..",
 * no trailing slash, port, userinfo, query, fragment or percent-encoding.
 */

const TRUST_DOMAIN = /^[a-z0-9._-]+$/;
const SEGMENT = /^[A-Za-z0-9._-]+$/;

export type SpiffeParse = { ok: true; trustDomain: string; path: string } | { ok: false; why: string };

export function parseSpiffe(id: string): SpiffeParse {
  if (id.length > 2048) return { ok: false, why: 'longer than 2048 bytes' };
  if (!id.startsWith('spiffe://')) return { ok: false, why: 'scheme must be "spiffe://" in lower case' };
  const rest = id.slice('spiffe://'.length);
  const slash = rest.indexOf('/');
  const td = slash < 0 ? rest : rest.slice(0, slash);
  const path = slash < 0 ? '' : rest.slice(slash);
  if (td.length === 0) return { ok: false, why: 'empty trust domain' };
  if (td.length > 255) return { ok: false, why: 'trust domain longer than 255 characters' };
  if (!TRUST_DOMAIN.test(td)) {
    return { ok: false, why: 'trust domain may hold only lower-case letters, digits, ".", "-" and "_"' };
  }
  if (path !== '') {
    const segments = path.slice(1).split('/');
    for (const s of segments) {
      if (s === '') return { ok: false, why: 'empty path segment or trailing slash' };
      if (s === '.' || s === '..') return { ok: false, why: 'dot segments are not allowed' };
      if (!SEGMENT.test(s)) return { ok: false, why: 'path may hold only letters, digits, ".", "-" and "_"' };
    }
  }
  return { ok: true, trustDomain: td, path };
}
