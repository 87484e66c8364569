import { readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { MutualError, isValidDnsName, parseDuration, spiffeIdProblem } from '@mutual/sdk';
import { deepFreeze, parseConfigText, validateConfig } from './load.js';

/**
 * gateway.yaml: listeners (server certificate, trust bundles, ordered routes), upstreams, the admin
 * listener, audit, HTTP limits, rate limits and revocation sources. Rules are checked here (grammar,
 * references, duplicates); gateway/ compiles them into matchers at load.
 */

const duration = (what: string, maxMs = 7 * 24 * 3_600_000) =>
  z.string().transform((text, ctx) => {
    const ms = parseDuration(text);
    if (ms === undefined || ms <= 0 || ms > maxMs) {
      ctx.addIssue({ code: 'custom', message: `${what}: expected a duration such as 10s, 5m or 1h` });
      return z.NEVER;
    }
    return ms;
  });

const NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;
const name = z.string().regex(NAME, 'lowercase letters, digits, "-" or "_", at most 63 characters');

const listenSchema = z.strictObject({
  host: z.string().min(1).max(255).default('127.0.0.1'),
  port: z.number().int().min(0).max(65535),
});

const spiffeId = z.string().superRefine((v, ctx) => {
  const p = spiffeIdProblem(v);
  if (p !== undefined) ctx.addIssue({ code: 'custom', message: `"${v}" is not a valid SPIFFE ID (${p})` });
});

const TRUST_DOMAIN = /^[a-z0-9._-]{1,255}$/;
const SPIFFE_GLOB_SEGMENT = /^(\*|\*\*|[A-Za-z0-9._-]+)$/;

/** `spiffe://td/a/` (segment-aware prefix) or `spiffe://td` (the whole trust domain). */
const spiffePrefix = z.string().superRefine((v, ctx) => {
  const trimmed = v.endsWith('/') ? v.slice(0, -1) : v;
  const p = spiffeIdProblem(trimmed);
  if (p !== undefined) ctx.addIssue({ code: 'custom', message: `"${v}" is not a SPIFFE ID prefix (${p})` });
});

const spiffeGlob = z.string().superRefine((v, ctx) => {
  const m = /^spiffe:\/\/([^/]+)((?:\/[^/]+)+)$/.exec(v);
  const segments = m?.[2]?.split('/').slice(1) ?? [];
  const bad =
    m === null ||
    !TRUST_DOMAIN.test(m[1] ?? '') ||
    segments.some((s) => !SPIFFE_GLOB_SEGMENT.test(s) || s === '.' || s === '..') ||
    segments.slice(0, -1).includes('**');
  if (bad) {
    ctx.addIssue({
      code: 'custom',
      message: `"${v}": expected spiffe://<trust domain>/<segments>, where a segment is a name, * (one segment) or a final ** (one or more)`,
    });
  }
});

const dnsName = z.string().superRefine((v, ctx) => {
  if (!isValidDnsName(v, { allowWildcard: true }))
    ctx.addIssue({ code: 'custom', message: `"${v}" is not a valid DNS name` });
});

const hostPattern = z.string().superRefine((v, ctx) => {
  if (v !== v.toLowerCase() || !isValidDnsName(v, { allowWildcard: true }))
    ctx.addIssue({ code: 'custom', message: `"${v}": expected a lowercase host name, optionally *.example.com` });
});

const HEX64 = /^[0-9a-f]{64}$/;
/**
 * A pin may say when it stops counting (`until`, an ISO 8601 time with offset): pin the next
 * certificate or key beside the current one, give the current one an `until`, and the gateway stops
 * accepting it on time, without a reload — open connections that relied on it are closed then.
 */
const pinUntil = z.iso
  .datetime({ offset: true })
  .transform((s) => Date.parse(s))
  .optional();

const pinSchema = z.union([
  z.strictObject({
    /** SHA-256 of the certificate's DER, hex (colons allowed). */
    certificate: z
      .string()
      .transform((s) => s.replace(/:/g, '').toLowerCase())
      .refine((s) => HEX64.test(s), 'expected 64 hex digits (SHA-256 of the certificate)'),
    until: pinUntil,
  }),
  z.strictObject({
    /** SHA-256 of the SubjectPublicKeyInfo, base64 (`sha256/` prefix allowed). */
    spki: z
      .string()
      .transform((s) => (s.startsWith('sha256/') ? s.slice(7) : s))
      .refine((s) => /^[A-Za-z0-9+/]{43}=$/.test(s), 'expected base64 of a SHA-256 (44 characters)'),
    until: pinUntil,
  }),
  z.strictObject({
    /** Issuer as `mutual verify` prints it, and the serial in hex. Matched together, never the serial alone. */
    issuer: z.string().min(1).max(1024),
    serial: z
      .string()
      .transform((s) =>
        s
          .replace(/:/g, '')
          .toLowerCase()
          .replace(/^0+(?=.)/, ''),
      )
      .refine((s) => /^[0-9a-f]{1,40}$/.test(s), 'expected the serial number in hex'),
    until: pinUntil,
  }),
]);

const allowSchema = z.union([
  z.strictObject({ spiffeId }),
  z.strictObject({ spiffePrefix }),
  z.strictObject({ spiffeGlob }),
  z.strictObject({ dns: dnsName }),
  z.strictObject({
    trustDomain: z.string().regex(TRUST_DOMAIN, 'a SPIFFE trust domain name (lowercase letters, digits, . _ -)'),
  }),
]);

const METHOD = /^[A-Z][A-Z0-9-]{0,31}$/;

const routeSchema = z
  .strictObject({
    name,
    host: hostPattern.optional(),
    path: z.union([
      z.strictObject({ exact: z.string().regex(/^\/[\x21-\x7e]*$/, 'a path starting with /') }),
      z.strictObject({ prefix: z.string().regex(/^\/[\x21-\x7e]*$/, 'a path starting with /') }),
    ]),
    methods: z.array(z.string().regex(METHOD, 'an HTTP method in upper case')).min(1).optional(),
    /** enforce: deny what no rule allows; audit: forward, but audit what would have been denied. */
    mode: z.enum(['enforce', 'audit']).default('enforce'),
    /** Admit requests without a client certificate. Must be said explicitly. */
    anonymous: z.boolean().default(false),
    /** Who may use the route. An empty list admits nobody. */
    allow: z.array(allowSchema).default([]),
    /** The validated path must also contain a certificate matching one of these. */
    pins: z.array(pinSchema).default([]),
    upstream: name,
    forwardIdentity: z
      .strictObject({
        xfcc: z.boolean().default(true),
        clientCert: z.boolean().default(false),
      })
      .prefault({}),
  })
  .superRefine((r, ctx) => {
    if (r.anonymous && r.allow.length > 0)
      ctx.addIssue({ code: 'custom', path: ['allow'], message: 'an anonymous route admits everyone: remove allow' });
  });

const rateSchema = z.strictObject({
  /** Tokens added per second. */
  rate: z.number().positive().max(1e6),
  /** Bucket size: the largest burst. */
  burst: z.number().int().min(1).max(1e7),
});

const HOST_PORT = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]{0,253}[A-Za-z0-9])?):(\d{1,5})$/;
const hostPort = z.string().refine((v) => {
  const m = HOST_PORT.exec(v);
  return m !== null && Number(m[1]) >= 1 && Number(m[1]) <= 65535;
}, 'expected host:port (an IPv6 address in brackets)');

/**
 * A listener's own certificate from a mutual CA: enrolled with the one-time token in `tokenFile`,
 * renewed over mTLS at 2/3 of its lifetime with a new key, swapped in without dropping connections.
 */
const fromCaSchema = z
  .strictObject({
    /** Base URL of the CA. */
    url: z
      .url({ protocol: /^https$/ })
      .refine((u) => !/[?#]/.test(u), 'an https:// URL without query or fragment')
      .transform((u) => u.replace(/\/+$/, '')),
    /** PEM file of the CA's root (authenticates the CA). */
    rootFile: z.string().min(1).optional(),
    /** SHA-256 of the CA's root (hex, colons allowed), instead of rootFile: fetched once and pinned. */
    fingerprint: z
      .string()
      .transform((s) =>
        s
          .replace(/^sha256:/i, '')
          .replace(/:/g, '')
          .toLowerCase(),
      )
      .refine((s) => HEX64.test(s), 'expected 64 hex digits (SHA-256 of the root certificate)')
      .optional(),
    /** File holding a one-time enrollment token (`mutual token create <names> --profile server`). */
    tokenFile: z.string().min(1),
    /** Requested lifetime (the CA caps it); default the CA's. */
    lifetime: z
      .string()
      .refine((t) => {
        const ms = parseDuration(t);
        return ms !== undefined && ms > 0;
      }, 'expected a duration such as 1h or 24h')
      .optional(),
    keyType: z.enum(['p256', 'p384', 'rsa2048', 'rsa3072', 'rsa4096', 'ed25519']).default('p256'),
    /**
     * Keep the certificate on disk (a crash-safe pair, key 0600): a restarted gateway starts from it
     * and renews it, instead of needing a new token.
     */
    persist: z.strictObject({ certificate: z.string().min(1), key: z.string().min(1) }).optional(),
  })
  .superRefine((f, ctx) => {
    if ((f.rootFile === undefined) === (f.fingerprint === undefined))
      ctx.addIssue({ code: 'custom', message: 'give exactly one of rootFile and fingerprint' });
  });

const listenerSchema = z.strictObject({
  name,
  /** http: requests are routed (routes); tcp: each authorized connection is relayed to `upstream`. */
  mode: z.enum(['http', 'tcp']).default('http'),
  /** tcp mode: who may connect. An empty list admits nobody. */
  allow: z.array(allowSchema).optional(),
  /** tcp mode: host:port the bytes of each admitted connection are relayed to. */
  upstream: hostPort.optional(),
  /** tcp mode: send a PROXY protocol v2 header carrying the peer's address and verified identity. */
  proxyProtocol: z.enum(['off', 'v2']).default('off'),
  listen: listenSchema,
  tls: z.union([
    z.strictObject({
      /** PEM: the server certificate, optionally followed by its chain. */
      certificate: z.string().min(1),
      key: z.string().min(1),
      /** PEM file of further intermediates sent after the certificate. */
      chain: z.string().min(1).optional(),
    }),
    /** The server certificate comes from a mutual CA and renews itself in memory (no files). */
    z.strictObject({ fromCa: fromCaSchema }),
  ]),
  clientAuth: z.strictObject({
    /** PEM files of the CA certificates client chains must lead to. */
    trustBundles: z.array(z.string().min(1)).min(1),
    /** Most intermediates between a client leaf and an anchor. */
    maxChainDepth: z.number().int().min(0).max(8).default(4),
    /** Every accepted client chain must contain a certificate matching one of these. */
    pins: z.array(pinSchema).default([]),
  }),
  routes: z.array(routeSchema).default([]),
});

const upstreamSchema = z.strictObject({
  url: z
    .url({ protocol: /^http$/ })
    .refine((u) => new URL(u).pathname === '/' && !/[?#]/.test(u), 'an http:// URL without path, query or fragment'),
  connectTimeout: duration('connectTimeout').default(5_000),
  /** Time to the response's headers. */
  responseTimeout: duration('responseTimeout').default(30_000),
  /** Idle pooled connections are closed after this long. */
  idleTimeout: duration('idleTimeout').default(30_000),
  maxSockets: z.number().int().min(1).max(10_000).default(256),
});

const revocationSourceSchema = z.union([
  z.strictObject({ file: z.string().min(1) }),
  z.strictObject({
    url: z.url({ protocol: /^https?$/ }),
    /** How often the URL is polled (with If-None-Match). */
    interval: duration('interval', 24 * 3_600_000).default(30_000),
    /** PEM file of the CA certificates that authenticate an https URL (default: the system's). */
    ca: z.string().min(1).optional(),
  }),
  z.strictObject({
    /**
     * Base URL of a mutual CA: its revocation feed (GET /v1/revocations, server-sent events) is
     * followed, and its CRLs (/v1/crl/all: every level, previous intermediates included) are polled
     * alongside so a missed event is caught.
     */
    feed: z
      .url({ protocol: /^https$/ })
      .refine((u) => !/[?#]/.test(u), 'an https:// URL without query or fragment')
      .transform((u) => u.replace(/\/+$/, '')),
    /** PEM file of the CA's root certificate(s) that authenticate the CA's TLS certificate. */
    ca: z.string().min(1),
    /** How often the CRLs are polled (with If-None-Match). */
    interval: duration('interval', 24 * 3_600_000).default(30_000),
  }),
]);

/** Reports to a mutual CA (POST /v1/reports): health, certificates seen in use, failed authentications. */
const reportSchema = z
  .strictObject({
    /** Base URL of the mutual CA. */
    url: z
      .url({ protocol: /^https$/ })
      .refine((u) => !/[?#]/.test(u), 'an https:// URL without query or fragment')
      .transform((u) => u.replace(/\/+$/, '')),
    /** PEM file of the CA's root certificate(s) that authenticate the CA's TLS certificate. */
    ca: z.string().min(1),
    /** The component name shown by the CA (default "gateway"). */
    name: name.default('gateway'),
    /** Client certificate and key for the CA; default: the first listener's certificate and key. */
    certificate: z.string().min(1).optional(),
    key: z.string().min(1).optional(),
    /** How often a report is sent (heartbeat). */
    interval: duration('report.interval', 3_600_000).default(30_000),
    /** Most distinct client certificates and failed authentications kept between two reports. */
    maxItems: z.number().int().min(1).max(10_000).default(1000),
  })
  .refine((r) => (r.certificate === undefined) === (r.key === undefined), {
    message: 'set both certificate and key, or neither',
    path: ['certificate'],
  });

export const gatewayConfigSchema = z
  .strictObject({
    version: z.literal(1),
    listeners: z.array(listenerSchema).min(1),
    upstreams: z.record(name, upstreamSchema),
    admin: z.strictObject({ listen: listenSchema.prefault({ port: 9090 }) }).prefault({ listen: { port: 9090 } }),
    audit: z
      .strictObject({
        /** JSON-lines file the audit records are appended to; "-" writes them to stdout. */
        file: z.string().min(1).default('-'),
      })
      .prefault({}),
    http: z
      .strictObject({
        headersTimeout: duration('headersTimeout', 600_000).default(10_000),
        requestTimeout: duration('requestTimeout', 3_600_000).default(60_000),
        keepAliveTimeout: duration('keepAliveTimeout', 600_000).default(5_000),
        maxHeaderSize: z
          .number()
          .int()
          .min(1024)
          .max(64 * 1024)
          .default(16 * 1024),
      })
      .prefault({}),
    rateLimits: z
      .strictObject({
        perIdentity: rateSchema.optional(),
        perAddress: rateSchema.optional(),
        /** Failed handshakes per source address; beyond them connections are closed before the handshake. */
        failedHandshakes: rateSchema.optional(),
        /**
         * Where the buckets live: absent, in this process's memory; `{ redis: {...} }`, in Redis, shared
         * by every gateway (and every worker) using the same Redis and key prefix.
         */
        store: z
          .strictObject({
            redis: z.strictObject({
              /** redis://[:password@]host:port[/db] or rediss:// (TLS). */
              url: z
                .url({ protocol: /^rediss?$/ })
                .refine((u) => !/[?#]/.test(u), 'a redis:// or rediss:// URL without query or fragment'),
              /** Prefix of every key the gateway writes. */
              keyPrefix: z
                .string()
                .regex(/^[\x21-\x7e]{0,64}$/, 'printable ASCII without spaces, at most 64 characters')
                .default('mutual:ratelimit:'),
              /** Longest wait for Redis per decision; then the fallback below applies. */
              timeout: duration('timeout', 5_000).default(50),
              /**
               * Redis unreachable or slow: false (default) falls back to this process's memory buckets;
               * true answers requests with 503 instead.
               */
              failClosed: z.boolean().default(false),
            }),
          })
          .optional(),
      })
      .prefault({}),
    revocation: z
      .strictObject({
        sources: z.array(revocationSourceSchema).default([]),
        /** After a CRL's nextUpdate plus this grace the gateway refuses that issuer's clients. */
        grace: duration('grace').default(3_600_000),
        /**
         * Which issuers of a client chain must have a verified CRL that is not stale: 'leaf' (the
         * leaf's issuer) or 'all' (every CA of the path). Other levels are checked when a CRL exists.
         */
        require: z.enum(['leaf', 'all']).default('leaf'),
        /** Issuers (as `mutual verify` prints them) for which stale revocation data is ignored. */
        failOpen: z.array(z.string().min(1)).default([]),
      })
      .prefault({}),
    /** Reload certificates, keys, trust bundles, CRL files and this file when they change. */
    watch: z.boolean().default(true),
    /**
     * Processes serving the listeners (node:cluster shares each listening socket): a number, or
     * `auto` for one per available core. 1 runs everything in one process.
     */
    workers: z.union([z.number().int().min(1).max(256), z.literal('auto')]).default(1),
    report: reportSchema.optional(),
  })
  .superRefine((config, ctx) => {
    if (typeof config.workers === 'number' && config.workers > 1) {
      if (config.report !== undefined)
        ctx.addIssue({ code: 'custom', path: ['report'], message: 'report runs in one process only: use workers: 1' });
      config.listeners.forEach((l, i) => {
        if ('fromCa' in l.tls)
          ctx.addIssue({
            code: 'custom',
            path: ['listeners', i, 'tls', 'fromCa'],
            message: 'a certificate from the CA is enrolled by one process only: use workers: 1',
          });
      });
    }
    const seen = new Set<string>();
    const ports = new Set<string>();
    config.listeners.forEach((l, i) => {
      if (seen.has(l.name))
        ctx.addIssue({ code: 'custom', path: ['listeners', i, 'name'], message: `duplicate listener "${l.name}"` });
      seen.add(l.name);
      const addr = `${l.listen.host}:${l.listen.port}`;
      if (l.listen.port !== 0 && ports.has(addr))
        ctx.addIssue({ code: 'custom', path: ['listeners', i, 'listen'], message: `${addr} is used twice` });
      ports.add(addr);
      if (l.mode === 'tcp') {
        if (l.upstream === undefined)
          ctx.addIssue({
            code: 'custom',
            path: ['listeners', i, 'upstream'],
            message: 'a tcp listener needs upstream',
          });
        if (l.routes.length > 0)
          ctx.addIssue({
            code: 'custom',
            path: ['listeners', i, 'routes'],
            message: 'a tcp listener has no routes: put its allow rules on the listener',
          });
      } else {
        for (const key of ['allow', 'upstream'] as const)
          if (l[key] !== undefined)
            ctx.addIssue({ code: 'custom', path: ['listeners', i, key], message: `${key} is for mode: tcp` });
        if (l.proxyProtocol !== 'off')
          ctx.addIssue({
            code: 'custom',
            path: ['listeners', i, 'proxyProtocol'],
            message: 'proxyProtocol is for mode: tcp',
          });
      }
      const routes = new Set<string>();
      l.routes.forEach((r, j) => {
        if (routes.has(r.name))
          ctx.addIssue({
            code: 'custom',
            path: ['listeners', i, 'routes', j, 'name'],
            message: `duplicate route "${r.name}"`,
          });
        routes.add(r.name);
        if (!Object.hasOwn(config.upstreams, r.upstream))
          ctx.addIssue({
            code: 'custom',
            path: ['listeners', i, 'routes', j, 'upstream'],
            message: `no upstream named "${r.upstream}"`,
          });
      });
    });
  });

export type GatewayConfigInput = z.input<typeof gatewayConfigSchema>;
export type GatewayConfig = z.output<typeof gatewayConfigSchema>;
export type GatewayListenerConfig = GatewayConfig['listeners'][number];
export type GatewayRouteConfig = GatewayListenerConfig['routes'][number];
export type GatewayUpstreamConfig = GatewayConfig['upstreams'][string];
export type GatewayPin = z.output<typeof pinSchema>;
export type GatewayAllowRule = z.output<typeof allowSchema>;
export type GatewayRateLimitStore = GatewayConfig['rateLimits']['store'];
export type GatewayReportConfig = z.output<typeof reportSchema>;
export type GatewayFromCaConfig = z.output<typeof fromCaSchema>;

export interface LoadedGatewayConfig {
  readonly config: GatewayConfig;
  readonly file: string;
  readonly baseDir: string;
  /** The text the config was parsed from (a reload compares it). */
  readonly text: string;
  resolve(relative: string): string;
}

/** Validates gateway configuration text; every problem is reported at once with its path. */
export function parseGatewayConfig(text: string, file: string): LoadedGatewayConfig {
  const config = validateConfig(gatewayConfigSchema, parseConfigText(text, file), file);
  const baseDir = path.dirname(path.resolve(file));
  return deepFreeze({ config, file, baseDir, text, resolve: (p: string) => path.resolve(baseDir, p) });
}

/** Reads and validates gateway.yaml (ERR_CONFIG_NOT_FOUND, ERR_CONFIG_INVALID). */
export function loadGatewayConfig(file: string): LoadedGatewayConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new MutualError('ERR_CONFIG_NOT_FOUND', { details: { file }, cause: err });
  }
  return parseGatewayConfig(text, file);
}
