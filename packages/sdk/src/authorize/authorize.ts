import { MutualError } from '../errors/index.js';
import { isValidDnsName, spiffeIdProblem } from '../identity/index.js';

/**
 * What an authorizer looks at: the identity read from the DER of a *verified* leaf
 * (`extractIdentity`). Never build one from string forms of a certificate.
 */
export interface AuthorizeSubject {
  readonly kind: 'spiffe' | 'dns' | 'none';
  readonly spiffeId: string | null;
  readonly dnsNames: readonly string[];
}

/** A decision as a value: allowed, or denied with a reason for logs and audit (never for the peer). */
export type AuthorizeResult = { readonly ok: true } | { readonly ok: false; readonly reason: string };

/** A plain function value: compose them with `allOf` and `anyOf`. */
export type Authorizer = (id: AuthorizeSubject) => AuthorizeResult;

const ALLOW: AuthorizeResult = Object.freeze({ ok: true });
const deny = (reason: string): AuthorizeResult => Object.freeze({ ok: false, reason });

function bad(what: string, value: string, why: string): MutualError {
  return new MutualError('ERR_USAGE_INVALID_ARGUMENT', {
    message: `${what}: "${value}" ${why}.`,
    details: { argument: what },
  });
}

function checkedSpiffeId(what: string, id: string): string {
  const problem = spiffeIdProblem(id);
  if (problem !== undefined) throw bad(what, id, `is not a valid SPIFFE ID (${problem})`);
  return id;
}

const TRUST_DOMAIN = /^[a-z0-9._-]{1,255}$/;

/** The trust domain of a SPIFFE ID (what follows `spiffe://` up to the first `/`). */
export function trustDomainOf(spiffeId: string): string {
  const rest = spiffeId.slice('spiffe://'.length);
  const slash = rest.indexOf('/');
  return slash === -1 ? rest : rest.slice(0, slash);
}

const describe = (id: AuthorizeSubject): string =>
  id.kind === 'spiffe' ? (id.spiffeId ?? '') : id.kind === 'dns' ? `dns:${id.dnsNames.join(',')}` : 'no identity';

/** Admits every verified peer (go-spiffe `AuthorizeAny`): the chain check alone decides. */
export function authorizeAny(): Authorizer {
  return () => ALLOW;
}

/** Admits exactly this SPIFFE ID, compared byte for byte (go-spiffe `AuthorizeID`). */
export function authorizeID(spiffeId: string): Authorizer {
  const want = checkedSpiffeId('authorizeID', spiffeId);
  return (id) => (id.kind === 'spiffe' && id.spiffeId === want ? ALLOW : deny(`${describe(id)} is not ${want}`));
}

/** Admits any of these SPIFFE IDs (go-spiffe `AuthorizeOneOf`). No IDs admits nobody. */
export function authorizeOneOf(...spiffeIds: readonly string[]): Authorizer {
  const set = new Set(spiffeIds.map((s) => checkedSpiffeId('authorizeOneOf', s)));
  return (id) =>
    id.kind === 'spiffe' && id.spiffeId !== null && set.has(id.spiffeId)
      ? ALLOW
      : deny(`${describe(id)} is not one of ${set.size} allowed SPIFFE IDs`);
}

/** Admits every SPIFFE ID of this trust domain (go-spiffe `AuthorizeMemberOf`); `spiffe://td` or `td`. */
export function authorizeMemberOf(trustDomain: string): Authorizer {
  const td = trustDomain.startsWith('spiffe://') ? trustDomain.slice('spiffe://'.length) : trustDomain;
  if (!TRUST_DOMAIN.test(td)) throw bad('authorizeMemberOf', trustDomain, 'is not a SPIFFE trust domain name');
  return (id) =>
    id.kind === 'spiffe' && id.spiffeId !== null && trustDomainOf(id.spiffeId) === td
      ? ALLOW
      : deny(`${describe(id)} is not a member of ${td}`);
}

/**
 * Admits the SPIFFE IDs under a path, by whole segments: `spiffe://td/billing` (or with a final
 * `/`) admits `spiffe://td/billing` and `spiffe://td/billing/worker`, never `spiffe://td/billing-x`.
 */
export function authorizeSpiffePrefix(prefix: string): Authorizer {
  const base = prefix.endsWith('/') ? prefix.slice(0, -1) : prefix;
  checkedSpiffeId('authorizeSpiffePrefix', base);
  return (id) =>
    id.kind === 'spiffe' && id.spiffeId !== null && (id.spiffeId === base || id.spiffeId.startsWith(`${base}/`))
      ? ALLOW
      : deny(`${describe(id)} is not under ${base}`);
}

const GLOB_SEGMENT = /^(\*|\*\*|[A-Za-z0-9._-]+)$/;

/**
 * Admits SPIFFE IDs matching a glob of whole segments: `*` is exactly one segment, a final `**`
 * one or more. The trust domain is literal. `spiffe://td/ns/*\/sa/**`.
 */
export function authorizeSpiffeGlob(glob: string): Authorizer {
  const m = /^spiffe:\/\/([^/]+)((?:\/[^/]+)+)$/.exec(glob);
  const td = m?.[1] ?? '';
  const segs = (m?.[2] ?? '').split('/').slice(1);
  if (
    m === null ||
    !TRUST_DOMAIN.test(td) ||
    segs.some((s) => !GLOB_SEGMENT.test(s) || s === '.' || s === '..') ||
    segs.slice(0, -1).includes('**')
  ) {
    throw bad('authorizeSpiffeGlob', glob, 'is not spiffe://<trust domain>/<segments> with * or a final **');
  }
  const matches = spiffeGlobMatcher(glob);
  return (id) =>
    id.kind === 'spiffe' && id.spiffeId !== null && matches(id.spiffeId)
      ? ALLOW
      : deny(`${describe(id)} does not match ${glob}`);
}

/**
 * Admits a peer whose identity is DNS names (no SPIFFE ID) including this one. DNS names compare
 * case-insensitively (ASCII only, as DNS does); a certificate's wildcard name matches only the same
 * wildcard, never a concrete name.
 */
export function authorizeDnsName(name: string): Authorizer {
  if (!isValidDnsName(name, { allowWildcard: true })) throw bad('authorizeDnsName', name, 'is not a valid DNS name');
  const want = asciiLower(name);
  return (id) =>
    id.kind === 'dns' && id.dnsNames.some((d) => asciiLower(d) === want)
      ? ALLOW
      : deny(`${describe(id)} does not carry ${want}`);
}

function asciiLower(s: string): string {
  return s.replace(/[A-Z]/g, (c) => String.fromCharCode(c.charCodeAt(0) + 32));
}

/** Admits only when every authorizer admits (none given: admits nobody — fail closed). */
export function allOf(...authorizers: readonly Authorizer[]): Authorizer {
  const list = [...authorizers];
  return (id) => {
    if (list.length === 0) return deny('allOf() of no authorizers admits nobody');
    for (const a of list) {
      const r = a(id);
      if (!r.ok) return r;
    }
    return ALLOW;
  };
}

/** Admits when any authorizer admits (none given: admits nobody). The denial lists every reason. */
export function anyOf(...authorizers: readonly Authorizer[]): Authorizer {
  const list = [...authorizers];
  return (id) => {
    const reasons: string[] = [];
    for (const a of list) {
      const r = a(id);
      if (r.ok) return ALLOW;
      reasons.push(r.reason);
    }
    return deny(reasons.length === 0 ? 'anyOf() of no authorizers admits nobody' : reasons.join('; '));
  };
}

/**
 * The matcher of a SPIFFE glob already checked to be well formed (`authorizeSpiffeGlob` checks it;
 * the gateway's config does too): `*` is one whole segment, a final `**` one or more; the trust
 * domain is literal.
 */
export function spiffeGlobMatcher(glob: string): (spiffeId: string) => boolean {
  const m = /^spiffe:\/\/([^/]+)(\/.*)$/.exec(glob);
  const td = m?.[1] ?? '';
  const segs = (m?.[2] ?? '').split('/').slice(1);
  return (spiffeId) => {
    if (trustDomainOf(spiffeId) !== td) return false;
    const path = spiffeId.slice(`spiffe://${td}`.length);
    const parts = path === '' ? [] : path.split('/').slice(1);
    for (let i = 0; i < segs.length; i++) {
      const s = segs[i] as string;
      if (s === '**') return parts.length > i;
      const p = parts[i];
      if (p === undefined) return false;
      if (s !== '*' && s !== p) return false;
    }
    return parts.length === segs.length;
  };
}
