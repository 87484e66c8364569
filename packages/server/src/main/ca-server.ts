import { X509Certificate, createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { createServer as createHttpsServer, type Server as HttpsServer, type ServerOptions } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  MutualError,
  encodePem,
  exportPrivateKeyPem,
  generateKeyPair,
  importPrivateKey,
  readFileCapped,
} from '@mutual/sdk';
import {
  createClientAuthenticator,
  createEnrollmentService,
  createIssuanceService,
  createOcspResponder,
  createRenewalService,
  createRevocationService,
  pruneExpiredCertificates,
  type RetentionResult,
  createRevocationState,
  createTokenService,
  parseIp,
  type Clock,
  type CrlBuilder,
  type IssuanceService,
  type PkiWork,
  type RandomBytes,
} from '../ca/index.js';
import { createPkiWorkerPool, type PkiWorkerPool } from '../pki-workers/index.js';
import { createAlerting, type AlertRules, type WebhookTarget } from '../alerts/index.js';
import { resolveSecret } from '../keys/index.js';
import { buildCaApp, createCaMetrics, createDashboardSessions } from '../http/index.js';
import { createCrlEncoder } from '../pki/index.js';
import { openLocalCa, type LocalCa } from './local-ca.js';
import { describeCaStatus, type CaCertificateStatus } from './ca-status.js';

export interface StartCaServerOptions {
  /** The CA directory (ca.yaml inside), or… */
  readonly dir?: string;
  /** …the path of ca.yaml. */
  readonly configFile?: string;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly clock?: Clock;
  readonly random?: RandomBytes;
  /** Overrides `server.listen` (port 0: any free port; tests use it). */
  readonly listen?: { readonly host?: string; readonly port?: number };
  /** Fastify/pino logger options; default no request log. */
  readonly logger?: boolean | Record<string, unknown>;
  /** Keeps and signs each level's CRL; default pki's `createCrlEncoder`. */
  readonly crlBuilder?: CrlBuilder;
  /** First backoff between alert webhook attempts (doubles each time); default 1 s. */
  readonly alertRetryBaseMs?: number;
  /** The dashboard's built files served under /ui; default packages/dashboard/dist beside this package. */
  readonly dashboardDir?: string;
  /** Overrides `server.workers` (pki worker threads; 0: in the main thread). */
  readonly workers?: number | 'auto';
}

export interface CaServer {
  /** Base URL (`https://host:port`): the public URL if configured, else the listening address. */
  readonly url: string;
  readonly port: number;
  /** PEM of the root: what clients trust for the server certificate and what CRL checks chain to. */
  readonly rootPem: string;
  /** Republishes CRLs now (as the timer does). */
  refreshRevocations(): Promise<void>;
  /** Evaluates the alert rules now (as the timer does); resolves with the alerts raised. */
  evaluateAlerts(): Promise<{ id: string; rule: string; key: string }[]>;
  /** Resolves once no alert evaluation or webhook delivery is in flight. */
  alertsIdle(): Promise<void>;
  /**
   * Runs the inventory retention pass now (as the hourly timer does): deletes the records of
   * certificates expired longer than inventory.keepExpired, in audited batches. Null when the
   * configuration keeps them forever.
   */
  pruneInventory(): Promise<RetentionResult | null>;
  /**
   * A one-time dashboard login link (`<url>/ui/login#<secret>`): single use, valid 15 minutes, on
   * this instance only. Print it to the operator's terminal; never log it.
   */
  loginLink(): string;
  close(): Promise<void>;
}

const sha256 = (der: Uint8Array): string => createHash('sha256').update(der).digest('hex');
const WILDCARD_HOSTS = new Set(['0.0.0.0', '::', '']);
const PENDING_ABANDONED_MS = 10 * 60_000;
/** How often revocations committed by other instances (sharing the database) are picked up. */
const REVOCATION_POLL_MS = 1000;
/** The delegated OCSP responder certificate: a new key at every start, renewed at 2/3 of this. */
const RESPONDER_LIFETIME_MS = 7 * 24 * 3_600_000;
/** The inventory retention pass: once right after start, then at this interval. */
const PRUNE_INTERVAL_MS = 3_600_000;

/** pki's incremental CRL encoder behind the ca port. */
const pkiCrlBuilder: CrlBuilder = (issuer) => {
  const encoder = createCrlEncoder(issuer);
  return {
    add: (e) => {
      encoder.add({ serial: e.serial, revokedAt: e.revokedAt, reason: e.reason });
    },
    remove: (serial) => {
      encoder.remove(serial);
    },
    sign: (input) =>
      encoder.sign({ thisUpdate: input.thisUpdate, nextUpdate: input.nextUpdate, crlNumber: input.number }),
  };
};

/** The names of the CA's own TLS certificate: the public URL's host, the listening host, and loopback names. */
function serverNames(
  listenHost: string,
  publicUrl: string | undefined,
  extra: { dns: readonly string[]; ip: readonly string[] },
): { dns: string[]; ip: string[]; uri: string[]; email: string[] } {
  const dns = new Set<string>(extra.dns.map((d) => d.toLowerCase()));
  const ip = new Set<string>(extra.ip);
  const add = (host: string): void => {
    const bare = host.replace(/^\[|\]$/g, '');
    if (WILDCARD_HOSTS.has(bare)) {
      dns.add('localhost');
      ip.add('127.0.0.1');
      ip.add('::1');
    } else if (parseIp(bare)) ip.add(bare);
    else dns.add(bare.toLowerCase());
  };
  add(listenHost);
  if (publicUrl !== undefined) add(new URL(publicUrl).hostname);
  if (dns.has('localhost')) ip.add('127.0.0.1');
  if (ip.has('127.0.0.1')) dns.add('localhost');
  return { dns: [...dns], ip: [...ip], uri: [], email: [] };
}

/** packages/dashboard/dist, from src/main or dist/main of this package alike. */
const DEFAULT_DASHBOARD_DIR = path.resolve(fileURLToPath(new URL('../../../dashboard/dist/', import.meta.url)));

const urlHost = (host: string): string => (host.includes(':') ? `[${host}]` : host);

/**
 * The online CA: `mutual ca serve`. Opens the CA directory, serves API v1 over HTTPS with a server
 * certificate from its own intermediate, requests (never requires) client certificates, publishes
 * a CRL per CA level and feeds revocations. Every mutation is audited in its own transaction.
 */
export async function startCaServer(options: StartCaServerOptions): Promise<CaServer> {
  const ca = await openLocalCa({
    ...(options.dir === undefined ? {} : { dir: options.dir }),
    ...(options.configFile === undefined ? {} : { configFile: options.configFile }),
    env: options.env,
    ...(options.clock === undefined ? {} : { clock: options.clock }),
    ...(options.random === undefined ? {} : { random: options.random }),
  });
  const timers: NodeJS.Timeout[] = [];
  let server: HttpsServer | undefined;
  const threads = pkiThreads(options.workers ?? ca.loaded.config.server.workers);
  const pool =
    threads === 0
      ? undefined
      : createPkiWorkerPool({
          size: threads,
          onWorkerError: (err) => {
            process.stderr.write(`${JSON.stringify({ level: 'error', msg: 'pki worker', err: err.message })}\n`);
          },
        });
  try {
    return await serve(ca, options, timers, (s) => (server = s), pool);
  } catch (err) {
    for (const t of timers) clearInterval(t);
    if (server?.listening) await new Promise((resolve) => server?.close(resolve));
    await pool?.close();
    await ca.close();
    throw err;
  }
}

/**
 * `server.workers`: `auto` leaves one core to the main thread (HTTP, TLS, the store) and gives the
 * others a pki thread each — none on one core. On 2 cores, 1 thread measured faster than 0 or 2.
 */
function pkiThreads(setting: number | 'auto'): number {
  if (setting !== 'auto') return setting;
  return Math.max(0, availableParallelism() - 1);
}

async function serve(
  ca: LocalCa,
  options: StartCaServerOptions,
  timers: NodeJS.Timeout[],
  onServer: (s: HttpsServer) => void,
  pool: PkiWorkerPool | undefined,
): Promise<CaServer> {
  const pki: PkiWork | undefined = pool;
  const { config } = ca.loaded;
  const cfg = config.server;
  const { clock, random, store } = ca;
  const host = options.listen?.host ?? cfg.listen.host;
  const port = options.listen?.port ?? cfg.listen.port;
  const intermediateFp = sha256(ca.issuers.intermediate.certificateDer);
  const rootFp = sha256(ca.issuers.root.certificateDer);
  const intermediatePem = encodePem(ca.issuers.intermediate.certificateDer, 'CERTIFICATE');
  // Intermediates replaced by a rotation: their certificates stay valid, renewable and revocable.
  const previous = ca.issuers.previous.map((p) => ({
    ...p,
    fingerprint: sha256(p.certificateDer),
    pem: encodePem(p.certificateDer, 'CERTIFICATE'),
  }));
  // Roots replaced by `mutual ca rotate-root`: they still sign their CRLs and OCSP answers.
  const previousRoots = ca.issuers.previousRoots.map((p) => ({
    ...p,
    fingerprint: sha256(p.certificateDer),
    pem: encodePem(p.certificateDer, 'CERTIFICATE'),
  }));
  // Sent after the intermediate in every chain: the root certified by a previous root.
  const cross = ca.issuers.cross.map((der) => ({ der, fingerprint: sha256(der), pem: encodePem(der, 'CERTIFICATE') }));
  const issuer = {
    certificateDer: ca.issuers.intermediate.certificateDer,
    chainDer: [ca.issuers.root.certificateDer],
    sentAfterDer: ca.issuers.cross,
    privateKey: ca.issuers.intermediate.privateKey,
  };
  const baseIssuance = (distribution?: { crlUrl?: string; ocspUrl?: string }): IssuanceService =>
    createIssuanceService({
      store,
      issuer,
      policies: ca.policies,
      defaultLifetimeMs: config.defaults.lifetime,
      clock,
      random,
      ...(distribution === undefined ? {} : { distribution }),
      ...(pki === undefined ? {} : { pki }),
    });

  // Intents a crashed process left behind never became certificates: mark them failed, audited.
  const abandoned = await store.listPending(new Date(clock.now().getTime() - PENDING_ABANDONED_MS));
  for (const intent of abandoned) {
    await store.transaction(async (tx) => {
      await tx.failIssuance(intent.serial, 'abandoned: no result recorded before restart');
      await tx.appendAudit({
        at: clock.now(),
        actor: 'ca-server',
        action: 'certificate.abandon',
        subject: intent.serial,
        details: { profile: intent.profile, requester: intent.requester },
      });
    });
  }

  // The TLS server certificate: configured files, or issued now by our own intermediate.
  const tlsNames = serverNames(host, cfg.publicUrl, 'auto' in cfg.tls ? cfg.tls.auto : { dns: [], ip: [] });
  const issueServerCertificate = async (): Promise<{ key: string; cert: string; notAfter: Date; notBefore: Date }> => {
    if (!('auto' in cfg.tls)) throw new MutualError('ERR_INTERNAL_UNEXPECTED');
    const keys = generateKeyPair('p256');
    const issued = await baseIssuance().issueTrusted({
      pkiProfile: 'server',
      recordProfile: 'ca-server',
      names: tlsNames,
      publicKey: keys.publicKey,
      lifetimeMs: cfg.tls.auto.lifetime,
      requester: 'ca-server',
      audit: { action: 'server-certificate.issue' },
    });
    return {
      key: exportPrivateKeyPem(keys.privateKey),
      cert: issued.chainPem,
      notAfter: issued.notAfter,
      notBefore: issued.notBefore,
    };
  };
  let tls: { key: string; cert: string; notAfter?: Date; notBefore?: Date };
  if ('auto' in cfg.tls) {
    tls = await issueServerCertificate();
  } else {
    const files = cfg.tls;
    const keyText = (await readFileCapped(ca.loaded.resolve(files.key), 1024 * 1024)).toString('utf8');
    tls = {
      cert: (await readFileCapped(ca.loaded.resolve(files.certificate), 1024 * 1024)).toString('utf8'),
      key: exportPrivateKeyPem(importPrivateKey(keyText)),
    };
  }

  const tokenKey = await ca.tokenKey();
  if (tokenKey.created) {
    await store.appendAudit({
      at: clock.now(),
      actor: 'ca-server',
      action: 'token-key.create',
      subject: sha256(new Uint8Array(createPublicKey(tokenKey.key).export({ type: 'spki', format: 'der' }))),
      details: { file: tokenKey.file },
    });
  }

  // Bind first: the URL (token audience, CRL and OCSP URLs) must be known before the routes exist.
  // Until the API is ready, the port answers 503.
  const httpsOptions: ServerOptions = {
    key: tls.key,
    cert: tls.cert,
    ca: [
      ca.rootPem,
      intermediatePem,
      ...previous.map((p) => p.pem),
      ...previousRoots.map((p) => p.pem),
      ...cross.map((c) => c.pem),
    ],
    requestCert: true,
    rejectUnauthorized: false,
    minVersion: 'TLSv1.2',
  };
  const server = createHttpsServer(httpsOptions);
  onServer(server);
  const notReady = (_req: IncomingMessage, res: ServerResponse): void => {
    res.writeHead(503, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: new MutualError('ERR_HTTP_NOT_READY').toPublic() }));
  };
  server.on('request', notReady);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const bound = (server.address() as AddressInfo).port;
  const url = (cfg.publicUrl ?? `https://${urlHost(WILDCARD_HOSTS.has(host) ? 'localhost' : host)}:${bound}`).replace(
    /\/$/,
    '',
  );

  const crlBuilder = options.crlBuilder ?? pkiCrlBuilder;
  // Each intermediate's CRL has a URL of its own, so certificates keep finding theirs after a rotation.
  const issuance = baseIssuance({ crlUrl: `${url}/v1/crl/${intermediateFp.slice(0, 16)}`, ocspUrl: `${url}/v1/ocsp` });

  // The delegated OCSP responder for the intermediate's certificates (RFC 6960 §4.2.2.2).
  const issueResponder = async (): Promise<{ certificateDer: Uint8Array; privateKey: KeyObject; notBefore: Date }> => {
    const keys = generateKeyPair('p256');
    const issued = await baseIssuance().issueTrusted({
      pkiProfile: 'ocsp',
      recordProfile: 'ocsp',
      names: { dns: [], ip: [], uri: [], email: [] },
      commonName: `${config.name} OCSP Responder`,
      publicKey: keys.publicKey,
      lifetimeMs: RESPONDER_LIFETIME_MS,
      requester: 'ca-server',
      audit: { action: 'ocsp-responder.issue' },
    });
    return { certificateDer: issued.der, privateKey: keys.privateKey, notBefore: issued.notBefore };
  };
  let responder = await issueResponder();
  const ocsp = createOcspResponder({
    store,
    clock,
    levels: [
      { issuerDer: issuer.certificateDer, issuerFingerprint: intermediateFp, signer: () => responder },
      // A previous intermediate signs its own answers (RFC 6960 §2.2: the CA that issued the certificate).
      ...previous.map((p) => ({ issuerDer: p.certificateDer, issuerFingerprint: p.fingerprint, signer: () => p })),
      ...previousRoots.map((p) => ({ issuerDer: p.certificateDer, issuerFingerprint: p.fingerprint, signer: () => p })),
      { issuerDer: ca.issuers.root.certificateDer, issuerFingerprint: rootFp, signer: () => ca.issuers.root },
    ],
    validityMs: Math.min(cfg.crl.refresh, 3_600_000),
  });
  const responderCheck = setInterval(
    () => {
      if (clock.now().getTime() < responder.notBefore.getTime() + (RESPONDER_LIFETIME_MS * 2) / 3) return;
      issueResponder()
        .then((next) => {
          responder = next;
        })
        .catch((err: unknown) => {
          app.log.error({ err }, 'OCSP responder renewal failed');
        });
    },
    Math.floor(RESPONDER_LIFETIME_MS / 100),
  );
  responderCheck.unref();
  timers.push(responderCheck);
  const tokens = createTokenService({
    signingKey: tokenKey.key,
    issuer: `urn:mutual:ca:${rootFp}`,
    audience: `${url}/v1/sign`,
    policies: ca.policies,
    defaultTtlMs: cfg.tokens.ttl,
    maxTtlMs: cfg.tokens.maxTtl,
    clock,
    random,
    store,
  });
  const clients = createClientAuthenticator({
    store,
    issuerFingerprints: new Set([intermediateFp, ...previous.map((p) => p.fingerprint)]),
    clock,
  });
  const enrollment = createEnrollmentService({
    tokens,
    issuance,
    policies: ca.policies,
    clock,
    maxCsrBytes: cfg.bodyLimit,
    ...(pki === undefined ? {} : { pki }),
  });
  const renewal = createRenewalService({
    clients,
    issuance,
    graceAfterExpiryMs: cfg.renewal.graceAfterExpiry,
    allowSameKey: cfg.renewal.allowSameKey,
    adminLifetimeMs: cfg.admin.lifetime,
    maxCsrBytes: cfg.bodyLimit,
    ...(pki === undefined ? {} : { pki }),
  });
  const revocation = createRevocationService({
    store,
    clock,
    protectedFingerprints: new Set([
      intermediateFp,
      rootFp,
      ...previous.map((p) => p.fingerprint),
      ...previousRoots.map((p) => p.fingerprint),
      ...cross.map((c) => c.fingerprint),
    ]),
  });
  const revocationState = createRevocationState({
    store,
    clock,
    levels: [
      { name: 'root', ...ca.issuers.root },
      { name: 'intermediate', ...ca.issuers.intermediate },
      ...[...previous, ...previousRoots].map((p) => ({
        name: 'previous' as const,
        certificateDer: p.certificateDer,
        privateKey: p.privateKey,
      })),
    ],
    builder: crlBuilder,
    crlLifetimeMs: cfg.crl.lifetime,
  });
  // Revocations reach the CRL, OCSP and the feed through the audit log, in commit order — the
  // ones committed here at once, other instances' within REVOCATION_POLL_MS.
  revocation.onRevoked(() => revocationState.sync());

  // The configuration in effect, audited at every start (a changed file shows as a changed hash);
  // its sequence number is where this instance starts following the audit log.
  const started = await store.appendAudit({
    at: clock.now(),
    actor: 'ca-server',
    action: 'ca.start',
    subject: url,
    details: {
      configFile: ca.loaded.file,
      configSha256: createHash('sha256').update(JSON.stringify(config)).digest('hex'),
      listen: { host, port: bound },
      publicUrl: url,
      tokenKeyId: tokens.keyId,
    },
  });
  await revocationState.start(started.seq);

  const alertsCfg = config.alerts;
  const rules: AlertRules = {
    ...(alertsCfg.expiring === undefined ? {} : { expiring: { withinMs: alertsCfg.expiring.within } }),
    ...(alertsCfg.renewalOverdue === undefined ? {} : { renewalOverdue: true }),
    ...(alertsCfg.authFailures === undefined
      ? {}
      : {
          authFailures: {
            threshold: alertsCfg.authFailures.threshold,
            windowMs: alertsCfg.authFailures.window,
            per: alertsCfg.authFailures.per,
          },
        }),
    ...(alertsCfg.revokedInUse === undefined ? {} : { revokedInUse: true }),
    cooldownMs: alertsCfg.cooldown,
  };
  let webhook: WebhookTarget | undefined;
  if (alertsCfg.webhook !== undefined) {
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(alertsCfg.webhook.headers)) {
      headers[name] =
        typeof value === 'string'
          ? value
          : await resolveSecret(value, { env: options.env, baseDir: ca.loaded.baseDir });
    }
    webhook = {
      url: alertsCfg.webhook.url,
      headers,
      timeoutMs: alertsCfg.webhook.timeout,
      retries: alertsCfg.webhook.retries,
    };
  }
  const alerting = createAlerting({
    store,
    rules,
    ...(webhook === undefined ? {} : { webhook }),
    clock,
    random,
    log: (level, message, fields) => {
      app.log[level](fields, message);
    },
    ...(options.alertRetryBaseMs === undefined ? {} : { retryBaseMs: options.alertRetryBaseMs }),
  });
  const evaluateAlerts = (): void => {
    alerting.evaluate().catch((err: unknown) => {
      app.log.error({ err }, 'alert evaluation failed');
    });
  };

  const metrics = createCaMetrics();
  if (pool !== undefined) {
    metrics.observePkiThreads(() => ({
      threads: pool.size,
      inFlight: pool.inFlight(),
      stops: pool.stops(),
      inline: pool.inline(),
    }));
  }
  for (const [level, der] of [
    ['root', ca.issuers.root.certificateDer],
    ['intermediate', ca.issuers.intermediate.certificateDer],
    ...previous.map((p) => ['previous', p.certificateDer] as const),
    ...previousRoots.map((p) => ['previous-root', p.certificateDer] as const),
    ...cross.map((c) => ['cross', c.der] as const),
  ] as const) {
    metrics.caCertificateExpiry.set(
      { level, fingerprint: sha256(der).slice(0, 16) },
      Math.floor(Date.parse(new X509Certificate(der).validTo) / 1000),
    );
  }
  const sessions = createDashboardSessions(clock);
  const app = await buildCaApp(
    {
      clock,
      roots: {
        rootPem: ca.rootPem,
        intermediatePem,
        fingerprint: rootFp,
        intermediates: [
          { fingerprint: intermediateFp, pem: intermediatePem },
          ...previous.map((p) => ({ fingerprint: p.fingerprint, pem: p.pem })),
        ],
        previousRootPems: previousRoots.map((p) => p.pem),
        sentAfterPems: cross.map((c) => c.pem),
      },
      enrollment,
      renewal,
      revocation,
      revocationState,
      clients,
      tokens,
      inventory: (filter) => store.listCertificates(filter),
      counts: () => store.countByState(clock.now()),
      recordRefusal: async (entry) => {
        await store.appendAudit(entry);
      },
      readiness: async () => {
        const checks: Record<string, string> = {};
        let ready = true;
        try {
          await store.getCertificate('00');
          checks['store'] = 'ok';
        } catch (err) {
          ready = false;
          checks['store'] = err instanceof MutualError ? err.code : 'unavailable';
        }
        // Every level's CRL — root, signing intermediate, previous intermediates — published and current.
        const published = revocationState.crls();
        const fresh =
          published.length === 2 + previous.length + previousRoots.length &&
          published.every((crl) => crl.nextUpdate.getTime() > clock.now().getTime());
        checks['crl'] = fresh ? 'ok' : 'stale';
        ready &&= fresh;
        return { ready, checks };
      },
      metrics,
      crlRefreshMs: cfg.crl.refresh,
      ocsp: (der) => ocsp.respond(der),
      lifecycle: {
        store,
        staleAfterMs: config.reports.staleAfter,
        ...(alertsCfg.expiring === undefined ? {} : { expiringWithinMs: alertsCfg.expiring.within }),
        onReport: evaluateAlerts,
        status: async (now) => {
          const s = await describeCaStatus({ loaded: ca.loaded, store, now, dir: ca.loaded.baseDir });
          const cert = (c: CaCertificateStatus) => ({
            subject: c.subject,
            fingerprint: c.fingerprint,
            notBefore: c.notBefore.toISOString(),
            notAfter: c.notAfter.toISOString(),
            left: c.left,
            ...(c.key === undefined ? {} : { key: { ...c.key } }),
          });
          return {
            name: s.name,
            store: s.store,
            root: cert(s.root),
            intermediate: cert(s.intermediate),
            previousRoots: s.previousRoots.map((r) => ({
              ...cert(r),
              certificates: r.certificates,
              atLeast: r.atLeast,
              lastNotAfter: r.lastNotAfter?.toISOString() ?? null,
            })),
            previousIntermediates: s.previousIntermediates.map(cert),
            crossCertificates: s.crossCertificates.map(cert),
            inventory: s.inventory,
            keepExpiredMs: s.keepExpiredMs,
            components: s.components.map((c) => ({ ...c, lastSeen: c.lastSeen.toISOString() })),
            next: [...s.next],
          };
        },
      },
      adminReads: {
        audit: (o) => store.listAudit(o),
        verifyAudit: () => store.verifyAuditChain(),
        certificate: async (serial) => {
          const record = await store.getCertificate(serial);
          if (record === undefined) return undefined;
          const now = clock.now();
          const page = await store.listCertificates({ now, search: record.serial, limit: 1000 });
          return page.items.find((c) => c.serial === record.serial);
        },
        unusedTokens: (now, limit) => store.listUnusedTokens(now, limit),
      },
      dashboard: {
        dir: path.resolve(options.dashboardDir ?? DEFAULT_DASHBOARD_DIR),
        sessions,
        audit: async (entry) => {
          await store.appendAudit(entry);
        },
      },
    },
    {
      https: httpsOptions,
      bodyLimit: cfg.bodyLimit,
      serverFactory: (handler) => {
        server.off('request', notReady);
        server.on('request', handler);
        return server;
      },
      ...(options.logger === undefined ? {} : { logger: options.logger }),
    },
  );

  const refresh = (): Promise<void> => revocationState.refresh();
  const pollTimer = setInterval(() => {
    revocationState.sync().catch((err: unknown) => {
      app.log.error({ err }, 'revocation sync failed');
    });
  }, REVOCATION_POLL_MS);
  pollTimer.unref();
  timers.push(pollTimer);
  const refreshTimer = setInterval(() => {
    refresh().catch((err: unknown) => {
      app.log.error({ err }, 'CRL refresh failed');
    });
  }, cfg.crl.refresh);
  refreshTimer.unref();
  timers.push(refreshTimer);

  // Alert rules on an interval; failed authentications past their retention are pruned with them.
  const alertTimer = setInterval(() => {
    evaluateAlerts();
    store
      .pruneAuthFailures(new Date(clock.now().getTime() - config.reports.authFailureRetention))
      .catch((err: unknown) => {
        app.log.error({ err }, 'pruning failed authentications failed');
      });
    store
      .pruneAlerts(new Date(clock.now().getTime() - Math.max(alertsCfg.retention, alertsCfg.cooldown)))
      .catch((err: unknown) => {
        app.log.error({ err }, 'pruning alerts failed');
      });
    // A token lives at most server.tokens.maxTtl: an hour past that, its records protect nothing.
    store.pruneSpentTokens(new Date(clock.now().getTime() - cfg.tokens.maxTtl - 3_600_000)).catch((err: unknown) => {
      app.log.error({ err }, 'pruning spent tokens failed');
    });
  }, alertsCfg.interval);
  alertTimer.unref();
  timers.push(alertTimer);

  // Inventory retention: records of certificates expired longer than inventory.keepExpired are
  // deleted in audited batches, once right after start and then every hour.
  const keepExpiredMs = config.inventory.keepExpired;
  let pruning: Promise<RetentionResult | null> | undefined;
  const pruneInventory = (): Promise<RetentionResult | null> => {
    if (keepExpiredMs === null) return Promise.resolve(null);
    pruning ??= pruneExpiredCertificates({ store, clock, keepExpiredMs })
      .then((result) => {
        for (const [status, n] of Object.entries(result.pruned)) if (n > 0) metrics.pruned.inc({ status }, n);
        if (result.batches > 0) {
          app.log.info(
            { pruned: result.pruned, before: result.before.toISOString() },
            'expired certificates removed from the inventory',
          );
        }
        return result;
      })
      .finally(() => {
        pruning = undefined;
      });
    return pruning;
  };
  if (keepExpiredMs !== null) {
    const prune = (): void => {
      if (closing !== undefined) return;
      pruneInventory().catch((err: unknown) => {
        app.log.error({ err }, 'pruning expired certificates failed');
      });
    };
    setImmediate(prune);
    const pruneTimer = setInterval(prune, PRUNE_INTERVAL_MS);
    pruneTimer.unref();
    timers.push(pruneTimer);
  }

  if ('auto' in cfg.tls && tls.notAfter !== undefined && tls.notBefore !== undefined) {
    // Renew the server certificate at 2/3 of its life; setSecureContext keeps open connections.
    const lifetime = tls.notAfter.getTime() - tls.notBefore.getTime();
    const check = setInterval(
      () => {
        const current = tls;
        if (current.notAfter === undefined || current.notBefore === undefined) return;
        if (clock.now().getTime() < current.notBefore.getTime() + (lifetime * 2) / 3) return;
        issueServerCertificate()
          .then((next) => {
            tls = next;
            server.setSecureContext({ ...httpsOptions, key: next.key, cert: next.cert });
          })
          .catch((err: unknown) => {
            app.log.error({ err }, 'server certificate renewal failed');
          });
      },
      Math.min(3_600_000, Math.max(1000, Math.floor(lifetime / 100))),
    );
    check.unref();
    timers.push(check);
  }

  let closing: Promise<void> | undefined;
  return {
    url,
    port: bound,
    rootPem: ca.rootPem,
    refreshRevocations: refresh,
    evaluateAlerts: () => alerting.evaluate(),
    pruneInventory,
    alertsIdle: () => alerting.idle(),
    loginLink() {
      return `${url}/ui/login#${sessions.createLoginLink().secret}`;
    },
    close() {
      closing ??= (async () => {
        for (const t of timers) clearInterval(t);
        await app.close();
        if (server.listening) await new Promise((resolve) => server.close(resolve));
        await pool?.close();
        await pruning?.catch(() => undefined);
        await ca.close();
      })();
      return closing;
    },
  };
}
