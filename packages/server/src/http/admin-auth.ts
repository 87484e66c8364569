import type { FastifyRequest } from 'fastify';
import { MutualError } from '@mutual/sdk';
import { requireAdmin, type ClientAuthenticator } from '../ca/index.js';
import { peerCertificate } from './peer.js';
import { isMutating, requireCsrf, type DashboardSession, type DashboardSessions } from './sessions.js';

/** Who an admin request comes from: an admin client certificate, or a dashboard session cookie. */
export type AdminCaller =
  | { readonly via: 'certificate'; readonly serial: string; readonly actor: string }
  | { readonly via: 'session'; readonly session: DashboardSession; readonly actor: string };

/**
 * The request's dashboard session, if its cookie is valid; a mutating request must also carry the
 * session's CSRF token (else ERR_AUTH_CSRF).
 */
export function sessionCaller(
  request: FastifyRequest,
  sessions: DashboardSessions | undefined,
): DashboardSession | undefined {
  const session = sessions?.fromRequest(request);
  if (session !== undefined && isMutating(request)) requireCsrf(request, session);
  return session;
}

/**
 * Admin routes accept an admin client certificate (checked first) or a valid dashboard session.
 * Without either, the certificate's refusal explains what is missing.
 */
export async function identifyAdmin(
  request: FastifyRequest,
  clients: ClientAuthenticator,
  sessions: DashboardSessions | undefined,
): Promise<AdminCaller> {
  const verdict = await clients.identify(peerCertificate(request));
  if (verdict.ok && verdict.admin) {
    return { via: 'certificate', serial: verdict.record.serial, actor: `admin:${verdict.record.serial}` };
  }
  const session = sessionCaller(request, sessions);
  if (session !== undefined) return { via: 'session', session, actor: session.actor };
  if (!verdict.ok && verdict.reason !== 'none') {
    throw new MutualError('ERR_AUTH_CLIENT_CERT_INVALID', {
      cause: new Error(`client certificate ${verdict.reason}`),
    });
  }
  const record = requireAdmin(verdict);
  return { via: 'certificate', serial: record.serial, actor: `admin:${record.serial}` };
}
