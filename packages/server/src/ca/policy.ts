import { MutualError } from '@mutual/sdk';
import { cidrContains, parseCidr, parseIp, type Cidr } from './ip.js';

/** Profiles that a requester may obtain through the name policy (CA profiles are never requestable). */
export type LeafProfile = 'server' | 'client' | 'both';
export const LEAF_PROFILES: readonly LeafProfile[] = ['server', 'client', 'both'];

export interface ProfilePolicyInput {
  readonly dns: { readonly allow: readonly string[]; readonly allowWildcards: boolean };
  readonly ip: { readonly allow: readonly string[] };
  readonly spiffe: { readonly trustDomain: string | null; readonly paths: readonly string[] };
  readonly email: { readonly allow: readonly string[] };
  readonly maxLifetimeMs: number;
  readonly keyTypes: readonly string[];
}

export interface RequestedNames {
  readonly dns: readonly string[];
  readonly ip: readonly string[];
  readonly uri: readonly string[];
  readonly email: readonly string[];
}

/** A profile's policy compiled once at load: every check is a plain function of its input. */
export interface CompiledProfilePolicy {
  readonly profile: LeafProfile;
  readonly maxLifetimeMs: number;
  readonly keyTypes: readonly string[];
  /** Throws ERR_POLICY_* naming the rule that refused; returns the names normalized (DNS lowercased). */
  checkNames(names: RequestedNames): RequestedNames;
  checkLifetime(lifetimeMs: number): void;
}

const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const SPIFFE_SEGMENT = /^[A-Za-z0-9._-]+$/;
const TRUST_DOMAIN = /^[a-z0-9._-]+$/;

/**
 * Checks a DNS allow pattern: `host.example.com`, `*.example.com` (one label), `**.example.com` (one
 * or more labels). A pattern may cover a whole private suffix (`**.internal`); wildcard *certificates*
 * are checked separately and always need two labels after the `*`.
 */
export function dnsPatternProblem(pattern: string): string | undefined {
  const labels = pattern.split('.');
  if (pattern.length > 253 || labels.length === 0) return 'too long or empty';
  for (let i = 0; i < labels.length; i++) {
    const label = labels[i] ?? '';
    if (i === 0 && (label === '*' || label === '**')) {
      if (labels.length < 2) return 'a wildcard needs at least one label after it';
      continue;
    }
    if (!LABEL.test(label)) return `label "${label}" is not a lowercase DNS label`;
  }
  return undefined;
}

/** Checks an email allow pattern: `user@example.com` or `*@example.com`. */
export function emailPatternProblem(pattern: string): string | undefined {
  const at = pattern.lastIndexOf('@');
  if (at <= 0) return 'expected local@domain or *@domain';
  const local = pattern.slice(0, at);
  const domain = pattern.slice(at + 1);
  if (local !== '*' && !/^[A-Za-z0-9.!#$%&'+/=?^_`{|}~-]{1,64}$/.test(local)) return 'invalid local part';
  return dnsPatternProblem(domain);
}

// Checks a SPIFFE path pattern such as /ns/STAR/sa/STAR or /service/STARSTAR: STAR is one segment, STARSTAR (last only) one or more.
export function spiffePathPatternProblem(pattern: string): string | undefined {
  if (!pattern.startsWith('/')) return 'must start with "/"';
  const segments = pattern.slice(1).split('/');
  for (let i = 0; i < segments.length; i++) {
    const s = segments[i] ?? '';
    if (s === '**') {
      if (i !== segments.length - 1) return '"**" may only be the last segment';
      continue;
    }
    if (s === '*') continue;
    if (!SPIFFE_SEGMENT.test(s) || s === '.' || s === '..') return `segment "${s}" is not a valid SPIFFE path segment`;
  }
  return undefined;
}

export function trustDomainProblem(td: string): string | undefined {
  if (td.length === 0 || td.length > 255 || !TRUST_DOMAIN.test(td)) {
    return 'trust domain must be lowercase letters, digits, ".", "-" or "_"';
  }
  return undefined;
}

export function cidrProblem(text: string): string | undefined {
  return parseCidr(text) ? undefined : 'not an address or CIDR with zero host bits';
}

function matchDns(pattern: string, name: string): boolean {
  const p = pattern.split('.');
  const n = name.split('.');
  const first = p[0];
  if (first === '**') {
    const rest = p.slice(1);
    return n.length > rest.length && n.slice(n.length - rest.length).join('.') === rest.join('.');
  }
  if (p.length !== n.length) return false;
  return p.every((label, i) => label === n[i] || (i === 0 && label === '*'));
}

function matchSpiffePath(pattern: string, path: string): boolean {
  const p = pattern.slice(1).split('/');
  const s = path.slice(1).split('/');
  for (let i = 0; i < p.length; i++) {
    const seg = p[i];
    if (seg === '**') return s.length > i;
    if (i >= s.length) return false;
    if (seg !== '*' && seg !== s[i]) return false;
  }
  return p.length === s.length;
}

function refuse(
  code:
    | 'ERR_POLICY_DNS_NOT_ALLOWED'
    | 'ERR_POLICY_IP_NOT_ALLOWED'
    | 'ERR_POLICY_URI_NOT_ALLOWED'
    | 'ERR_POLICY_EMAIL_NOT_ALLOWED'
    | 'ERR_POLICY_WILDCARD_NOT_ALLOWED'
    | 'ERR_POLICY_NAME_INVALID'
    | 'ERR_POLICY_NO_NAMES',
  rule: string,
  name?: string,
  reason?: string,
): never {
  throw new MutualError(code, {
    details: { rule, ...(name === undefined ? {} : { name }), ...(reason === undefined ? {} : { reason }) },
  });
}

const SPIFFE_PREFIX = 'spiffe://';

/** Splits a SPIFFE ID strictly enough for policy; full grammar checks happen again when the certificate is built. */
function splitSpiffe(uri: string): { trustDomain: string; path: string } | undefined {
  if (!uri.startsWith(SPIFFE_PREFIX)) return undefined;
  const rest = uri.slice(SPIFFE_PREFIX.length);
  const slash = rest.indexOf('/');
  const trustDomain = slash < 0 ? rest : rest.slice(0, slash);
  const path = slash < 0 ? '' : rest.slice(slash);
  if (trustDomainProblem(trustDomain) !== undefined) return undefined;
  if (
    path !== '' &&
    (path.endsWith('/') || spiffePathPatternProblem(path) !== undefined || /(^|\/)\*{1,2}(\/|$)/.test(path))
  ) {
    return undefined;
  }
  return { trustDomain, path };
}

/** Compiles one profile's policy. Empty allow-lists admit nobody (fail closed). */
export function compileProfilePolicy(profile: LeafProfile, input: ProfilePolicyInput): CompiledProfilePolicy {
  const base = `policy.${profile}`;
  const dnsAllow = input.dns.allow.map((p) => p.toLowerCase());
  const cidrs: Cidr[] = input.ip.allow.map((c) => {
    const parsed = parseCidr(c);
    if (!parsed) throw new MutualError('ERR_CONFIG_INVALID', { details: { path: `${base}.ip.allow`, value: c } });
    return parsed;
  });
  const emailAllow = input.email.allow.map((p) => p.toLowerCase());

  const checkDns = (raw: string): string => {
    if (raw.length > 253 || /[\0\r\n\s]/.test(raw))
      refuse('ERR_POLICY_NAME_INVALID', `${base}.dns`, raw.slice(0, 80), 'malformed DNS name');
    const name = raw.toLowerCase();
    const labels = name.split('.');
    const wildcard = labels[0] === '*';
    const rest = wildcard ? labels.slice(1) : labels;
    if (labels.length < 1 || !rest.every((l) => LABEL.test(l)) || labels.slice(1).includes('*')) {
      refuse('ERR_POLICY_NAME_INVALID', `${base}.dns`, name, 'not a valid DNS name');
    }
    if (wildcard) {
      if (!input.dns.allowWildcards) refuse('ERR_POLICY_WILDCARD_NOT_ALLOWED', `${base}.dns.allowWildcards`, name);
      if (rest.length < 2)
        refuse('ERR_POLICY_NAME_INVALID', `${base}.dns`, name, 'a wildcard needs at least two labels after it');
    }
    if (!dnsAllow.some((p) => matchDns(p, name))) refuse('ERR_POLICY_DNS_NOT_ALLOWED', `${base}.dns.allow`, name);
    return name;
  };

  const checkIp = (raw: string): string => {
    const bytes = parseIp(raw);
    if (!bytes) refuse('ERR_POLICY_NAME_INVALID', `${base}.ip`, raw.slice(0, 80), 'not an IP address');
    if (!cidrs.some((c) => cidrContains(c, bytes))) refuse('ERR_POLICY_IP_NOT_ALLOWED', `${base}.ip.allow`, raw);
    return raw;
  };

  const checkUri = (raw: string): string => {
    const id = splitSpiffe(raw);
    if (!id) {
      if (raw.startsWith(SPIFFE_PREFIX))
        refuse('ERR_POLICY_NAME_INVALID', `${base}.spiffe`, raw.slice(0, 120), 'not a valid SPIFFE ID');
      refuse(
        'ERR_POLICY_URI_NOT_ALLOWED',
        `${base}.spiffe`,
        raw.slice(0, 120),
        'only SPIFFE IDs may be requested as URI names',
      );
    }
    if (input.spiffe.trustDomain === null || id.trustDomain !== input.spiffe.trustDomain) {
      refuse('ERR_POLICY_URI_NOT_ALLOWED', `${base}.spiffe.trustDomain`, raw);
    }
    if (!input.spiffe.paths.some((p) => matchSpiffePath(p, id.path)))
      refuse('ERR_POLICY_URI_NOT_ALLOWED', `${base}.spiffe.paths`, raw);
    return raw;
  };

  const checkEmail = (raw: string): string => {
    if (raw.length > 254 || /[\0\r\n\s]/.test(raw))
      refuse('ERR_POLICY_NAME_INVALID', `${base}.email`, raw.slice(0, 80), 'malformed email');
    const at = raw.lastIndexOf('@');
    const local = raw.slice(0, at);
    const domain = raw.slice(at + 1).toLowerCase();
    if (at <= 0 || emailPatternProblem(`${local}@${domain}`) !== undefined) {
      refuse('ERR_POLICY_NAME_INVALID', `${base}.email`, raw, 'not a valid email address');
    }
    const ok = emailAllow.some((p) => {
      const pAt = p.lastIndexOf('@');
      const pLocal = p.slice(0, pAt);
      const pDomain = p.slice(pAt + 1);
      return (pLocal === '*' || pLocal === local.toLowerCase()) && matchDns(pDomain, domain);
    });
    if (!ok) refuse('ERR_POLICY_EMAIL_NOT_ALLOWED', `${base}.email.allow`, raw);
    return `${local}@${domain}`;
  };

  return Object.freeze({
    profile,
    maxLifetimeMs: input.maxLifetimeMs,
    keyTypes: Object.freeze([...input.keyTypes]),
    checkNames(names: RequestedNames): RequestedNames {
      const total = names.dns.length + names.ip.length + names.uri.length + names.email.length;
      if (total === 0) refuse('ERR_POLICY_NO_NAMES', base);
      if (total > 100) refuse('ERR_POLICY_NAME_INVALID', base, undefined, 'more than 100 names');
      if (names.uri.length > 1) {
        refuse('ERR_POLICY_URI_NOT_ALLOWED', `${base}.spiffe`, undefined, 'an X509-SVID carries exactly one SPIFFE ID');
      }
      const dedupe = (xs: string[]): string[] => [...new Set(xs)];
      return Object.freeze({
        dns: dedupe(names.dns.map(checkDns)),
        ip: dedupe(names.ip.map(checkIp)),
        uri: dedupe(names.uri.map(checkUri)),
        email: dedupe(names.email.map(checkEmail)),
      });
    },
    checkLifetime(lifetimeMs: number): void {
      if (!Number.isFinite(lifetimeMs) || lifetimeMs <= 0) {
        throw new MutualError('ERR_POLICY_LIFETIME_EXCEEDED', {
          message: 'The lifetime must be positive.',
          details: { rule: `${base}.maxLifetime` },
        });
      }
      if (lifetimeMs > input.maxLifetimeMs) {
        throw new MutualError('ERR_POLICY_LIFETIME_EXCEEDED', {
          details: { rule: `${base}.maxLifetime`, requestedMs: lifetimeMs, maxMs: input.maxLifetimeMs },
        });
      }
    },
  });
}
