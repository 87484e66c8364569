/**
 * Request-target normalization, done once: what routes are matched against is exactly what the
 * upstream receives. Unreserved characters are percent-decoded, dot-segments removed, runs of
 * slashes collapsed; anything an upstream could read differently from us is refused.
 */

export type NormalizedTarget =
  | { readonly ok: true; readonly path: string; readonly query: string }
  | { readonly ok: false; readonly reason: string };

const HEX = /^[0-9A-Fa-f]{2}$/;
const MAX_TARGET = 8192;

function isUnreserved(code: number): boolean {
  return (
    (code >= 0x41 && code <= 0x5a) ||
    (code >= 0x61 && code <= 0x7a) ||
    (code >= 0x30 && code <= 0x39) ||
    code === 0x2d ||
    code === 0x2e ||
    code === 0x5f ||
    code === 0x7e
  );
}

/** Characters allowed raw in a path (RFC 3986 pchar plus "/"), besides percent-encodings. */
function isPathChar(ch: string): boolean {
  return /^[A-Za-z0-9\-._~!$&'()*+,;=:@/]$/.test(ch);
}

/**
 * Normalizes an origin-form request target (`/a/b?q`). Refused: other forms, fragments, raw
 * characters outside RFC 3986, malformed escapes, encoded `/`, `\`, NUL and other controls, raw
 * backslashes, non-ASCII, and `..;`-style segments some servers read as dot-segments.
 */
export function normalizeTarget(target: string): NormalizedTarget {
  if (target.length === 0 || target.length > MAX_TARGET) return { ok: false, reason: 'target-length' };
  if (!target.startsWith('/')) return { ok: false, reason: 'not-origin-form' };
  if (target.includes('#')) return { ok: false, reason: 'fragment' };
  const q = target.indexOf('?');
  const rawPath = q === -1 ? target : target.slice(0, q);
  const query = q === -1 ? '' : target.slice(q);
  for (let i = 0; i < query.length; i++) {
    const c = query.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f) return { ok: false, reason: 'query-characters' };
  }

  // 1. Decode unreserved escapes; keep the others (upper-cased); refuse the ambiguous ones.
  let decoded = '';
  for (let i = 0; i < rawPath.length; i++) {
    const ch = rawPath[i] as string;
    if (ch === '%') {
      const hex = rawPath.slice(i + 1, i + 3);
      if (!HEX.test(hex)) return { ok: false, reason: 'bad-percent-encoding' };
      const code = parseInt(hex, 16);
      if (code < 0x20 || code === 0x7f) return { ok: false, reason: 'encoded-control' };
      if (code === 0x2f) return { ok: false, reason: 'encoded-slash' };
      if (code === 0x5c) return { ok: false, reason: 'encoded-backslash' };
      if (code >= 0x80) return { ok: false, reason: 'encoded-non-ascii' };
      decoded += isUnreserved(code) ? String.fromCharCode(code) : `%${hex.toUpperCase()}`;
      i += 2;
      continue;
    }
    if (ch === '\\') return { ok: false, reason: 'backslash' };
    if (!isPathChar(ch)) return { ok: false, reason: 'path-characters' };
    decoded += ch;
  }

  // 2. Segments: collapse empty ones (duplicate slashes), apply dot-segments.
  const segments = decoded.split('/').slice(1);
  const trailingSlash = decoded.endsWith('/') || /\/\.\.?$/.test(decoded);
  const out: string[] = [];
  for (const seg of segments) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') {
      out.pop();
      continue;
    }
    const bare = seg.split(';')[0];
    if (bare === '.' || bare === '..') return { ok: false, reason: 'dot-segment-parameter' };
    out.push(seg);
  }
  let path = `/${out.join('/')}`;
  if (trailingSlash && out.length > 0) path += '/';
  return { ok: true, path, query };
}
