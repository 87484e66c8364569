import { z } from 'zod';

/**
 * The dashboard's session endpoints under /ui (docs/dashboard.md): exchanging a one-time login link
 * for a session cookie, and asking who is signed in. The CSRF token comes back in these bodies and
 * goes out in the `x-mutual-csrf` header of every mutating request made with the session cookie.
 */

/** The header a cookie-authenticated mutating request must carry, with the session's CSRF token. */
export const CSRF_HEADER = 'x-mutual-csrf';

/** POST /ui/session — the secret of a one-time login link (from the link's fragment). */
export const loginRequest = z.strictObject({
  secret: z.string().regex(/^[A-Za-z0-9_-]{20,128}$/),
});

/** GET /ui/session and the answer of POST /ui/session. */
export const sessionResponse = z.object({
  /** How the caller is an admin: by admin client certificate, by session cookie, or not at all. */
  via: z.enum(['certificate', 'session', 'none']),
  /** Who the audit log will name for this caller's actions. */
  actor: z.string().nullable(),
  /** For `session`: the value of the x-mutual-csrf header; null otherwise. */
  csrfToken: z.string().nullable(),
  expiresAt: z.iso.datetime({ offset: true }).nullable(),
});

export type LoginRequest = z.input<typeof loginRequest>;
export type SessionResponse = z.infer<typeof sessionResponse>;
