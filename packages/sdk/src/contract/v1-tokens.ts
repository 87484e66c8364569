import { z } from 'zod';

/**
 * The CA's HTTP API v1, token inventory: the enrollment tokens an admin minted that are neither used
 * nor expired. What a token grants is listed, never the token itself (a bearer secret shown once,
 * when it is minted). docs/reference/http-api.md describes the endpoint.
 */

const isoTime = z.iso.datetime({ offset: true });

/** GET /v1/tokens (admin) query string. */
export const tokensQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(1000).optional(),
});

export const unusedToken = z.object({
  jti: z.string(),
  profile: z.string(),
  names: z.object({
    dns: z.array(z.string()),
    ip: z.array(z.string()),
    uri: z.array(z.string()),
    email: z.array(z.string()),
  }),
  mintedAt: isoTime,
  expiresAt: isoTime,
  /** Who minted it: `admin:<serial>` (admin certificate), `admin-session:<id>` (dashboard login link). */
  mintedBy: z.string(),
});

/** GET /v1/tokens (admin) — unused, unexpired tokens, soonest expiry first. */
export const tokensResponse = z.object({ items: z.array(unusedToken) });

export type TokensQuery = z.input<typeof tokensQuery>;
export type UnusedToken = z.infer<typeof unusedToken>;
export type TokensResponse = z.infer<typeof tokensResponse>;
