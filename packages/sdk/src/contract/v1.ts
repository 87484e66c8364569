import { z } from 'zod';

/**
 * The CA's HTTP API v1 on the wire. Server routes validate requests with these schemas (unknown
 * fields rejected) and the CLI / SDK client parses responses with them. docs/reference/http-api.md
 * describes each endpoint.
 */

const pem = z
  .string()
  .min(1)
  .max(64 * 1024);
const hex = z.string().regex(/^[0-9a-f]{2,64}$/, 'lowercase hex');
/** A serial: lowercase hex of the integer, no leading zeros (as `mutual cert inspect` shows it). */
const serial = z.string().regex(/^[0-9a-f]{1,64}$/, 'lowercase hex serial');
const duration = z.string().regex(/^(\d+(ms|s|m|h|d|w))+$/, 'a duration such as 24h');
export const profileSchema = z.enum(['server', 'client', 'both']);

export const REVOCATION_REASONS = [
  'unspecified',
  'keyCompromise',
  'caCompromise',
  'affiliationChanged',
  'superseded',
  'cessationOfOperation',
  'certificateHold',
  'privilegeWithdrawn',
] as const;
export const revocationReasonSchema = z.enum(REVOCATION_REASONS);
export type RevocationReason = z.infer<typeof revocationReasonSchema>;

export const namesSchema = z.strictObject({
  dns: z.array(z.string().max(253)).max(100).default([]),
  ip: z.array(z.string().max(45)).max(100).default([]),
  uri: z.array(z.string().max(2048)).max(1).default([]),
  email: z.array(z.string().max(254)).max(100).default([]),
});

/** GET /v1/roots */
export const rootsResponse = z.object({
  roots: z.array(pem),
  intermediates: z.array(pem),
  /** SHA-256 of the (first) root's DER, lowercase hex — what `mutual ca bootstrap --fingerprint` pins. */
  fingerprint: hex,
  /**
   * During a root rotation: the current root certified by a previous one. What lets a client that
   * trusts the previous root accept the new one (the previous root's key endorsed it).
   */
  crossCertificates: z.array(pem).max(8).optional(),
});

/** POST /v1/sign — a one-time enrollment token and a CSR (key made by the requester). */
export const signRequest = z.strictObject({
  token: z.string().min(10).max(8192),
  csr: pem,
  lifetime: duration.optional(),
});

/** POST /v1/renew — authenticated by the current certificate over mTLS; a CSR with a new key. */
export const renewRequest = z.strictObject({
  csr: pem,
  lifetime: duration.optional(),
});

/** Response of sign and renew. `chain` is leaf then intermediate: what the holder presents. */
export const certificateResponse = z.object({
  serial,
  certificate: pem,
  chain: z.array(pem),
  notBefore: z.string(),
  notAfter: z.string(),
  profile: profileSchema,
});

/** POST /v1/revoke — by an admin, or by the holder of the certificate (mTLS with it). */
export const revokeRequest = z.strictObject({
  serial,
  reason: revocationReasonSchema.default('unspecified'),
});
export const revokeResponse = z.object({ serial, revokedAt: z.string(), reason: revocationReasonSchema });

/** POST /v1/tokens (admin) — mint a one-time enrollment token bound to names and a profile. */
export const tokenRequest = z.strictObject({
  names: namesSchema,
  profile: profileSchema,
  ttl: duration.default('5m'),
});
export const tokenResponse = z.object({ token: z.string(), jti: z.string(), expiresAt: z.string() });

/** GET /v1/certificates (admin) — the inventory. */
export const certificateStates = ['valid', 'expiring', 'expired', 'revoked', 'pending', 'failed'] as const;
export const certificateSummary = z.object({
  serial,
  state: z.enum(certificateStates),
  profile: z.string(),
  identity: z.string().nullable(),
  subject: z.string(),
  sans: z.object({
    dns: z.array(z.string()),
    ip: z.array(z.string()),
    uri: z.array(z.string()),
    email: z.array(z.string()),
  }),
  notBefore: z.string(),
  notAfter: z.string(),
  fingerprintSha256: z.string().nullable(),
  requester: z.string(),
  revokedAt: z.string().nullable(),
  revocationReason: z.string().nullable(),
});
export const certificatesResponse = z.object({ items: z.array(certificateSummary), nextCursor: z.string().nullable() });
/** Query string of GET /v1/certificates. `state` is a comma-separated list of certificateStates. */
export const certificatesQuery = z.strictObject({
  state: z
    .string()
    .max(128)
    .regex(/^(valid|expiring|expired|revoked|pending|failed)(,(valid|expiring|expired|revoked|pending|failed))*$/)
    .optional(),
  profile: z.string().min(1).max(64).optional(),
  identity: z.string().min(1).max(2048).optional(),
  search: z.string().max(256).optional(),
  limit: z.coerce.number().int().min(1).max(1000).optional(),
  cursor: z.string().min(1).max(512).optional(),
  /** What counts as `expiring` (default 7d). */
  expiringWithin: duration.optional(),
});

/** One event of GET /v1/revocations (server-sent events, `event: revoked`). */
export const revocationEvent = z.object({
  serial,
  issuerFingerprint: hex,
  revokedAt: z.string(),
  reason: revocationReasonSchema,
  /** When the revoked certificate expires: a follower can forget the revocation after that (absent from older CAs). */
  notAfter: z.string().optional(),
});

/** Every error response: status from the error catalog, body below. */
export const errorResponse = z.object({
  error: z.object({ code: z.string(), message: z.string(), details: z.record(z.string(), z.unknown()).optional() }),
});

export type SignRequest = z.input<typeof signRequest>;
export type RenewRequest = z.input<typeof renewRequest>;
export type CertificateResponse = z.infer<typeof certificateResponse>;
export type RevokeRequest = z.input<typeof revokeRequest>;
export type TokenRequest = z.input<typeof tokenRequest>;
export type CertificateSummary = z.infer<typeof certificateSummary>;
export type CertificatesQuery = z.input<typeof certificatesQuery>;
export type RevocationEvent = z.infer<typeof revocationEvent>;
