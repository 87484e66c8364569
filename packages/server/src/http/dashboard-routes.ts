import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { MutualError } from '@mutual/sdk';
import { loginRequest, type SessionResponse } from '@mutual/sdk/contract';
import type { AuditRecord } from '../ca/index.js';
import type { CaHttpDeps } from './app.js';
import { sessionCaller } from './admin-auth.js';
import { invalidRequest } from './errors.js';
import { peerCertificate } from './peer.js';
import { isMutating, sessionCookie, type DashboardSessions } from './sessions.js';

export interface DashboardDeps {
  /** The dashboard's built files (packages/dashboard/dist); undefined or missing: /ui says how to build it. */
  readonly dir: string | undefined;
  readonly sessions: DashboardSessions;
  /** Appends an audit record (logins and logouts). */
  readonly audit: (entry: AuditRecord) => Promise<void>;
}

/** No inline script or style, nothing from another origin, never framed. */
export const DASHBOARD_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
  '.woff2': 'font/woff2',
};

const MAX_FILE_BYTES = 8 * 1024 * 1024;

function secure(reply: FastifyReply): FastifyReply {
  return reply
    .header('content-security-policy', DASHBOARD_CSP)
    .header('x-content-type-options', 'nosniff')
    .header('x-frame-options', 'DENY')
    .header('referrer-policy', 'no-referrer')
    .header('cross-origin-opener-policy', 'same-origin')
    .header('cross-origin-resource-policy', 'same-origin');
}

/** A browser request from another site (or a sibling subdomain) may never change anything here. */
function refuseCrossSite(request: FastifyRequest): void {
  if (!isMutating(request)) return;
  const site = request.headers['sec-fetch-site'];
  if (site === 'cross-site' || site === 'same-site') {
    throw new MutualError('ERR_AUTH_CSRF', { cause: new Error(`sec-fetch-site: ${site}`) });
  }
  const origin = request.headers.origin;
  if (origin !== undefined && origin !== 'null' && origin !== `https://${request.headers.host ?? ''}`) {
    throw new MutualError('ERR_AUTH_CSRF', { cause: new Error(`origin ${origin.slice(0, 100)}`) });
  }
  if (origin === 'null') throw new MutualError('ERR_AUTH_CSRF', { cause: new Error('opaque origin') });
}

/**
 * The dashboard under /ui: its built files (strict CSP, hashed assets cached for a year, index.html
 * revalidated, unknown paths without an extension answered with index.html for the app's own
 * routes), the exchange of a one-time login link for a session cookie, logout, and who is signed in.
 * Every mutating request to the CA, API included, is refused when a browser says it comes from
 * another site.
 */
export function registerDashboard(app: FastifyInstance, deps: CaHttpDeps, dashboard: DashboardDeps): void {
  const { sessions } = dashboard;
  const files = new Map<string, Buffer>();

  app.addHook('onRequest', (request, _reply, done) => {
    try {
      refuseCrossSite(request);
      done();
    } catch (error) {
      done(error as Error);
    }
  });

  const sessionBody = async (request: FastifyRequest): Promise<SessionResponse> => {
    const verdict = await deps.clients.identify(peerCertificate(request));
    if (verdict.ok && verdict.admin) {
      return {
        via: 'certificate',
        actor: `admin:${verdict.record.serial}`,
        csrfToken: null,
        expiresAt: verdict.record.notAfter.toISOString(),
      };
    }
    const session = sessionCaller(request, sessions);
    if (session === undefined) return { via: 'none', actor: null, csrfToken: null, expiresAt: null };
    return {
      via: 'session',
      actor: session.actor,
      csrfToken: session.csrfToken,
      expiresAt: session.expiresAt.toISOString(),
    };
  };

  app.get('/ui/session', async (request, reply) => {
    const body = await sessionBody(request);
    return secure(reply).header('cache-control', 'no-store').send(body);
  });

  app.post('/ui/session', async (request, reply) => {
    const parsed = loginRequest.safeParse(request.body ?? {});
    if (!parsed.success) throw invalidRequest(parsed.error);
    const redeemed = sessions.redeem(parsed.data.secret);
    if (redeemed === undefined) throw new MutualError('ERR_AUTH_LOGIN_LINK_INVALID');
    const { session, cookie } = redeemed;
    const now = deps.clock.now();
    try {
      await dashboard.audit({
        at: now,
        actor: session.actor,
        action: 'dashboard.login',
        subject: session.id,
        details: { via: 'login-link', origin: request.ip, expiresAt: session.expiresAt.toISOString() },
      });
    } catch (error) {
      // No session without its audit record.
      sessions.end(session);
      throw error;
    }
    const body: SessionResponse = {
      via: 'session',
      actor: session.actor,
      csrfToken: session.csrfToken,
      expiresAt: session.expiresAt.toISOString(),
    };
    return secure(reply)
      .header('cache-control', 'no-store')
      .header('set-cookie', sessionCookie(cookie, session.expiresAt.getTime() - now.getTime()))
      .send(body);
  });

  app.post('/ui/logout', async (request, reply) => {
    const session = sessionCaller(request, sessions);
    if (session !== undefined) {
      sessions.end(session);
      await dashboard.audit({
        at: deps.clock.now(),
        actor: session.actor,
        action: 'dashboard.logout',
        subject: session.id,
        details: { origin: request.ip },
      });
    }
    return secure(reply)
      .header('cache-control', 'no-store')
      .header('set-cookie', sessionCookie('', 0))
      .code(204)
      .send();
  });

  app.get('/ui', (_request, reply) => secure(reply).redirect('/ui/', 302));

  const read = async (file: string): Promise<Buffer | undefined> => {
    const cached = files.get(file);
    if (cached !== undefined) return cached;
    try {
      const stat = await fs.stat(file);
      if (!stat.isFile() || stat.size > MAX_FILE_BYTES) return undefined;
      const content = await fs.readFile(file);
      files.set(file, content);
      return content;
    } catch {
      return undefined;
    }
  };

  app.get<{ Params: { '*': string } }>('/ui/*', async (request, reply) => {
    secure(reply);
    const root = dashboard.dir;
    const index = root === undefined ? undefined : await read(path.join(root, 'index.html'));
    if (root === undefined || index === undefined) {
      return reply
        .code(503)
        .type('text/plain; charset=utf-8')
        .header('cache-control', 'no-store')
        .send('The dashboard is not built. Run `npm run build` in the mutual repository, then restart the CA.\n');
    }
    let relative: string;
    try {
      relative = decodeURIComponent(request.params['*']);
    } catch {
      throw new MutualError('ERR_HTTP_NOT_FOUND');
    }
    const resolved = path.resolve(root, `.${path.posix.sep}${relative}`);
    if (resolved !== root && !resolved.startsWith(root + path.sep)) throw new MutualError('ERR_HTTP_NOT_FOUND');
    const ext = path.extname(resolved);
    const content = relative === '' || ext === '' ? index : await read(resolved);
    if (content === undefined) {
      throw new MutualError('ERR_HTTP_NOT_FOUND', { details: { path: request.url.slice(0, 200) } });
    }
    const isIndex = content === index;
    const immutable = !isIndex && relative.startsWith('assets/');
    return reply
      .type(CONTENT_TYPES[isIndex ? '.html' : ext] ?? 'application/octet-stream')
      .header('cache-control', immutable ? 'public, max-age=31536000, immutable' : 'no-cache')
      .send(content);
  });
}
