import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Server, ServerOptions } from 'node:https';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { MutualError, encodePem, parseDuration } from '@mutual/sdk';
import {
  certificatesQuery,
  revokeRequest,
  renewRequest,
  signRequest,
  tokenRequest,
  type CertificateResponse,
  type CertificateSummary,
} from '@mutual/sdk/contract';
import type { z } from 'zod';
import {
  type AuditRecord,
  type ClientAuthenticator,
  type Clock,
  type EnrollmentService,
  type IssuedCertificate,
  type PublishedCrl,
  type RenewalService,
  type RevocationService,
  type RevocationState,
  type TokenService,
} from '../ca/index.js';
import type { CertificatePage, CertificateState, ListFilter } from '../store/index.js';
import { identifyAdmin, sessionCaller } from './admin-auth.js';
import { registerAdminRoutes, type AdminReads } from './admin-routes.js';
import { registerDashboard, type DashboardDeps } from './dashboard-routes.js';
import { internalReason, invalidRequest, toApiError } from './errors.js';
import type { CaMetrics } from './metrics.js';
import { registerLifecycleRoutes, type LifecycleHttpDeps } from './lifecycle-routes.js';
import { peerCertificate } from './peer.js';
import { streamRevocations } from './revocation-stream.js';

export { peerCertificate };

/** What the routes call: the CA's services, wired by the composition root. */
export interface CaHttpDeps {
  readonly clock: Clock;
  readonly roots: {
    readonly rootPem: string;
    /** The intermediate that signs new certificates. */
    readonly intermediatePem: string;
    /** The root's SHA-256 fingerprint. */
    readonly fingerprint: string;
    /** Every intermediate whose certificates may still be valid: the signing one first, then previous ones. */
    readonly intermediates?: readonly { readonly fingerprint: string; readonly pem: string }[];
    /** Roots replaced by a root rotation, still trusted by relying parties that have not moved yet. */
    readonly previousRootPems?: readonly string[];
    /** Sent after the intermediate in every chain handed out (cross-certificates of a root rotation). */
    readonly sentAfterPems?: readonly string[];
  };
  readonly enrollment: EnrollmentService;
  readonly renewal: RenewalService;
  readonly revocation: RevocationService;
  readonly revocationState: RevocationState;
  readonly clients: ClientAuthenticator;
  readonly tokens: TokenService;
  readonly inventory: (filter: ListFilter) => Promise<CertificatePage>;
  /** Inventory counts by state, for the mutual_ca_certificates gauge. */
  readonly counts: () => Promise<Record<CertificateState, number>>;
  /** Records a refused mutation (its own transaction). */
  readonly recordRefusal: (entry: AuditRecord) => Promise<void>;
  /** Store reachable and CRLs current. */
  readonly readiness: () => Promise<{ ready: boolean; checks: Record<string, string> }>;
  readonly metrics: CaMetrics;
  /** Present once OCSP is available: DER OCSPRequest → DER OCSPResponse. */
  readonly ocsp?: (requestDer: Uint8Array) => Promise<Uint8Array>;
  /** How often CRLs are republished: the longest a CRL may be cached. */
  readonly crlRefreshMs: number;
  /** Reports from components and what admins read of them (lifecycle-routes.ts). */
  readonly lifecycle?: LifecycleHttpDeps;
  /** Admin reads beyond the inventory (admin-routes.ts): audit log, one certificate, unused tokens. */
  readonly adminReads?: AdminReads;
  /** The dashboard under /ui and its sessions (dashboard-routes.ts). */
  readonly dashboard?: DashboardDeps;
}

export interface CaAppOptions {
  /** TLS options when Fastify creates the server itself… */
  readonly https?: ServerOptions;
  /** …or the composition root's own HTTPS server (already listening), handed Fastify's request handler. */
  readonly serverFactory?: (handler: (req: IncomingMessage, res: ServerResponse) => void) => Server;
  readonly bodyLimit: number;
  readonly logger?: boolean | Record<string, unknown>;
}

/** Routes (or `METHOD route`) whose refusals are audit records: the mutations, and the admin-only reads. */
const AUDITED = new Map([
  ['/v1/sign', 'sign'],
  ['/v1/renew', 'renew'],
  ['/v1/revoke', 'revoke'],
  ['/v1/tokens', 'token.create'],
  ['/v1/certificates', 'inventory'],
  ['/v1/reports', 'report'],
  ['/v1/components', 'components'],
  ['/v1/status', 'status'],
  ['/v1/sightings', 'sightings'],
  ['/v1/auth-failures', 'auth-failures'],
  ['/v1/alerts', 'alerts'],
  ['/v1/certificates/:serial', 'inventory'],
  ['GET /v1/tokens', 'tokens.list'],
  ['/v1/audit', 'audit.read'],
  ['/ui/session', 'dashboard.login'],
]);

const OCSP_MAX_BYTES = 8 * 1024;
/** Open revocation streams per instance; more are refused with 503 (a gateway needs one). */
const MAX_SUBSCRIBERS = 1000;

function parseWith<S extends z.ZodType>(schema: S, value: unknown): z.output<S> {
  const result = schema.safeParse(value ?? {});
  if (!result.success) throw invalidRequest(result.error);
  return result.data;
}

function lifetimeOf(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const ms = parseDuration(text);
  if (ms === undefined || ms <= 0) {
    throw new MutualError('ERR_HTTP_INVALID_REQUEST', {
      details: { issues: [{ path: 'lifetime', message: 'invalid duration' }] },
    });
  }
  return ms;
}

const originOf = (request: FastifyRequest): string => request.ip;

function certificateBody(
  issued: IssuedCertificate,
  intermediatePem: string,
  sentAfter: readonly string[] = [],
): CertificateResponse {
  return {
    serial: issued.serial,
    certificate: issued.pem,
    chain: [issued.pem, intermediatePem, ...sentAfter],
    notBefore: issued.notBefore.toISOString(),
    notAfter: issued.notAfter.toISOString(),
    profile: issued.profile === 'client' || issued.profile === 'server' ? issued.profile : 'both',
  };
}

/** Caching headers for CRLs: cached until the next refresh at most, never past nextUpdate. */
function crlHeaders(
  reply: FastifyReply,
  deps: CaHttpDeps,
  etag: string,
  thisUpdate: Date,
  nextUpdate: Date,
): FastifyReply {
  const now = deps.clock.now().getTime();
  const maxAge = Math.max(
    0,
    Math.min(Math.floor(deps.crlRefreshMs / 1000), Math.floor((nextUpdate.getTime() - now) / 1000)),
  );
  return reply
    .header('etag', etag)
    .header('last-modified', thisUpdate.toUTCString())
    .header('expires', nextUpdate.toUTCString())
    .header('cache-control', `public, max-age=${maxAge}, must-revalidate`);
}

function sendCrl(
  request: FastifyRequest,
  reply: FastifyReply,
  deps: CaHttpDeps,
  crl: PublishedCrl | undefined,
): FastifyReply {
  if (!crl) throw new MutualError('ERR_HTTP_NOT_READY', { message: 'No CRL has been published yet.' });
  crlHeaders(reply, deps, crl.etag, crl.thisUpdate, crl.nextUpdate);
  if (request.headers['if-none-match'] === crl.etag) return reply.code(304).send();
  return reply.type('application/pkix-crl').send(Buffer.from(crl.der));
}

/** The PEM of every published CRL, made again only when one of them changed. */
function crlBundle(): (crls: readonly PublishedCrl[]) => { etag: string; pem: string } {
  let last: { etag: string; pem: string } | undefined;
  return (crls) => {
    const etag = `"all-${createHash('sha256')
      .update(crls.map((c) => c.etag).join(','))
      .digest('hex')
      .slice(0, 32)}"`;
    if (last?.etag !== etag) last = { etag, pem: crls.map((c) => encodePem(c.der, 'X509 CRL')).join('') };
    return last;
  };
}

/**
 * Builds the CA's HTTPS API v1 (docs/reference/http-api.md). Client certificates are requested,
 * never required; a route that needs one identifies it by the exact DER in the store. Errors leave
 * as `{ error: { code, message, details } }` with the catalog's status; refused mutations are
 * audited; nothing here signs or decides policy.
 */
export async function buildCaApp(deps: CaHttpDeps, options: CaAppOptions): Promise<FastifyInstance> {
  const app = Fastify({
    ...(options.serverFactory === undefined
      ? { https: options.https ?? null }
      : { serverFactory: options.serverFactory }),
    bodyLimit: options.bodyLimit,
    logger: options.logger ?? false,
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    return503OnClosing: true,
    forceCloseConnections: true,
    requestTimeout: 30_000,
    connectionTimeout: 30_000,
  }) as unknown as FastifyInstance;

  const streams = new Set<() => void>();

  app.addContentTypeParser(
    ['application/ocsp-request'],
    { parseAs: 'buffer', bodyLimit: OCSP_MAX_BYTES },
    (_req, body, done) => {
      done(null, body);
    },
  );

  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    deps.metrics.requests.inc({ route, method: request.method, status: String(reply.statusCode) });
    deps.metrics.duration.observe({ route }, reply.elapsedTime / 1000);
  });

  app.addHook('preClose', (done) => {
    for (const end of streams) end();
    done();
  });

  app.setNotFoundHandler(async (request, reply) => {
    const err = new MutualError('ERR_HTTP_NOT_FOUND', {
      details: { method: request.method, path: request.url.slice(0, 200) },
    });
    return reply.code(err.status).send({ error: err.toPublic() });
  });

  app.setErrorHandler(async (error, request, reply) => {
    const err = toApiError(error);
    const route = request.routeOptions.url ?? 'unmatched';
    if (err.status >= 500) request.log.error({ err: error, code: err.code }, 'request failed');
    else deps.metrics.refusals.inc({ route, code: err.code });
    const action = AUDITED.get(`${request.method} ${route}`) ?? AUDITED.get(route);
    if (action !== undefined && err.status < 500) {
      const peer = peerCertificate(request);
      const verdict = peer === undefined ? undefined : await deps.clients.identify(peer).catch(() => undefined);
      const reason = internalReason(err);
      await deps
        .recordRefusal({
          at: deps.clock.now(),
          actor: verdict?.ok === true ? `cert:${verdict.record.serial}` : `anonymous@${originOf(request)}`,
          action: `${action}.refused`,
          subject: route,
          details: {
            code: err.code,
            status: err.status,
            origin: originOf(request),
            ...(verdict?.fingerprint == null ? {} : { clientFingerprint: verdict.fingerprint }),
            ...(Object.keys(err.details).length === 0 ? {} : { details: err.details }),
            ...(reason === undefined ? {} : { reason }),
          },
        })
        .catch((auditError: unknown) => {
          request.log.error({ err: auditError }, 'could not audit a refusal');
        });
    }
    return reply.code(err.status).send({ error: err.toPublic() });
  });

  // --- public --------------------------------------------------------------------------------

  app.get('/v1/roots', (_request, reply) =>
    reply.send({
      roots: [deps.roots.rootPem, ...(deps.roots.previousRootPems ?? [])],
      intermediates: (deps.roots.intermediates ?? [{ pem: deps.roots.intermediatePem }]).map((i) => i.pem),
      fingerprint: deps.roots.fingerprint,
      ...((deps.roots.sentAfterPems ?? []).length > 0 ? { crossCertificates: deps.roots.sentAfterPems } : {}),
    }),
  );

  app.post('/v1/sign', async (request, reply) => {
    const body = parseWith(signRequest, request.body);
    const lifetimeMs = lifetimeOf(body.lifetime);
    const issued = await deps.enrollment.enroll({
      token: body.token,
      csr: body.csr,
      ...(lifetimeMs === undefined ? {} : { lifetimeMs }),
      origin: originOf(request),
    });
    deps.metrics.issued.inc({ via: 'sign', profile: issued.recordProfile });
    return reply.code(201).send(certificateBody(issued, deps.roots.intermediatePem, deps.roots.sentAfterPems));
  });

  app.post('/v1/renew', async (request, reply) => {
    const body = parseWith(renewRequest, request.body);
    const lifetimeMs = lifetimeOf(body.lifetime);
    const issued = await deps.renewal.renew({
      clientCertificate: peerCertificate(request),
      csr: body.csr,
      ...(lifetimeMs === undefined ? {} : { lifetimeMs }),
      origin: originOf(request),
    });
    deps.metrics.issued.inc({ via: 'renew', profile: issued.recordProfile });
    return reply.code(201).send(certificateBody(issued, deps.roots.intermediatePem, deps.roots.sentAfterPems));
  });

  app.post('/v1/revoke', async (request) => {
    const body = parseWith(revokeRequest, request.body);
    const verdict = await deps.clients.identify(peerCertificate(request));
    const session = verdict.ok && verdict.admin ? undefined : sessionCaller(request, deps.dashboard?.sessions);
    let by:
      | { kind: 'admin'; serial: string }
      | { kind: 'admin-session'; session: string }
      | { kind: 'holder'; serial: string; fingerprint: string };
    if (verdict.ok && verdict.admin) by = { kind: 'admin', serial: verdict.record.serial };
    else if (session !== undefined) by = { kind: 'admin-session', session: session.id };
    else if (verdict.ok) by = { kind: 'holder', serial: verdict.record.serial, fingerprint: verdict.fingerprint };
    else if (verdict.reason === 'none') throw new MutualError('ERR_AUTH_CLIENT_CERT_REQUIRED');
    else
      throw new MutualError('ERR_AUTH_CLIENT_CERT_INVALID', {
        cause: new Error(`client certificate ${verdict.reason}`),
      });
    const entry = await deps.revocation.revoke({
      serial: body.serial,
      reason: body.reason,
      by,
      origin: originOf(request),
    });
    deps.metrics.revocations.inc({ reason: entry.reason });
    return { serial: entry.serial, revokedAt: entry.revokedAt.toISOString(), reason: entry.reason };
  });

  app.get('/v1/crl', async (request, reply) => sendCrl(request, reply, deps, deps.revocationState.crl('intermediate')));
  app.get('/v1/crl/root', async (request, reply) => sendCrl(request, reply, deps, deps.revocationState.crl('root')));
  // Every CRL this CA publishes — root, signing intermediate, previous intermediates — as one PEM.
  const bundle = crlBundle();
  app.get('/v1/crl/all', async (request, reply) => {
    const crls = deps.revocationState.crls();
    if (crls.length === 0) throw new MutualError('ERR_HTTP_NOT_READY', { message: 'No CRL has been published yet.' });
    const { etag, pem } = bundle(crls);
    const soonest = crls.reduce((a, c) => (c.nextUpdate < a.nextUpdate ? c : a));
    const newest = crls.reduce((a, c) => (c.thisUpdate > a.thisUpdate ? c : a));
    crlHeaders(reply, deps, etag, newest.thisUpdate, soonest.nextUpdate);
    if (request.headers['if-none-match'] === etag) return reply.code(304).send();
    return reply.type('application/x-pem-file').send(pem);
  });
  // The CRL of one CA certificate, by the first 16 (or more) hex digits of its SHA-256: the URL in
  // the CRL distribution point of the certificates it issued.
  app.get<{ Params: { issuer: string } }>('/v1/crl/:issuer', async (request, reply) => {
    const crl = deps.revocationState.crlOfIssuer(request.params.issuer.toLowerCase());
    if (!crl)
      throw new MutualError('ERR_HTTP_NOT_FOUND', {
        message: 'No CRL of that CA certificate here (give the first 16 hex digits of its SHA-256).',
      });
    return sendCrl(request, reply, deps, crl);
  });

  const answerOcsp = async (der: Uint8Array, reply: FastifyReply): Promise<FastifyReply> => {
    if (!deps.ocsp) throw new MutualError('ERR_HTTP_NOT_FOUND', { message: 'OCSP is not available on this CA yet.' });
    if (der.length === 0 || der.length > OCSP_MAX_BYTES) throw new MutualError('ERR_HTTP_OCSP_MALFORMED');
    const response = await deps.ocsp(der);
    return reply.type('application/ocsp-response').header('cache-control', 'no-cache').send(Buffer.from(response));
  };
  app.post('/v1/ocsp', async (request, reply) => {
    if (!Buffer.isBuffer(request.body)) throw new MutualError('ERR_HTTP_UNSUPPORTED_MEDIA_TYPE');
    return answerOcsp(new Uint8Array(request.body), reply);
  });
  app.get<{ Params: { '*': string } }>('/v1/ocsp/*', async (request, reply) => {
    // RFC 6960 A.1: base64 of the DER, URL-encoded; tolerate base64url too.
    let text: string;
    try {
      text = decodeURIComponent(request.params['*']);
    } catch {
      throw new MutualError('ERR_HTTP_OCSP_MALFORMED');
    }
    if (text.length > (OCSP_MAX_BYTES * 4) / 3 + 4 || !/^[A-Za-z0-9+/_-]+={0,2}$/.test(text)) {
      throw new MutualError('ERR_HTTP_OCSP_MALFORMED');
    }
    return answerOcsp(new Uint8Array(Buffer.from(text.replace(/-/g, '+').replace(/_/g, '/'), 'base64')), reply);
  });

  app.get('/v1/revocations', (request, reply) => {
    if (streams.size >= MAX_SUBSCRIBERS) {
      const busy = new MutualError('ERR_HTTP_NOT_READY', { message: 'Too many revocation streams are open.' });
      return reply.code(busy.status).header('retry-after', '5').send({ error: busy.toPublic() });
    }
    const header = request.headers['last-event-id'];
    const lastEventId = typeof header === 'string' && header.length <= 200 ? header : undefined;
    reply.hijack();
    const raw = reply.raw;
    raw.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    deps.metrics.subscribers.inc();
    const stream = streamRevocations(raw, deps.revocationState, lastEventId, {
      onEnd: () => {
        streams.delete(end);
        deps.metrics.subscribers.dec();
      },
    });
    const end = (): void => {
      stream.end();
    };
    streams.add(end);
    request.raw.on('close', end);
  });

  // --- admin -----------------------------------------------------------------------------------

  const admin = async (request: FastifyRequest): Promise<string> =>
    (await identifyAdmin(request, deps.clients, deps.dashboard?.sessions)).actor;

  app.post('/v1/tokens', async (request, reply) => {
    const actor = await admin(request);
    const body = parseWith(tokenRequest, request.body);
    // The contract fills in a default ttl; an absent one means this CA's `server.tokens.ttl`.
    const ttlGiven = (request.body as { ttl?: unknown } | null)?.ttl !== undefined;
    const ttlMs = ttlGiven ? lifetimeOf(body.ttl) : undefined;
    const minted = await deps.tokens.mint({
      names: body.names,
      profile: body.profile,
      ...(ttlMs === undefined ? {} : { ttlMs }),
      actor,
    });
    deps.metrics.tokensMinted.inc();
    return reply.code(201).send({ token: minted.token, jti: minted.jti, expiresAt: minted.expiresAt.toISOString() });
  });

  app.get('/v1/certificates', async (request) => {
    await admin(request);
    const query = parseWith(certificatesQuery, request.query);
    const expiringWithinMs = query.expiringWithin === undefined ? undefined : lifetimeOf(query.expiringWithin);
    let page: CertificatePage;
    try {
      page = await deps.inventory({
        now: deps.clock.now(),
        ...(query.state === undefined ? {} : { states: query.state.split(',') as CertificateState[] }),
        ...(query.profile === undefined ? {} : { profile: query.profile }),
        ...(query.identity === undefined ? {} : { identity: query.identity }),
        ...(query.search === undefined ? {} : { search: query.search }),
        ...(query.limit === undefined ? {} : { limit: query.limit }),
        ...(query.cursor === undefined ? {} : { cursor: query.cursor }),
        ...(expiringWithinMs === undefined ? {} : { expiringWithinMs }),
      });
    } catch (error) {
      if (error instanceof MutualError && error.code === 'ERR_STORE_INVALID_CURSOR') {
        throw new MutualError('ERR_HTTP_INVALID_REQUEST', {
          details: { issues: [{ path: 'cursor', message: 'unknown cursor' }] },
        });
      }
      throw error;
    }
    const items: CertificateSummary[] = page.items.map((c) => ({
      serial: c.serial,
      state: c.state,
      profile: c.profile,
      identity: c.identity,
      subject: c.subject,
      sans: { dns: [...c.sans.dns], ip: [...c.sans.ip], uri: [...c.sans.uri], email: [...c.sans.email] },
      notBefore: c.notBefore.toISOString(),
      notAfter: c.notAfter.toISOString(),
      fingerprintSha256: c.fingerprintSha256,
      requester: c.requester,
      revokedAt: c.revokedAt === null ? null : c.revokedAt.toISOString(),
      revocationReason: c.revocationReason,
    }));
    return { items, nextCursor: page.nextCursor };
  });

  if (deps.adminReads !== undefined) registerAdminRoutes(app, deps, deps.adminReads);
  if (deps.dashboard !== undefined) registerDashboard(app, deps, deps.dashboard);

  // --- operations ------------------------------------------------------------------------------

  app.get('/healthz', (_request, reply) => reply.send({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    const r = await deps.readiness();
    return reply.code(r.ready ? 200 : 503).send({ status: r.ready ? 'ready' : 'not-ready', checks: r.checks });
  });
  app.get('/metrics', async (_request, reply) => {
    for (const crl of deps.revocationState.crls()) {
      // A previous intermediate's CRL is labelled with the start of its issuer's fingerprint.
      const level = crl.level === 'previous' ? `previous-${crl.issuerFingerprint.slice(0, 16)}` : crl.level;
      deps.metrics.crlNumber.set({ level }, Number(crl.number));
      deps.metrics.crlNextUpdate.set({ level }, Math.floor(crl.nextUpdate.getTime() / 1000));
    }
    const counts = await deps.counts();
    for (const [state, n] of Object.entries(counts)) deps.metrics.certificates.set({ state }, n);
    const body = await deps.metrics.registry.metrics();
    return reply.type(deps.metrics.registry.contentType).send(body);
  });

  if (deps.lifecycle) registerLifecycleRoutes(app, deps, deps.lifecycle);

  await app.ready();
  return app;
}
