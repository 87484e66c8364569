import { z } from 'zod';
import {
  cidrProblem,
  dnsPatternProblem,
  emailPatternProblem,
  spiffePathPatternProblem,
  trustDomainProblem,
} from '../ca/index.js';
import { parseDuration } from '@mutual/sdk';
import { isPkcs11Uri, parsePkcs11Uri } from '../keys/index.js';

export const KEY_TYPES = ['p256', 'p384', 'rsa2048', 'rsa3072', 'rsa4096', 'ed25519'] as const;

const duration = (what: string) =>
  z.string().transform((text, ctx) => {
    const ms = parseDuration(text);
    if (ms === undefined || ms <= 0) {
      ctx.addIssue({ code: 'custom', message: `${what}: expected a duration such as 24h, 90d or 1h30m` });
      return z.NEVER;
    }
    return ms;
  });

const durationOrZero = (what: string, maxMs: number) =>
  z.string().transform((text, ctx) => {
    const ms = parseDuration(text);
    if (ms === undefined || ms < 0 || ms > maxMs) {
      ctx.addIssue({ code: 'custom', message: `${what}: expected a duration from 0s to ${maxMs / 3_600_000}h` });
      return z.NEVER;
    }
    return ms;
  });

const checked = (problem: (s: string) => string | undefined) =>
  z.string().superRefine((value, ctx) => {
    const p = problem(value);
    if (p !== undefined) ctx.addIssue({ code: 'custom', message: `"${value}": ${p}` });
  });

/** A secret is never written in the config: it is a reference to a file or an environment variable. */
export const secretRefSchema = z.union([
  z.strictObject({ file: z.string().min(1) }),
  z.strictObject({ env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name') }),
]);

const profilePolicySchema = z.strictObject({
  dns: z
    .strictObject({
      allow: z.array(checked(dnsPatternProblem)).default([]),
      allowWildcards: z.boolean().default(false),
    })
    .default({ allow: [], allowWildcards: false }),
  ip: z.strictObject({ allow: z.array(checked(cidrProblem)).default([]) }).default({ allow: [] }),
  spiffe: z
    .strictObject({
      trustDomain: checked(trustDomainProblem).nullable().default(null),
      paths: z.array(checked(spiffePathPatternProblem)).default([]),
    })
    .default({ trustDomain: null, paths: [] }),
  email: z.strictObject({ allow: z.array(checked(emailPatternProblem)).default([]) }).default({ allow: [] }),
  maxLifetime: duration('maxLifetime').default(2_592_000_000),
  keyTypes: z
    .array(z.enum(KEY_TYPES))
    .min(1)
    .default([...KEY_TYPES]),
});

const HOUR = 3_600_000;

/**
 * The online CA (`mutual ca serve`). Every key is optional: a ca.yaml without `server:` serves on
 * 127.0.0.1:8443 with a TLS certificate from its own CA.
 */
export const serverSchema = z
  .strictObject({
    listen: z
      .strictObject({
        host: z.string().min(1).max(255).default('127.0.0.1'),
        port: z.number().int().min(0).max(65535).default(8443),
      })
      .prefault({}),
    /** Base URL clients use (https://host:port, no path): the token audience and the CRL/OCSP URLs in issued certificates. */
    publicUrl: z
      .url({ protocol: /^https$/, hostname: z.regexes.hostname })
      .refine((u) => !/[?#]/.test(u) && new URL(u).pathname === '/', 'an https:// URL without path, query or fragment')
      .optional(),
    tls: z
      .union([
        z.strictObject({ certificate: z.string().min(1), key: z.string().min(1) }),
        z.strictObject({
          auto: z
            .strictObject({
              /** Extra DNS names for the auto-issued server certificate (the publicUrl host is always included). */
              dns: z.array(z.string().min(1).max(253)).max(20).default([]),
              ip: z.array(z.string().min(1).max(45)).max(20).default([]),
              lifetime: duration('server.tls.auto.lifetime').default(7 * 24 * HOUR),
            })
            .prefault({}),
        }),
      ])
      .default({ auto: { dns: [], ip: [], lifetime: 7 * 24 * HOUR } }),
    tokens: z
      .strictObject({
        ttl: duration('server.tokens.ttl').default(5 * 60_000),
        maxTtl: duration('server.tokens.maxTtl').default(24 * HOUR),
        /** P-256 key that signs tokens, encrypted with the CA passphrase (created by `ca init`, or at first start). */
        key: z.string().min(1).default('token.key'),
      })
      .prefault({}),
    renewal: z
      .strictObject({
        /** How long after expiry a certificate may still renew itself. At most 7 days; default never. */
        graceAfterExpiry: durationOrZero('server.renewal.graceAfterExpiry', 7 * 24 * HOUR).default(0),
        allowSameKey: z.boolean().default(false),
      })
      .prefault({}),
    crl: z
      .strictObject({
        /** nextUpdate − thisUpdate of every CRL. */
        lifetime: duration('server.crl.lifetime').default(24 * HOUR),
        /** How often CRLs are republished (and other instances' revocations picked up) without a revocation. */
        refresh: duration('server.crl.refresh').default(HOUR),
      })
      .prefault({}),
    admin: z
      .strictObject({
        /** Lifetime of admin certificates (from `ca init` and on renewal). */
        lifetime: duration('server.admin.lifetime').default(90 * 24 * HOUR),
      })
      .prefault({}),
    /** Largest request body in bytes, refused with 413 before parsing. */
    bodyLimit: z
      .number()
      .int()
      .min(1024)
      .max(1024 * 1024)
      .default(64 * 1024),
    /** Threads that parse CSRs and build, sign and lint certificates: `auto` (one per core beyond the first) or a number (0: the main thread). */
    workers: z.union([z.literal('auto'), z.number().int().min(0).max(64)]).default('auto'),
  })
  .superRefine((s, ctx) => {
    if (s.tokens.ttl > s.tokens.maxTtl) {
      ctx.addIssue({ code: 'custom', path: ['tokens', 'ttl'], message: 'exceeds server.tokens.maxTtl' });
    }
    if (s.crl.refresh >= s.crl.lifetime) {
      ctx.addIssue({ code: 'custom', path: ['crl', 'refresh'], message: 'must be shorter than server.crl.lifetime' });
    }
  });

/**
 * Alert rules (docs/inventory-and-alerts.md). A rule is on when its key is present; alerts go to the
 * log, the store (GET /v1/alerts) and, when configured, a webhook. One alert per rule and key per
 * `cooldown`.
 */
export const alertsSchema = z.strictObject({
  /** A certificate expiring within `within` with no newer certificate for the same identity. */
  expiring: z.strictObject({ within: duration('alerts.expiring.within').default(7 * 24 * HOUR) }).optional(),
  /** A component reports a managed certificate past its renewal-overdue point. */
  renewalOverdue: z.strictObject({}).optional(),
  /** More than `threshold` failed authentications in `window` for one identity or address. */
  authFailures: z
    .strictObject({
      threshold: z.number().int().min(1).max(1_000_000).default(20),
      window: duration('alerts.authFailures.window').default(5 * 60_000),
      per: z.enum(['identity', 'address']).default('identity'),
    })
    .optional(),
  /** A revoked certificate of this CA still seen in use by a component. */
  revokedInUse: z.strictObject({}).optional(),
  webhook: z
    .strictObject({
      url: z.url({ protocol: /^https?$/ }),
      /** Extra request headers; a value may be a secret reference ({ file } or { env }). */
      headers: z.record(z.string().regex(/^[A-Za-z0-9-]{1,64}$/), z.union([z.string(), secretRefSchema])).default({}),
      timeout: duration('alerts.webhook.timeout').default(5000),
      /** Further attempts after a failed one, with exponential backoff (1s, 2s, 4s, …). */
      retries: z.number().int().min(0).max(10).default(3),
    })
    .optional(),
  cooldown: duration('alerts.cooldown').default(HOUR),
  /** Raised alerts older than this (and older than the cooldown) are deleted. */
  retention: duration('alerts.retention').default(90 * 24 * HOUR),
  /** How often the rules are evaluated (also right after a report that could trigger one). */
  interval: duration('alerts.interval').default(30_000),
});

/**
 * What the inventory keeps (docs/reference/config.md): a certificate's record is deleted this long
 * after its notAfter (an hourly pass, one audit record per batch naming the serials), so the store
 * holds the live certificates plus a bounded tail. `forever` keeps every record.
 */
export const inventorySchema = z.strictObject({
  keepExpired: z
    .union([z.literal('forever'), duration('inventory.keepExpired')])
    .default(90 * 24 * HOUR)
    .transform((v) => (v === 'forever' ? null : v)),
});

/** What the CA keeps of components' reports. */
export const reportsSchema = z.strictObject({
  /** A component with no report for this long is shown as stale. */
  staleAfter: duration('reports.staleAfter').default(2 * 60_000),
  /** Failed authentications older than this are deleted. */
  authFailureRetention: duration('reports.authFailureRetention').default(7 * 24 * HOUR),
});

const issuerFilesSchema = z.strictObject({ certificate: z.string().min(1), key: z.string().min(1) });

export const caConfigSchema = z
  .strictObject({
    version: z.literal(1),
    name: z.string().min(1).max(64),
    keys: z.strictObject({
      /** null means the CA keys are stored unencrypted (created with --insecure-no-passphrase). */
      passphrase: secretRefSchema.nullable(),
      /**
       * CA keys on a PKCS#11 token (an HSM, or SoftHSM): the vendor's module and where the user PIN
       * comes from. A root or intermediate whose `key` is a `pkcs11:` URI (RFC 7512) is used there.
       */
      pkcs11: z.strictObject({ module: z.string().min(1), pin: secretRefSchema }).optional(),
    }),
    root: issuerFilesSchema,
    /** The intermediate that signs new certificates. */
    intermediate: issuerFilesSchema,
    /**
     * Intermediates that no longer sign (replaced by `mutual ca rotate-intermediate`, newest first):
     * the certificates they issued stay valid, renewable and revocable, with their CRL and OCSP
     * answers, until the intermediate itself expires.
     */
    previousIntermediates: z.array(issuerFilesSchema).max(16).default([]),
    /**
     * Roots replaced by `mutual ca rotate-root`, newest first: each still signs its CRL (its
     * intermediates, its cross-certificate) and OCSP answers until it expires or is removed.
     */
    previousRoots: z.array(issuerFilesSchema).max(4).default([]),
    /**
     * Certificates sent after the intermediate in every chain the CA hands out: the current root
     * certified by a previous root, so relying parties that trust only the previous root still
     * validate. Remove an entry once every relying party trusts the current root.
     */
    crossCertificates: z.array(z.string().min(1)).max(4).default([]),
    store: z.union([
      z.strictObject({ sqlite: z.strictObject({ file: z.string().min(1) }) }),
      z.strictObject({ postgres: z.strictObject({ connectionString: secretRefSchema }) }),
    ]),
    defaults: z
      .strictObject({
        lifetime: duration('defaults.lifetime').default(86_400_000),
        keyType: z.enum(KEY_TYPES).default('p256'),
      })
      .default({ lifetime: 86_400_000, keyType: 'p256' }),
    policy: z.strictObject({
      server: profilePolicySchema,
      client: profilePolicySchema,
      both: profilePolicySchema,
    }),
    server: serverSchema.prefault({}),
    alerts: alertsSchema.prefault({}),
    reports: reportsSchema.prefault({}),
    inventory: inventorySchema.prefault({}),
  })
  .superRefine((config, ctx) => {
    const issuers: [(string | number)[], { key: string }][] = [
      [['root'], config.root],
      [['intermediate'], config.intermediate],
      ...config.previousIntermediates.map((f, i): [(string | number)[], { key: string }] => [
        ['previousIntermediates', i],
        f,
      ]),
      ...config.previousRoots.map((f, i): [(string | number)[], { key: string }] => [['previousRoots', i], f]),
    ];
    for (const [at, files] of issuers) {
      if (!isPkcs11Uri(files.key)) continue;
      try {
        parsePkcs11Uri(files.key);
      } catch (err) {
        ctx.addIssue({
          code: 'custom',
          path: [...at, 'key'],
          message: err instanceof Error ? err.message : String(err),
        });
      }
      if (config.keys.pkcs11 === undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['keys', 'pkcs11'],
          message: `${at.join('.')}.key is on a PKCS#11 token: set keys.pkcs11.module and keys.pkcs11.pin`,
        });
      }
    }
    const keep = config.inventory.keepExpired;
    if (keep !== null && (keep < HOUR || keep < config.server.renewal.graceAfterExpiry)) {
      ctx.addIssue({
        code: 'custom',
        path: ['inventory', 'keepExpired'],
        message:
          'must be at least 1h and at least server.renewal.graceAfterExpiry (a certificate inside its renewal grace keeps its record), or "forever"',
      });
    }
    for (const profile of ['server', 'client', 'both'] as const) {
      const p = config.policy[profile];
      if (config.defaults.lifetime > p.maxLifetime) {
        ctx.addIssue({
          code: 'custom',
          path: ['defaults', 'lifetime'],
          message: `exceeds policy.${profile}.maxLifetime`,
        });
      }
      if (p.spiffe.paths.length > 0 && p.spiffe.trustDomain === null) {
        ctx.addIssue({
          code: 'custom',
          path: ['policy', profile, 'spiffe', 'trustDomain'],
          message: 'paths are set but no trust domain',
        });
      }
    }
  });

export type CaConfigInput = z.input<typeof caConfigSchema>;
export type CaConfig = z.output<typeof caConfigSchema>;
export type SecretRef = z.output<typeof secretRefSchema>;
export type ServerConfig = z.output<typeof serverSchema>;
export type AlertsConfig = z.output<typeof alertsSchema>;
export type ReportsConfig = z.output<typeof reportsSchema>;
export type InventoryConfig = z.output<typeof inventorySchema>;
