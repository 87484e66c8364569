import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { MutualError } from '@mutual/sdk';
import { CSRF_HEADER } from '@mutual/sdk/contract';
import type { Clock } from '../ca/index.js';

/** The session cookie. `__Host-`: the browser keeps it only if Secure, Path=/ and no Domain. */
export const SESSION_COOKIE = '__Host-mutual_session';
export const LOGIN_LINK_TTL_MS = 15 * 60_000;
export const SESSION_TTL_MS = 8 * 3_600_000;
const MAX_PENDING_LINKS = 100;
const MAX_SESSIONS = 1000;

export interface DashboardSession {
  /** Short public name of the session (a hash prefix of its cookie): what the audit log names. */
  readonly id: string;
  readonly actor: string;
  readonly csrfToken: string;
  readonly expiresAt: Date;
}

export interface LoginLink {
  /** The one-time secret: put it after `#` in `/ui/login#<secret>`. Shown once, never stored. */
  readonly secret: string;
  readonly expiresAt: Date;
}

/**
 * Dashboard sessions, held in this CA instance's memory: one-time login secrets (single use, short
 * TTL, kept only as SHA-256 hashes) exchanged for a session whose cookie value is likewise kept
 * hashed. Each session has a CSRF token that cookie-authenticated mutating requests must echo in
 * the `x-mutual-csrf` header (docs/decisions/0015-dashboard-login-and-sessions.md).
 */
export interface DashboardSessions {
  createLoginLink(): LoginLink;
  /** Exchanges a login secret (once) for a session; undefined when unknown, used or expired. */
  redeem(secret: string): { session: DashboardSession; cookie: string } | undefined;
  /** The session of a request's cookie, if valid. */
  fromRequest(request: FastifyRequest): DashboardSession | undefined;
  end(session: DashboardSession): void;
}

const hash = (text: string): string => createHash('sha256').update(text).digest('hex');
const token = (): string => randomBytes(32).toString('base64url');

/** The value of one cookie in a Cookie header (first occurrence). */
export function readCookie(request: FastifyRequest, name: string): string | undefined {
  const header = request.headers.cookie;
  if (typeof header !== 'string' || header.length > 8192) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

export function createDashboardSessions(clock: Clock): DashboardSessions {
  const links = new Map<string, number>();
  const sessions = new Map<string, DashboardSession>();
  const sweep = (now: number): void => {
    for (const [key, expires] of links) if (expires <= now) links.delete(key);
    for (const [key, s] of sessions) if (s.expiresAt.getTime() <= now) sessions.delete(key);
  };
  return {
    createLoginLink() {
      const now = clock.now().getTime();
      sweep(now);
      if (links.size >= MAX_PENDING_LINKS) {
        // The oldest pending link goes: a flood of links never grows memory.
        const oldest = links.keys().next().value;
        if (oldest !== undefined) links.delete(oldest);
      }
      const secret = token();
      const expiresAt = now + LOGIN_LINK_TTL_MS;
      links.set(hash(secret), expiresAt);
      return { secret, expiresAt: new Date(expiresAt) };
    },
    redeem(secret) {
      const now = clock.now().getTime();
      const key = hash(secret);
      const expires = links.get(key);
      links.delete(key);
      if (expires === undefined || expires <= now) return undefined;
      sweep(now);
      if (sessions.size >= MAX_SESSIONS) {
        const oldest = sessions.keys().next().value;
        if (oldest !== undefined) sessions.delete(oldest);
      }
      const cookie = token();
      const cookieHash = hash(cookie);
      const id = cookieHash.slice(0, 12);
      const session: DashboardSession = {
        id,
        actor: `admin-session:${id}`,
        csrfToken: token(),
        expiresAt: new Date(now + SESSION_TTL_MS),
      };
      sessions.set(cookieHash, session);
      return { session, cookie };
    },
    fromRequest(request) {
      const cookie = readCookie(request, SESSION_COOKIE);
      if (cookie === undefined || !/^[A-Za-z0-9_-]{43}$/.test(cookie)) return undefined;
      const key = hash(cookie);
      const session = sessions.get(key);
      if (session === undefined) return undefined;
      if (session.expiresAt.getTime() <= clock.now().getTime()) {
        sessions.delete(key);
        return undefined;
      }
      return session;
    },
    end(session) {
      for (const [key, s] of sessions) if (s === session) sessions.delete(key);
    },
  };
}

/** Refuses a cookie-authenticated request that does not carry the session's CSRF token. */
export function requireCsrf(request: FastifyRequest, session: DashboardSession): void {
  const sent = request.headers[CSRF_HEADER];
  const a = Buffer.from(typeof sent === 'string' ? sent : '');
  const b = Buffer.from(session.csrfToken);
  if (a.length !== b.length || !timingSafeEqual(a, b)) {
    throw new MutualError('ERR_AUTH_CSRF', { cause: new Error('missing or wrong CSRF token') });
  }
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
export const isMutating = (request: FastifyRequest): boolean => !SAFE_METHODS.has(request.method);

/** The cookie that starts a session, and the one that ends it. */
export function sessionCookie(value: string, maxAgeMs: number): string {
  return `${SESSION_COOKIE}=${value}; Path=/; Max-Age=${Math.max(0, Math.floor(maxAgeMs / 1000))}; HttpOnly; Secure; SameSite=Strict`;
}
