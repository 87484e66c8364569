/**
 * Authorization: ordered routes (host, exact path or segment-aware prefix, methods) compiled at
 * load into plain functions; the first matching route decides. Default deny; an empty allow-list
 * admits nobody; a route in audit mode forwards but reports what it would have denied.
 */
import { spiffeGlobMatcher, trustDomainOf } from '@mutual/sdk';
import type { GatewayAllowRule, GatewayPin, GatewayRouteConfig } from '../config/index.js';

/** What authorization knows of the peer: the verified identity and its validated path. */
export interface PeerIdentity {
  readonly type: 'spiffe' | 'dns' | 'none';
  readonly value: string | undefined;
  readonly spiffeId: string | undefined;
  readonly dnsNames: readonly string[];
  /** Validated path, leaf first: fingerprint (hex), SPKI hash (base64), issuer and serial (hex). */
  readonly path: readonly {
    readonly fingerprint: string;
    readonly spkiSha256: string;
    readonly issuer: string;
    readonly serial: string;
  }[];
}

export type Decision =
  | { readonly decision: 'allow'; readonly route: CompiledRoute; readonly reason: string }
  | { readonly decision: 'audit-deny'; readonly route: CompiledRoute; readonly reason: string }
  | { readonly decision: 'deny'; readonly route: CompiledRoute | undefined; readonly reason: string };

export interface CompiledRoute {
  readonly name: string;
  readonly config: GatewayRouteConfig;
  matches(host: string | undefined, path: string, method: string): boolean;
  /** undefined when admitted; else why not. */
  refuse(peer: PeerIdentity | undefined, atMs: number): string | undefined;
}

type Matcher = (peer: PeerIdentity) => boolean;

const compileGlob = spiffeGlobMatcher;

/** One allow rule as a predicate over the verified identity. */
export function compileAllow(rule: GatewayAllowRule): Matcher {
  if ('spiffeId' in rule) {
    const want = rule.spiffeId;
    return (p) => p.spiffeId === want;
  }
  if ('spiffePrefix' in rule) {
    const base = rule.spiffePrefix.endsWith('/') ? rule.spiffePrefix.slice(0, -1) : rule.spiffePrefix;
    return (p) => p.spiffeId !== undefined && (p.spiffeId === base || p.spiffeId.startsWith(`${base}/`));
  }
  if ('spiffeGlob' in rule) {
    const match = compileGlob(rule.spiffeGlob);
    return (p) => p.spiffeId !== undefined && match(p.spiffeId);
  }
  if ('dns' in rule) {
    const want = rule.dns.toLowerCase();
    return (p) => p.type === 'dns' && p.dnsNames.some((d) => d.toLowerCase() === want);
  }
  const td = rule.trustDomain;
  return (p) => p.spiffeId !== undefined && trustDomainOf(p.spiffeId) === td;
}

/** Whether a peer's validated path matches a pin still in force at `atMs`. */
export type PinCheck = (peer: PeerIdentity, atMs: number) => boolean;

/**
 * Pins match a certificate of the validated path: its hash, its SPKI hash, or issuer and serial
 * together. A pin past its `until` matches nothing (when every pin has passed, nobody matches).
 */
export function compilePins(pins: readonly GatewayPin[]): PinCheck | undefined {
  if (pins.length === 0) return undefined;
  const checks = pins.map((pin): { until: number; match: (e: PeerIdentity['path'][number]) => boolean } => {
    const until = pin.until ?? Number.POSITIVE_INFINITY;
    if ('certificate' in pin) return { until, match: (e) => e.fingerprint.toLowerCase() === pin.certificate };
    if ('spki' in pin) return { until, match: (e) => e.spkiSha256 === pin.spki };
    return {
      until,
      match: (e) => e.issuer === pin.issuer && e.serial.toLowerCase().replace(/^0+(?=.)/, '') === pin.serial,
    };
  });
  return (peer, atMs) => peer.path.some((e) => checks.some((c) => atMs < c.until && c.match(e)));
}

/** The earliest `until` still ahead of `atMs` among pins, if any: when a verdict may change. */
export function nextPinExpiry(pins: readonly GatewayPin[], atMs: number): number | undefined {
  let next: number | undefined;
  for (const p of pins)
    if (p.until !== undefined && p.until > atMs && (next === undefined || p.until < next)) next = p.until;
  return next;
}

function hostMatcher(pattern: string | undefined): (host: string | undefined) => boolean {
  if (pattern === undefined) return () => true;
  if (pattern.startsWith('*.')) {
    const suffix = pattern.slice(1);
    return (h) => h !== undefined && h.endsWith(suffix) && !h.slice(0, -suffix.length).includes('.');
  }
  return (h) => h === pattern;
}

function pathMatcher(spec: GatewayRouteConfig['path']): (path: string) => boolean {
  if ('exact' in spec) {
    const want = spec.exact;
    return (p) => p === want;
  }
  const prefix = spec.prefix;
  if (prefix.endsWith('/')) return (p) => p.startsWith(prefix) || p === prefix.slice(0, -1);
  return (p) => p === prefix || p.startsWith(`${prefix}/`);
}

export function compileRoute(config: GatewayRouteConfig): CompiledRoute {
  const host = hostMatcher(config.host);
  const path = pathMatcher(config.path);
  const methods = config.methods ? new Set(config.methods) : undefined;
  const allow = config.allow.map(compileAllow);
  const pins = compilePins(config.pins);
  return Object.freeze({
    name: config.name,
    config,
    matches: (h: string | undefined, p: string, m: string) => host(h) && path(p) && (!methods || methods.has(m)),
    refuse: (peer: PeerIdentity | undefined, atMs: number): string | undefined => {
      if (config.anonymous) return undefined;
      if (!peer) return 'no-client-certificate';
      if (allow.length === 0) return 'empty-allow-list';
      if (!allow.some((a) => a(peer))) return 'identity-not-allowed';
      if (pins && !pins(peer, atMs)) return 'pin-mismatch';
      return undefined;
    },
  });
}

export interface Policy {
  readonly routes: readonly CompiledRoute[];
  /** `atMs`: the gateway's clock, for pins with an `until` (default: now). */
  decide(
    host: string | undefined,
    path: string,
    method: string,
    peer: PeerIdentity | undefined,
    atMs?: number,
  ): Decision;
  /** True when some route admits clients without a certificate. */
  readonly anonymous: boolean;
}

/** Routes compiled in order; the first route whose host, path and method match decides. */
export function compilePolicy(routes: readonly GatewayRouteConfig[]): Policy {
  const compiled = routes.map(compileRoute);
  return Object.freeze({
    routes: compiled,
    anonymous: routes.some((r) => r.anonymous),
    decide(
      host: string | undefined,
      path: string,
      method: string,
      peer: PeerIdentity | undefined,
      atMs: number = Date.now(),
    ): Decision {
      const route = compiled.find((r) => r.matches(host, path, method));
      if (!route) return { decision: 'deny', route: undefined, reason: 'no-route' };
      const why = route.refuse(peer, atMs);
      if (why === undefined)
        return { decision: 'allow', route, reason: route.config.anonymous ? 'anonymous' : 'allowed' };
      if (route.config.mode === 'audit') return { decision: 'audit-deny', route, reason: why };
      return { decision: 'deny', route, reason: why };
    },
  });
}
