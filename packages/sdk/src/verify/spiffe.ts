/**
 * SPIFFE ID check for X509-SVIDs, delegating the grammar to sdk/identity (strict SPIFFE-ID spec:
 * lower-case scheme and trust domain, no port, userinfo, query, fragment, percent-encoding, empty
 * or dot segments, or trailing slash) and returning a value instead of throwing.
 */
import { spiffeIdProblem } from '../identity/index.js';

export type SpiffeParse = { ok: true; trustDomain: string; path: string } | { ok: false; why: string };

export function parseSpiffe(id: string): SpiffeParse {
  const problem = spiffeIdProblem(id);
  if (problem !== undefined) return { ok: false, why: problem };
  const rest = id.slice('spiffe://'.length);
  const slash = rest.indexOf('/');
  return slash < 0
    ? { ok: true, trustDomain: rest, path: '' }
    : { ok: true, trustDomain: rest.slice(0, slash), path: rest.slice(slash) };
}
