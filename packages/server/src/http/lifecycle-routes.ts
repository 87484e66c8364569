import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Gauge } from 'prom-client';
import { z } from 'zod';
import { MutualError, decodePem, extractIdentity } from '@mutual/sdk';
import {
  alertsQuery,
  authFailuresQuery,
  reportRequest,
  type AlertEvent,
  type AuthFailuresResponse,
  type CaStatusResponse,
  type ComponentSummary,
  type DiscoveredCertificate,
  type ReportResponse,
} from '@mutual/sdk/contract';
import type { ClientVerdict } from '../ca/index.js';
import type { ReportedSighting, SeenCertificate, Store } from '../store/index.js';
import { invalidRequest } from './errors.js';
import { identifyAdmin } from './admin-auth.js';
import type { CaHttpDeps } from './app.js';

/**
 * Routes of the lifecycle and visibility part of API v1: components push reports (POST
 * /v1/reports, mTLS with any certificate of this CA); admins read components, discovered
 * certificates, failed authentications and alerts. Also the per-certificate expiry gauge.
 */
export interface LifecycleHttpDeps {
  readonly store: Pick<
    Store,
    | 'recordReport'
    | 'listComponents'
    | 'listDiscovered'
    | 'summarizeAuthFailures'
    | 'listAlerts'
    | 'findByFingerprint'
    | 'listCertificates'
    | 'transaction'
  >;
  /** A component with no report for this long is `stale`. */
  readonly staleAfterMs: number;
  /**
   * What `expiring` means for a discovered certificate: expires within this window; absent, as in
   * the inventory: within 7 days and less than a third of its lifetime left.
   */
  readonly expiringWithinMs?: number;
  /** Called after a stored report that could raise an alert (failed authentications or sightings). */
  readonly onReport: () => void;
  /** GET /v1/status: the CA's certificates and the steps due at `now` (what `mutual ca status` prints). */
  readonly status?: (now: Date) => Promise<CaStatusResponse>;
}

/** Largest body of POST /v1/reports (a report carries chains and many events; other routes keep server.bodyLimit). */
export const REPORT_BODY_LIMIT = 4 * 1024 * 1024;
/** Most series of mutual_certificate_expiry_seconds (soonest expiry first); documented in metrics.md. */
export const MAX_EXPIRY_SERIES = 1000;
const HOUR = 3_600_000;
/** Most hourly buckets GET /v1/auth-failures returns (31 days); a longer window keeps the newest. */
const MAX_BUCKETS = 31 * 24;
const DAY = 24 * HOUR;

const emptyQuery = z.strictObject({});

function parseWith<S extends z.ZodType>(schema: S, value: unknown): z.output<S> {
  const result = schema.safeParse(value ?? {});
  if (!result.success) throw invalidRequest(result.error);
  return result.data;
}

const badField = (path: string, message: string): MutualError =>
  new MutualError('ERR_HTTP_INVALID_REQUEST', { details: { issues: [{ path, message }] } });

function seenCertificate(chain: readonly string[], path: string): SeenCertificate {
  const ders: Uint8Array[] = [];
  for (const pem of chain) {
    let blocks;
    try {
      blocks = decodePem(pem);
    } catch {
      throw badField(path, 'not a PEM certificate');
    }
    for (const b of blocks) if (b.label === 'CERTIFICATE') ders.push(b.der);
  }
  const leaf = ders[0];
  if (leaf === undefined) throw badField(path, 'no certificate');
  let id;
  try {
    id = extractIdentity(leaf);
  } catch {
    throw badField(path, 'the leaf certificate does not parse');
  }
  const pemOf = (der: Uint8Array): string =>
    `-----BEGIN CERTIFICATE-----\n${(
      Buffer.from(der)
        .toString('base64')
        .match(/.{1,64}/g) ?? []
    ).join('\n')}\n-----END CERTIFICATE-----`;
  return {
    fingerprintSha256: id.fingerprintSha256,
    serial: id.serialHex.replace(/^-/, ''),
    subject: id.subject,
    issuer: id.issuer,
    identity: id.value,
    notBefore: id.notBefore,
    notAfter: id.notAfter,
    pem: pemOf(leaf),
    chain: ders.map(pemOf),
  };
}

export function registerLifecycleRoutes(app: FastifyInstance, deps: CaHttpDeps, lifecycle: LifecycleHttpDeps): void {
  const { store } = lifecycle;
  const identify = async (request: FastifyRequest): Promise<ClientVerdict> => {
    const socket = request.raw.socket as { getPeerCertificate?: (detailed: boolean) => { raw?: Buffer } | null };
    const peer = typeof socket.getPeerCertificate === 'function' ? socket.getPeerCertificate(false) : null;
    const der = peer?.raw !== undefined && peer.raw.length > 0 ? new Uint8Array(peer.raw) : undefined;
    return deps.clients.identify(der);
  };
  // Admin reads accept the admin client certificate or a dashboard session, like every admin route.
  const admin = async (request: FastifyRequest): Promise<string> =>
    (await identifyAdmin(request, deps.clients, deps.dashboard?.sessions)).actor;

  app.post('/v1/reports', { bodyLimit: REPORT_BODY_LIMIT }, async (request): Promise<ReportResponse> => {
    const verdict = await identify(request);
    if (!verdict.ok) {
      throw new MutualError(
        verdict.reason === 'none' ? 'ERR_AUTH_CLIENT_CERT_REQUIRED' : 'ERR_AUTH_CLIENT_CERT_INVALID',
        {
          cause: new Error(`client certificate ${verdict.reason}`),
        },
      );
    }
    const reportedBy = verdict.admin
      ? `admin:${verdict.record.serial}`
      : (verdict.record.identity ?? `serial:${verdict.record.serial}`);
    const body = parseWith(reportRequest, request.body);
    // A component's clock may run ahead of the CA's: an event is never recorded later than its arrival.
    const received = deps.clock.now();
    const notAfterArrival = (iso: string): Date => new Date(Math.min(Date.parse(iso), received.getTime()));
    const sightings: ReportedSighting[] = body.sightings.map((s, i) => ({
      certificate: seenCertificate(s.chain, `sightings.${i}.chain`),
      place: s.where,
      role: s.role,
      at: notAfterArrival(s.at),
    }));
    const component = `${body.component.kind}/${body.component.name}`;
    await store.transaction(async (tx) => {
      const { newComponent } = await tx.recordReport({
        kind: body.component.kind,
        name: body.component.name,
        reportedBy,
        at: deps.clock.now(),
        health: body.health,
        certificates: body.certificates,
        sightings,
        authFailures: body.authFailures.map((f) => ({
          at: notAfterArrival(f.at),
          listener: f.listener,
          stage: f.stage,
          reason: f.reason,
          address: f.address,
          identity: f.identity,
          serial: f.serial,
          fingerprintSha256: f.fingerprintSha256,
          issuer: f.issuer,
        })),
      });
      // The first report of a component is audited; heartbeats are not.
      if (newComponent) {
        await tx.appendAudit({
          at: deps.clock.now(),
          actor: verdict.admin ? `admin:${verdict.record.serial}` : `cert:${verdict.record.serial}`,
          action: 'component.register',
          subject: component,
          details: { kind: body.component.kind, name: body.component.name, reportedBy, origin: request.ip },
        });
      }
    });
    if (body.authFailures.length > 0 || sightings.length > 0 || body.certificates.some((c) => c.overdue)) {
      lifecycle.onReport();
    }
    return {
      accepted: {
        authFailures: body.authFailures.length,
        sightings: sightings.length,
        certificates: body.certificates.length,
      },
    };
  });

  app.get('/v1/status', async (request, reply) => {
    await admin(request);
    parseWith(emptyQuery, request.query);
    if (lifecycle.status === undefined)
      return reply.code(404).send({ error: new MutualError('ERR_HTTP_NOT_FOUND').toPublic() });
    return lifecycle.status(deps.clock.now());
  });

  app.get('/v1/components', async (request) => {
    await admin(request);
    parseWith(emptyQuery, request.query);
    const now = deps.clock.now().getTime();
    const items: ComponentSummary[] = (await store.listComponents()).map((c) => ({
      kind: c.kind as ComponentSummary['kind'],
      name: c.name,
      reportedBy: c.reportedBy,
      lastSeen: c.lastSeen.toISOString(),
      stale: now - c.lastSeen.getTime() > lifecycle.staleAfterMs,
      health: c.health as ComponentSummary['health'],
      certificates: c.certificates as ComponentSummary['certificates'],
    }));
    return { items };
  });

  const expiring = (start: number, end: number, now: number): boolean =>
    lifecycle.expiringWithinMs === undefined
      ? end < now + 7 * DAY && 2 * end + start < 3 * now
      : end < now + lifecycle.expiringWithinMs;

  app.get('/v1/sightings', async (request) => {
    await admin(request);
    parseWith(emptyQuery, request.query);
    const now = deps.clock.now().getTime();
    const items: DiscoveredCertificate[] = [];
    for (const d of await store.listDiscovered()) {
      const record = await store.findByFingerprint(d.fingerprintSha256);
      const end = d.notAfter.getTime();
      const state: DiscoveredCertificate['state'] =
        record?.status === 'revoked'
          ? 'revoked'
          : d.notBefore.getTime() > now
            ? 'not-yet-valid'
            : end < now
              ? 'expired'
              : expiring(d.notBefore.getTime(), end, now)
                ? 'expiring'
                : 'valid';
      items.push({
        fingerprintSha256: d.fingerprintSha256,
        serial: d.serial,
        subject: d.subject,
        issuer: d.issuer,
        identity: d.identity,
        notBefore: d.notBefore.toISOString(),
        notAfter: d.notAfter.toISOString(),
        state,
        issuedHere: record !== undefined,
        places: d.places.map((p) => ({
          where: p.where,
          role: p.role as DiscoveredCertificate['places'][number]['role'],
          firstSeen: p.firstSeen.toISOString(),
          lastSeen: p.lastSeen.toISOString(),
        })),
      });
    }
    return { items };
  });

  app.get('/v1/auth-failures', async (request): Promise<AuthFailuresResponse> => {
    await admin(request);
    const query = parseWith(authFailuresQuery, request.query);
    const now = deps.clock.now();
    const until = query.until === undefined ? now : new Date(query.until);
    const since = query.since === undefined ? new Date(until.getTime() - DAY) : new Date(query.since);
    if (since.getTime() >= until.getTime()) throw badField('since', 'must be before until');
    const summary = await store.summarizeAuthFailures(
      {
        since,
        until,
        ...(query.reason === undefined ? {} : { reason: query.reason }),
        ...(query.identity === undefined ? {} : { identity: query.identity }),
        ...(query.address === undefined ? {} : { address: query.address }),
      },
      query.limit ?? 100,
    );
    const counts = new Map(summary.hourly.map((h) => [h.start.getTime(), h.count]));
    const last = Math.floor(until.getTime() / HOUR) * HOUR;
    const first = Math.max(Math.floor(since.getTime() / HOUR) * HOUR, last - (MAX_BUCKETS - 1) * HOUR);
    const buckets: AuthFailuresResponse['buckets'] = [];
    for (let t = first; t <= last; t += HOUR) {
      buckets.push({ start: new Date(t).toISOString(), count: counts.get(t) ?? 0 });
    }
    return {
      since: since.toISOString(),
      until: until.toISOString(),
      total: summary.total,
      byReason: summary.byReason,
      byIdentity: summary.byIdentity,
      byAddress: summary.byAddress,
      buckets,
      recent: summary.recent.map((r) => ({
        at: r.at.toISOString(),
        component: r.component,
        listener: r.listener,
        stage: r.stage as 'handshake' | 'request',
        reason: r.reason,
        address: r.address,
        identity: r.identity,
        serial: r.serial,
        fingerprintSha256: r.fingerprintSha256,
        issuer: r.issuer,
      })),
    };
  });

  app.get('/v1/alerts', async (request) => {
    await admin(request);
    const query = parseWith(alertsQuery, request.query);
    const rows = await store.listAlerts({
      ...(query.rule === undefined ? {} : { rule: query.rule }),
      limit: query.limit ?? 100,
    });
    const items: AlertEvent[] = rows.map((a) => ({
      id: a.id,
      rule: a.rule as AlertEvent['rule'],
      key: a.key,
      at: a.at.toISOString(),
      severity: a.severity,
      message: a.message,
      details: { ...a.details },
      delivery: a.delivery,
    }));
    return { items };
  });

  // Seconds left per valid certificate, issued here or discovered in use; soonest first, capped.
  new Gauge({
    name: 'mutual_certificate_expiry_seconds',
    help: `Seconds until notAfter of each unexpired, unrevoked certificate (issued or discovered), soonest first, at most ${MAX_EXPIRY_SERIES} series.`,
    labelNames: ['serial', 'identity', 'source'],
    registers: [deps.metrics.registry],
    async collect() {
      this.reset();
      const now = deps.clock.now();
      const series: { serial: string; identity: string; source: string; notAfter: number }[] = [];
      const issued = await store.listCertificates({ now, states: ['valid', 'expiring'], limit: MAX_EXPIRY_SERIES });
      for (const c of issued.items) {
        series.push({ serial: c.serial, identity: c.identity ?? '', source: 'issued', notAfter: c.notAfter.getTime() });
      }
      const issuedFingerprints = new Set(issued.items.map((c) => c.fingerprintSha256));
      for (const d of await store.listDiscovered({ limit: MAX_EXPIRY_SERIES })) {
        if (d.notAfter.getTime() < now.getTime() || issuedFingerprints.has(d.fingerprintSha256)) continue;
        if ((await store.findByFingerprint(d.fingerprintSha256)) !== undefined) continue;
        series.push({
          serial: d.serial,
          identity: d.identity ?? '',
          source: 'discovered',
          notAfter: d.notAfter.getTime(),
        });
      }
      series.sort((a, b) => a.notAfter - b.notAfter);
      for (const s of series.slice(0, MAX_EXPIRY_SERIES)) {
        this.set(
          { serial: s.serial, identity: s.identity, source: s.source },
          Math.floor((s.notAfter - now.getTime()) / 1000),
        );
      }
    },
  });
}
