import { MutualError } from '../errors/index.js';

/** A parsed SPIFFE ID. Immutable; `toString()` gives back the exact text it was parsed from. */
export interface SpiffeId {
  readonly trustDomain: string;
  /** '' or '/seg1/seg2…' */
  readonly path: string;
  toString(): string;
}

/** Stable reasons reported in `details.reason` of ERR_IDENTITY_SPIFFE_INVALID. */
export type SpiffeIdInvalidReason =
  | 'not-a-string'
  | 'empty'
  | 'too-long'
  | 'scheme'
  | 'trust-domain-missing'
  | 'trust-domain-too-long'
  | 'trust-domain-uppercase'
  | 'trust-domain-chars'
  | 'port'
  | 'userinfo'
  | 'query'
  | 'fragment'
  | 'percent-encoding'
  | 'path-empty-segment'
  | 'path-dot-segment'
  | 'path-trailing-slash'
  | 'path-chars';

/** The SPIFFE spec's cap on a SPIFFE ID, in bytes. */
export const SPIFFE_ID_MAX_BYTES = 2048;
/** The SPIFFE spec's cap on a trust domain name. */
export const SPIFFE_TRUST_DOMAIN_MAX = 255;

const TRUST_DOMAIN = /^[a-z0-9._-]+$/;
const SEGMENT = /^[A-Za-z0-9._-]+$/;
const PREFIX = 'spiffe://';

function invalid(reason: SpiffeIdInvalidReason): MutualError {
  return new MutualError('ERR_IDENTITY_SPIFFE_INVALID', {
    message: `The SPIFFE ID is invalid (${reason}).`,
    details: { reason },
  });
}

class ParsedSpiffeId implements SpiffeId {
  constructor(
    readonly trustDomain: string,
    readonly path: string,
  ) {
    Object.freeze(this);
  }
  toString(): string {
    return `${PREFIX}${this.trustDomain}${this.path}`;
  }
  toJSON(): string {
    return this.toString();
  }
}

/** Why `s` is not a SPIFFE ID, or undefined when it is one. */
export function spiffeIdProblem(s: unknown): SpiffeIdInvalidReason | undefined {
  if (typeof s !== 'string') return 'not-a-string';
  if (s.length === 0) return 'empty';
  if (Buffer.byteLength(s, 'utf8') > SPIFFE_ID_MAX_BYTES) return 'too-long';
  // The scheme is exactly lowercase "spiffe" followed by "://": no case folding.
  if (!s.startsWith(PREFIX)) return 'scheme';
  const rest = s.slice(PREFIX.length);
  if (rest.includes('#')) return 'fragment';
  if (rest.includes('?')) return 'query';
  if (rest.includes('%')) return 'percent-encoding';
  const slash = rest.indexOf('/');
  const td = slash === -1 ? rest : rest.slice(0, slash);
  const path = slash === -1 ? '' : rest.slice(slash);
  if (td.length === 0) return 'trust-domain-missing';
  if (td.includes('@')) return 'userinfo';
  if (td.includes(':')) return 'port';
  if (td.length > SPIFFE_TRUST_DOMAIN_MAX) return 'trust-domain-too-long';
  if (!TRUST_DOMAIN.test(td)) return /^[a-zA-Z0-9._-]+$/.test(td) ? 'trust-domain-uppercase' : 'trust-domain-chars';
  if (path === '') return undefined;
  if (path.endsWith('/')) return 'path-trailing-slash';
  const segments = path.slice(1).split('/');
  for (const seg of segments) {
    if (seg.length === 0) return 'path-empty-segment';
    if (seg === '.' || seg === '..') return 'path-dot-segment';
    if (!SEGMENT.test(seg)) return 'path-chars';
  }
  return undefined;
}

/**
 * Parses a SPIFFE ID strictly per the SPIFFE-ID standard: scheme exactly `spiffe`, trust domain
 * of [a-z0-9._-] (no uppercase, port or userinfo), path segments of [A-Za-z0-9._-] with no empty,
 * `.` or `..` segment and no trailing slash, no query, fragment or percent-encoding, ≤ 2048 bytes.
 */
export function parseSpiffeId(s: string): SpiffeId {
  const problem = spiffeIdProblem(s);
  if (problem !== undefined) throw invalid(problem);
  const rest = s.slice(PREFIX.length);
  const slash = rest.indexOf('/');
  return slash === -1 ? new ParsedSpiffeId(rest, '') : new ParsedSpiffeId(rest.slice(0, slash), rest.slice(slash));
}

/** True when `s` is a valid SPIFFE ID. */
export function isValidSpiffeId(s: string): boolean {
  return spiffeIdProblem(s) === undefined;
}
