import type { FastifyRequest } from 'fastify';
import { describe, expect, it } from 'vitest';
import {
  LOGIN_LINK_TTL_MS,
  SESSION_COOKIE,
  SESSION_TTL_MS,
  createDashboardSessions,
  requireCsrf,
  sessionCookie,
} from './sessions.js';

const clockAt = (start: number) => {
  let ms = start;
  return { now: () => new Date(ms), advance: (d: number) => (ms += d) };
};
const request = (headers: Record<string, string>, method = 'GET'): FastifyRequest =>
  ({ headers, method }) as unknown as FastifyRequest;

describe('dashboard sessions', () => {
  it('redeems a login secret once, within its TTL, into a session found by its cookie', () => {
    const clock = clockAt(Date.UTC(2030, 0, 1));
    const sessions = createDashboardSessions(clock);
    const link = sessions.createLoginLink();
    expect(link.secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(link.expiresAt.getTime() - clock.now().getTime()).toBe(LOGIN_LINK_TTL_MS);
    const redeemed = sessions.redeem(link.secret);
    expect(redeemed?.session.actor).toMatch(/^admin-session:[0-9a-f]{12}$/);
    expect(sessions.redeem(link.secret)).toBeUndefined();
    const cookie = `${SESSION_COOKIE}=${redeemed?.cookie ?? ''}`;
    expect(sessions.fromRequest(request({ cookie: `other=1; ${cookie}` }))).toBe(redeemed?.session);
    expect(sessions.fromRequest(request({ cookie: `${SESSION_COOKIE}=${'a'.repeat(43)}` }))).toBeUndefined();
    clock.advance(SESSION_TTL_MS);
    expect(sessions.fromRequest(request({ cookie }))).toBeUndefined();
  });

  it('refuses an expired link, and a wrong guess spends nothing else', () => {
    const clock = clockAt(Date.UTC(2030, 0, 1));
    const sessions = createDashboardSessions(clock);
    const late = sessions.createLoginLink();
    const good = sessions.createLoginLink();
    expect(sessions.redeem('x'.repeat(43))).toBeUndefined();
    clock.advance(LOGIN_LINK_TTL_MS - 1);
    expect(sessions.redeem(good.secret)).toBeDefined();
    clock.advance(1);
    expect(sessions.redeem(late.secret)).toBeUndefined();
  });

  it('ends a session, and checks the CSRF token of mutations', () => {
    const sessions = createDashboardSessions(clockAt(0));
    const redeemed = sessions.redeem(sessions.createLoginLink().secret);
    if (redeemed === undefined) throw new Error('not redeemed');
    const { session } = redeemed;
    expect(() => {
      requireCsrf(request({ 'x-mutual-csrf': session.csrfToken }, 'POST'), session);
    }).not.toThrow();
    expect(() => {
      requireCsrf(request({}, 'POST'), session);
    }).toThrow(expect.objectContaining({ code: 'ERR_AUTH_CSRF' }));
    expect(() => {
      requireCsrf(request({ 'x-mutual-csrf': `${session.csrfToken}x` }, 'POST'), session);
    }).toThrow(expect.objectContaining({ code: 'ERR_AUTH_CSRF' }));
    sessions.end(session);
    expect(sessions.fromRequest(request({ cookie: `${SESSION_COOKIE}=${redeemed.cookie}` }))).toBeUndefined();
  });

  it('writes the cookie HttpOnly, Secure, SameSite=Strict, host-only', () => {
    expect(sessionCookie('v', 3_600_000)).toBe(
      `${SESSION_COOKIE}=v; Path=/; Max-Age=3600; HttpOnly; Secure; SameSite=Strict`,
    );
  });
});
