import { z } from 'zod';
import { certificateSummary } from './v1.js';

/**
 * The CA's HTTP API v1, lifecycle and visibility part: what gateways, agents, tunnels and
 * `mutual discover` report to the CA (health, failed authentications, certificates seen in use,
 * certificates they manage), and what admins read back (components, discovered certificates,
 * failed authentications, audit log, alerts, one certificate in detail). The dashboard and
 * `mutual inventory` are built on these. docs/reference/http-api.md describes each endpoint.
 */

const pem = z
  .string()
  .min(1)
  .max(64 * 1024);
const serial = z.string().regex(/^[0-9a-f]{1,64}$/, 'lowercase hex serial');
const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, 'SHA-256 in lowercase hex');
const isoTime = z.iso.datetime({ offset: true });
const count = z.number().int().nonnegative();

// --- POST /v1/reports ------------------------------------------------------------------------

export const componentKinds = ['gateway', 'agent', 'tunnel', 'discover', 'service'] as const;
export const componentKindSchema = z.enum(componentKinds);
export type ComponentKind = z.infer<typeof componentKindSchema>;

/** Where a refusal happened: at the TLS handshake, or on a request (authorization, rate limit). */
export const authFailureStages = ['handshake', 'request'] as const;

/**
 * One failed authentication seen by a gateway or tunnel. `reason` is the audit reason code
 * (`unknown-ca`, `expired`, `revoked`, `wrong-eku`, `pin-mismatch`, `no-certificate`, `denied`, …).
 */
export const authFailureEvent = z.strictObject({
  at: isoTime,
  listener: z.string().max(128),
  stage: z.enum(authFailureStages),
  reason: z.string().min(1).max(64),
  address: z.string().max(64).nullable(),
  identity: z.string().max(2048).nullable(),
  serial: serial.nullable(),
  fingerprintSha256: sha256Hex.nullable(),
  issuer: z.string().max(1024).nullable(),
});
export type AuthFailureEvent = z.infer<typeof authFailureEvent>;

/** Where a certificate was seen in use: a gateway's own, a client presenting it, a host:port, a file. */
export const sightingRoles = ['server', 'client', 'file'] as const;
export const sightingEvent = z.strictObject({
  /** A human-readable place: `gateway edge 0.0.0.0:8444`, `db.internal:5432`, `/etc/app/tls.crt`. */
  where: z.string().min(1).max(512),
  role: z.enum(sightingRoles),
  at: isoTime,
  /** Leaf first, then what was presented with it. */
  chain: z.array(pem).min(1).max(10),
});
export type SightingEvent = z.infer<typeof sightingEvent>;

/** A certificate an agent (or an SDK credential source) keeps fresh, as that component sees it. */
export const managedCertificate = z.strictObject({
  name: z.string().min(1).max(128),
  path: z.string().max(4096).nullable(),
  serial: serial.nullable(),
  notAfter: isoTime.nullable(),
  renewAt: isoTime.nullable(),
  lastRenewalAt: isoTime.nullable(),
  lastError: z.string().max(1024).nullable(),
  /** Past the overdue point of its lifetime (90 % by default) without a successful renewal. */
  overdue: z.boolean(),
});
export type ManagedCertificate = z.infer<typeof managedCertificate>;

export const healthStatuses = ['ok', 'degraded', 'failing'] as const;
export const componentHealth = z.strictObject({
  status: z.enum(healthStatuses),
  detail: z.string().max(1024).optional(),
  /** Seconds since the newest revocation data (a CRL fetched or a feed event), for gateways. */
  revocationDataAgeSeconds: z.number().nonnegative().nullable().optional(),
  /**
   * SHA-256 (hex) of every trust anchor the component validates peers with (a gateway: its listeners'
   * trust bundles; an agent: its CA root file): what tells, during a root rotation, which components
   * trust the new root yet.
   */
  trustAnchors: z.array(sha256Hex).max(64).optional(),
});

/**
 * POST /v1/reports — mTLS with a certificate this CA issued (the component's own) or an admin's.
 * Sent periodically (heartbeat) and whenever there is something to say. Events are deduplicated by
 * the sender between reports.
 */
export const reportRequest = z.strictObject({
  component: z.strictObject({ kind: componentKindSchema, name: z.string().min(1).max(128) }),
  at: isoTime,
  health: componentHealth,
  authFailures: z.array(authFailureEvent).max(10_000).default([]),
  sightings: z.array(sightingEvent).max(1000).default([]),
  certificates: z.array(managedCertificate).max(1000).default([]),
});
export const reportResponse = z.object({
  accepted: z.object({ authFailures: count, sightings: count, certificates: count }),
});
export type ReportRequest = z.input<typeof reportRequest>;
export type ReportResponse = z.infer<typeof reportResponse>;

// --- GET /v1/components (admin) --------------------------------------------------------------

export const componentSummary = z.object({
  kind: componentKindSchema,
  name: z.string(),
  /** Identity of the certificate the last report came with. */
  reportedBy: z.string().nullable(),
  lastSeen: isoTime,
  /** No report for longer than three report intervals (or the CA's `stale` threshold). */
  stale: z.boolean(),
  health: componentHealth,
  certificates: z.array(managedCertificate),
});
export const componentsResponse = z.object({ items: z.array(componentSummary) });

// --- GET /v1/status (admin): the CA's certificates and the steps due now ------------------------

const caCertificateStatus = z.object({
  subject: z.string(),
  fingerprint: sha256Hex,
  notBefore: isoTime,
  notAfter: isoTime,
  /** Fraction of its lifetime left (0 once expired). */
  left: z.number().min(0).max(1),
  /** Where its private key is: a file (as ca.yaml names it) or a PKCS#11 token (the key's URI). */
  key: z.object({ storage: z.enum(['file', 'pkcs11']), location: z.string() }).optional(),
});
export const componentStandings = ['trusts', 'lacks', 'unreported', 'stale'] as const;
export const caStatusResponse = z.object({
  name: z.string(),
  store: z.enum(['sqlite', 'postgres']),
  root: caCertificateStatus,
  intermediate: caCertificateStatus,
  previousRoots: z.array(
    caCertificateStatus.extend({
      certificates: z.number().int().nonnegative(),
      /** Counting stopped at 10,000: there are at least `certificates`. */
      atLeast: z.boolean(),
      lastNotAfter: isoTime.nullable(),
    }),
  ),
  previousIntermediates: z.array(caCertificateStatus),
  crossCertificates: z.array(caCertificateStatus),
  inventory: z.record(z.string(), z.number().int().nonnegative()),
  /** How long an expired certificate's record is kept (ca.yaml inventory.keepExpired); null: forever. */
  keepExpiredMs: z.number().int().positive().nullable().optional(),
  /** Each reporting component's standing towards the current root. */
  components: z.array(
    z.object({ kind: z.string(), name: z.string(), lastSeen: isoTime, standing: z.enum(componentStandings) }),
  ),
  /** The steps due now, in order, each with its command (what `mutual ca status` prints). */
  next: z.array(z.string()),
});
export type CaStatusResponse = z.infer<typeof caStatusResponse>;
export type ComponentSummary = z.infer<typeof componentSummary>;

// --- GET /v1/sightings (admin): certificates discovered in use ---------------------------------

export const discoveredStates = ['valid', 'expiring', 'expired', 'revoked', 'not-yet-valid'] as const;
export const discoveredCertificate = z.object({
  fingerprintSha256: sha256Hex,
  serial,
  subject: z.string(),
  issuer: z.string(),
  identity: z.string().nullable(),
  notBefore: isoTime,
  notAfter: isoTime,
  state: z.enum(discoveredStates),
  /** Issued by this CA (then `state` knows about revocation). */
  issuedHere: z.boolean(),
  places: z.array(z.object({ where: z.string(), role: z.enum(sightingRoles), firstSeen: isoTime, lastSeen: isoTime })),
});
export const sightingsResponse = z.object({ items: z.array(discoveredCertificate) });
export type DiscoveredCertificate = z.infer<typeof discoveredCertificate>;

// --- GET /v1/auth-failures (admin) -----------------------------------------------------------

export const authFailuresQuery = z.strictObject({
  /** Start of the window (default: 24 hours ago). */
  since: isoTime.optional(),
  until: isoTime.optional(),
  reason: z.string().max(64).optional(),
  identity: z.string().max(2048).optional(),
  address: z.string().max(64).optional(),
  /** How many of the newest events to return in `recent` (default 100). */
  limit: z.coerce.number().int().min(1).max(1000).optional(),
});
const keyCount = z.object({ key: z.string(), count });
export const authFailuresResponse = z.object({
  since: isoTime,
  until: isoTime,
  total: count,
  byReason: z.array(keyCount),
  byIdentity: z.array(keyCount),
  byAddress: z.array(keyCount),
  /** Hourly counts over the window, oldest first. */
  buckets: z.array(z.object({ start: isoTime, count })),
  recent: z.array(authFailureEvent.extend({ component: z.string() })),
});
export type AuthFailuresQuery = z.input<typeof authFailuresQuery>;
export type AuthFailuresResponse = z.infer<typeof authFailuresResponse>;

// --- GET /v1/audit (admin) -------------------------------------------------------------------

export const auditQuery = z.strictObject({
  /** Records with seq greater than this (pagination forward). */
  after: z.coerce.number().int().nonnegative().optional(),
  /** Records with seq smaller than this (newest first pages). */
  before: z.coerce.number().int().positive().optional(),
  action: z.string().max(64).optional(),
  subject: z.string().max(256).optional(),
  limit: z.coerce.number().int().min(1).max(1000).optional(),
});
export const auditItem = z.object({
  seq: z.number().int().positive(),
  at: isoTime,
  actor: z.string(),
  action: z.string(),
  subject: z.string(),
  details: z.record(z.string(), z.unknown()),
  hash: z.string(),
});
export const auditChainVerdict = z.object({
  ok: z.boolean(),
  records: count,
  /** First record whose hash or link does not verify. */
  brokenAt: z.number().int().nullable(),
  reason: z.string().nullable(),
});
export const auditResponse = z.object({ items: z.array(auditItem), chain: auditChainVerdict });
export type AuditItem = z.infer<typeof auditItem>;
export type AuditQuery = z.input<typeof auditQuery>;
export type AuditResponse = z.infer<typeof auditResponse>;

// --- GET /v1/certificates/:serial (admin) ----------------------------------------------------

export const certificateDetail = z.object({
  summary: certificateSummary,
  /** Leaf then issuers, PEM; empty while the issuance is pending or failed. */
  chain: z.array(pem),
  fingerprints: z.object({ sha256: sha256Hex.nullable(), spkiSha256: sha256Hex.nullable() }),
  issuer: z.string(),
  keyType: z.string(),
  /** Extensions of the leaf in words, as `mutual cert inspect` shows them. */
  extensions: z.array(z.object({ name: z.string(), oid: z.string(), critical: z.boolean(), value: z.string() })),
  audit: z.array(auditItem),
  places: discoveredCertificate.shape.places,
});
export type CertificateDetail = z.infer<typeof certificateDetail>;

// --- GET /v1/alerts (admin) ------------------------------------------------------------------

export const alertRules = ['expiring', 'renewal-overdue', 'auth-failures', 'revoked-in-use'] as const;
export const alertEvent = z.object({
  id: z.string(),
  rule: z.enum(alertRules),
  /** What the alert is about: a serial, an identity or an address. Deduplication is per rule + key. */
  key: z.string(),
  at: isoTime,
  severity: z.enum(['warning', 'critical']),
  message: z.string(),
  details: z.record(z.string(), z.unknown()),
  /** Webhook delivery: pending, delivered, failed (after retries), or none configured. */
  delivery: z.enum(['pending', 'delivered', 'failed', 'none']),
});
export const alertsResponse = z.object({ items: z.array(alertEvent) });
/** GET /v1/alerts query: one rule only, and how many of the newest (default 100). */
export const alertsQuery = z.strictObject({
  rule: z.enum(alertRules).optional(),
  limit: z.coerce.number().int().min(1).max(1000).optional(),
});
export type AlertsQuery = z.input<typeof alertsQuery>;
export type AlertEvent = z.infer<typeof alertEvent>;
