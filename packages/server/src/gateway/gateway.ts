/**
 * The running gateway: one TLS server per listener (HTTP/1.1 read by http1.ts, or tcp relays) plus the admin listener. Each connection is
 * judged once after its handshake; each request is normalized, routed, authorized, rate-limited,
 * forwarded and audited. All rules live in one immutable state object swapped whole on reload.
 */
import { EventEmitter } from 'node:events';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex, Writable } from 'node:stream';
import { createServer as createTlsServer, type Server as TlsServer, type TLSSocket } from 'node:tls';
import { MutualError, extractIdentity } from '@mutual/sdk';
import { loadGatewayConfig, type GatewayListenerConfig, type LoadedGatewayConfig } from '../config/index.js';
import { createAuditSink, type AuditSink, type GatewayAuditRecord } from './audit.js';
import {
  createUpstream,
  forwardRequest,
  forwardUpgrade,
  rawHead,
  type ForwardOutcome,
  type Upstream,
} from './forward.js';
import {
  createVerifiedChains,
  judgePresented,
  presentedBy,
  presentedFor,
  type AcceptedPeer,
  type HandshakeRules,
  type HandshakeVerdict,
  type Presented,
} from './handshake.js';
import { clientCertChainHeader, clientCertHeader, upstreamRequestHeaders, xfccHeader } from './headers.js';
import { Http1Server, type Http1Refusal, type Http1Request, type Http1Response } from './http1.js';
import {
  listenerFiles,
  loadListenerMaterial,
  type LoadedListenerMaterial,
  type ServerCertificateSource,
} from './material.js';
import { createGatewayMetrics, type GatewayMetrics } from './metrics.js';
import { normalizeTarget } from './path.js';
import { compilePins, compilePolicy, nextPinExpiry, type CompiledRoute, type Policy } from './policy.js';
import { createRateLimiter, type Limiter, type Take } from './rate-limit.js';
import { createRedisRateStore, type RateBucketName, type RedisRateStore } from './rate-limit-redis.js';
import { createRevocation, type Revocation } from './revocation.js';
import { secureContextOptions } from './tls-options.js';
import { commonNameOf, proxyV2Header, relay, splitHostPort } from './tcp.js';

const TCP_CONNECT_TIMEOUT_MS = 5_000;

/** A tcp listener's allow rules as the one route of its policy (so both modes decide alike). */
function tcpPolicy(l: GatewayListenerConfig): Policy {
  return compilePolicy([
    {
      name: 'tcp',
      path: { prefix: '/' },
      mode: 'enforce',
      anonymous: false,
      allow: [...(l.allow ?? [])],
      pins: [],
      upstream: 'tcp',
      forwardIdentity: { xfcc: false, clientCert: false },
    },
  ]);
}

export interface GatewayClock {
  now(): Date;
}

export type GatewayLogLevel = 'info' | 'warn' | 'error';
export type GatewayLog = (level: GatewayLogLevel, message: string, fields?: Record<string, unknown>) => void;

export interface CreateGatewayOptions {
  readonly loaded: LoadedGatewayConfig;
  readonly clock?: GatewayClock;
  readonly log?: GatewayLog;
  /** Where audit records go when `audit.file` is "-". */
  readonly stdout?: Writable;
  /** Serve the admin listener (default true; the workers of a multi-process gateway leave it to the primary). */
  readonly admin?: boolean;
  /** The current certificate of each `tls.fromCa` listener (kept renewed by the composition root). */
  readonly serverCertificates?: ServerCertificateSource;
}

export type ReloadResult = { readonly ok: true } | { readonly ok: false; readonly error: MutualError };

export interface Gateway {
  readonly listeners: readonly { readonly name: string; readonly port: number }[];
  readonly adminPort: number;
  /**
   * 'reload' (ReloadResult), 'audit' (GatewayAuditRecord), 'revocation' ({ source, ok }), 'peer'
   * ({ listener, chain }: an accepted client's presented certificates, DER).
   */
  readonly events: EventEmitter;
  readonly metrics: GatewayMetrics;
  /** Every file the running configuration reads (watched for hot reload). */
  files(): string[];
  /** Every listener listens and every revocation source has loaded once (what /readyz says). */
  ready(): boolean;
  /** Re-reads the config file and all material; on any error keeps the running state. */
  reload(): Promise<ReloadResult>;
  /** Re-reads material and revocation data with a configuration already validated. */
  apply(loaded: LoadedGatewayConfig): Promise<ReloadResult>;
  /** Re-reads material under the running configuration (a `tls.fromCa` certificate was renewed). */
  refreshMaterial(): Promise<ReloadResult>;
  close(): Promise<void>;
}

interface ListenerState {
  readonly config: GatewayListenerConfig;
  readonly material: LoadedListenerMaterial;
  readonly policy: Policy;
  readonly rules: HandshakeRules;
}

interface State {
  readonly loaded: LoadedGatewayConfig;
  readonly listeners: ReadonlyMap<string, ListenerState>;
  readonly upstreams: ReadonlyMap<string, Upstream>;
  readonly perIdentity: Limiter | undefined;
  readonly perAddress: Limiter | undefined;
  readonly failedHandshakes: Limiter | undefined;
  /** The shared bucket store (Redis), when `rateLimits.store` names one. */
  readonly rateStore: RedisRateStore | undefined;
  readonly revocation: Revocation;
  readonly audit: AuditSink;
}

interface Conn {
  readonly listener: string;
  readonly presented: Presented;
  readonly address: string;
  readonly peerLabel: string;
  verdict: HandshakeVerdict;
}

const FORBIDDEN = JSON.stringify({ error: { code: 'ERR_GATEWAY_FORBIDDEN' } });
const CERTIFICATE_REFUSED = JSON.stringify({ error: { code: 'ERR_GATEWAY_CERTIFICATE_REFUSED' } });
/** What an HTTP listener answers on a connection whose certificate was refused after the handshake. */
const REFUSED_RESPONSE =
  rawHead(403, 'Forbidden', [
    'content-type',
    'application/json',
    'content-length',
    String(Buffer.byteLength(CERTIFICATE_REFUSED)),
    'connection',
    'close',
  ]) + CERTIFICATE_REFUSED;
/** How long a refused connection may stay open for its answer to be read before it is cut. */
const REFUSED_LINGER_MS = 2_000;
const BODIES: Readonly<Record<number, string>> = {
  400: JSON.stringify({ error: { code: 'ERR_GATEWAY_BAD_REQUEST' } }),
  403: FORBIDDEN,
  429: JSON.stringify({ error: { code: 'ERR_GATEWAY_RATE_LIMITED' } }),
  502: JSON.stringify({ error: { code: 'ERR_GATEWAY_UPSTREAM_UNAVAILABLE' } }),
  503: JSON.stringify({ error: { code: 'ERR_GATEWAY_RATE_LIMIT_UNAVAILABLE' } }),
  504: JSON.stringify({ error: { code: 'ERR_GATEWAY_UPSTREAM_TIMEOUT' } }),
};
const STATUS_TEXT: Readonly<Record<number, string>> = {
  400: 'Bad Request',
  403: 'Forbidden',
  429: 'Too Many Requests',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

const sameJson = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

function describeLeaf(der: Uint8Array): { subject: string; uris: readonly string[] } {
  try {
    const id = extractIdentity(der);
    return { subject: id.subject, uris: id.uris };
  } catch {
    return { subject: '', uris: [] };
  }
}

function hostOf(req: Http1Request): string | undefined {
  const h = req.host;
  if (h === undefined || h === '') return undefined;
  const lower = h.toLowerCase();
  if (lower.startsWith('[')) return lower.slice(0, lower.indexOf(']') + 1);
  const colon = lower.lastIndexOf(':');
  return colon === -1 ? lower : lower.slice(0, colon);
}

function toMutualError(err: unknown): MutualError {
  return err instanceof MutualError ? err : new MutualError('ERR_INTERNAL_UNEXPECTED', { cause: err });
}

/** Starts every listener and the admin listener of a validated configuration. */
export async function createGateway(options: CreateGatewayOptions): Promise<Gateway> {
  const clock = options.clock ?? { now: () => new Date() };
  const log: GatewayLog =
    options.log ??
    ((level, message, fields) => {
      process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), level, message, ...fields })}\n`);
    });
  const stdout = options.stdout ?? process.stdout;
  const events = new EventEmitter();
  events.setMaxListeners(0);
  const metrics = createGatewayMetrics(() => clock.now());
  const conns = new WeakMap<Duplex, Conn>();
  const open = new Map<string, Set<TLSSocket>>();

  const openAudit = (file: string): AuditSink =>
    createAuditSink(file, stdout, (err) => {
      log('error', 'the audit sink failed', { error: err.message });
    });

  async function buildState(loaded: LoadedGatewayConfig, prev: State | undefined): Promise<State> {
    const cfg = loaded.config;
    const holder: { revocation?: Revocation } = {};
    const revocation = await createRevocation(
      loaded,
      prev?.revocation,
      (source, ok, error, changed) => {
        metrics.revocationData(source, ok ? clock.now() : undefined);
        if (!ok) log('warn', 'revocation source failed; keeping its last CRL', { source, error });
        // New revocation data applies to open connections too: they are judged again.
        if (changed && started && state.revocation === holder.revocation) rejudgeOpenConnections();
        events.emit('revocation', { source, ok, changed });
      },
      () => clock.now().getTime(),
    );
    holder.revocation = revocation;
    const listeners = new Map<string, ListenerState>();
    try {
      for (const l of cfg.listeners) {
        const material = await loadListenerMaterial(loaded, l, options.serverCertificates);
        const policy = l.mode === 'tcp' ? tcpPolicy(l) : compilePolicy(l.routes);
        const rules: HandshakeRules = {
          verifier: material.verifier,
          maxDepth: l.clientAuth.maxChainDepth,
          anonymous: policy.anonymous,
          pins: compilePins(l.clientAuth.pins),
          revocation: (result, chain, at) => revocation.check(result, chain, material.anchors, at),
          describeLeaf,
          verified: createVerifiedChains(),
        };
        listeners.set(l.name, { config: l, material, policy, rules });
      }
    } catch (err) {
      if (revocation !== prev?.revocation) revocation.close();
      throw err;
    }
    const upstreams = new Map<string, Upstream>();
    for (const [name, u] of Object.entries(cfg.upstreams)) {
      const old = prev?.upstreams.get(name);
      upstreams.set(name, old && sameJson(old.config, u) ? old : createUpstream(name, u));
    }
    const prevLimits = prev?.loaded.config.rateLimits;
    const storeCfg = cfg.rateLimits.store;
    const sameStore = prev !== undefined && sameJson(storeCfg, prevLimits?.store);
    let rateStore: RedisRateStore | undefined;
    if (sameStore) rateStore = prev.rateStore;
    else if (storeCfg !== undefined) {
      const r = storeCfg.redis;
      rateStore = createRedisRateStore({
        url: r.url,
        keyPrefix: r.keyPrefix,
        timeout: r.timeout,
        failClosed: r.failClosed,
        onState: (up, error) => {
          metrics.rateLimitStore(up);
          if (up) log('info', 'rate-limit store available', { store: 'redis' });
          else
            log('warn', 'redis unavailable: rate limits fall back to this process', {
              store: 'redis',
              failClosed: r.failClosed,
              error,
            });
        },
      });
      // Requests are never held for Redis: until it answers, the fallback decides.
      if (!(await rateStore.connected(Math.max(1_000, r.timeout))))
        log('warn', 'redis unavailable at start: rate limits fall back to this process', { store: 'redis' });
    }
    const limiter = (
      bucket: RateBucketName,
      spec: { rate: number; burst: number } | undefined,
      old: Limiter | undefined,
      oldSpec: { rate: number; burst: number } | undefined,
    ): Limiter | undefined => {
      if (spec === undefined) return undefined;
      if (old && sameStore && sameJson(spec, oldSpec)) return old;
      return rateStore ? rateStore.limiter(bucket, spec) : createRateLimiter(spec);
    };
    const audit =
      prev && prev.loaded.config.audit.file === cfg.audit.file
        ? prev.audit
        : openAudit(cfg.audit.file === '-' ? '-' : loaded.resolve(cfg.audit.file));
    return {
      loaded,
      listeners,
      upstreams,
      perIdentity: limiter('identity', cfg.rateLimits.perIdentity, prev?.perIdentity, prevLimits?.perIdentity),
      perAddress: limiter('address', cfg.rateLimits.perAddress, prev?.perAddress, prevLimits?.perAddress),
      failedHandshakes: limiter(
        'handshake',
        cfg.rateLimits.failedHandshakes,
        prev?.failedHandshakes,
        prevLimits?.failedHandshakes,
      ),
      rateStore,
      revocation,
      audit,
    };
  }

  let started = false;
  let state = await buildState(options.loaded, undefined);
  metrics.feedEntries(() => state.revocation.feedEntries());
  started = true;

  const audit = (record: Omit<GatewayAuditRecord, 'time'>): void => {
    const full: GatewayAuditRecord = { time: clock.now().toISOString(), ...record };
    state.audit.write(full);
    events.emit('audit', full);
  };

  // ---- handshakes ----------------------------------------------------------------------------

  function handshakeRefused(
    listener: string,
    address: string,
    peerLabel: string,
    verdict: HandshakeVerdict & { ok: false },
  ): void {
    metrics.handshake(listener, 'refused', verdict.reason);
    // A shared store answers later; the take never rejects (its fallback decides on errors).
    void state.failedHandshakes?.take(address, clock.now().getTime());
    audit({
      type: 'handshake',
      listener,
      peer: peerLabel,
      identity: verdict.partial?.identity ?? null,
      serial: verdict.partial?.serial ?? null,
      fingerprint: verdict.partial?.fingerprint ?? null,
      issuer: verdict.partial?.issuer ?? null,
      route: null,
      method: null,
      path: null,
      decision: 'refused',
      reason: verdict.reason,
      detail: verdict.detail,
      status: null,
      latencyMs: null,
    });
  }

  /** A new connection from an address whose failed-handshake bucket is empty: closed, audited. */
  function dropIfExhausted(listener: string, socket: Socket): void {
    const limiter = state.failedHandshakes;
    if (!limiter) return;
    const address = socket.remoteAddress ?? 'unknown';
    const drop = (): void => {
      metrics.handshake(listener, 'refused', 'RATE_LIMITED');
      audit({
        type: 'handshake',
        listener,
        peer: `${address}:${socket.remotePort ?? 0}`,
        identity: null,
        serial: null,
        fingerprint: null,
        issuer: null,
        route: null,
        method: null,
        path: null,
        decision: 'refused',
        reason: 'RATE_LIMITED',
        detail: 'the failed-handshake limit of this address is reached: closed before the handshake',
        status: null,
        latencyMs: null,
      });
      socket.destroy();
    };
    const exhausted = limiter.exhausted(address, clock.now().getTime());
    if (exhausted === true) drop();
    else if (exhausted instanceof Promise)
      void exhausted.then((yes) => {
        if (yes && !socket.destroyed) drop();
      });
  }

  function onSecureConnection(listener: string, socket: TLSSocket): void {
    const address = socket.remoteAddress ?? 'unknown';
    const peerLabel = `${address}:${socket.remotePort ?? 0}`;
    const ls = state.listeners.get(listener);
    const presented = ls ? presentedFor(socket, ls.rules, clock.now()) : presentedBy(socket);
    const verdict: HandshakeVerdict = ls
      ? judgePresented(presented, ls.rules, clock.now())
      : { ok: false, reason: 'LISTENER_GONE', detail: 'listener removed' };
    // An open connection keeps its chain for re-judging on reload; a remembered one shares the cached bytes.
    const kept =
      verdict.ok && verdict.chain && verdict.chain !== presented.chain
        ? { ...presented, chain: verdict.chain }
        : presented;
    conns.set(socket, { listener, presented: kept, address, peerLabel, verdict });
    if (!verdict.ok) {
      handshakeRefused(listener, address, peerLabel, verdict);
      refuseAfterHandshake(socket, ls?.config.mode !== 'tcp');
      return;
    }
    metrics.handshake(listener, 'accepted', verdict.reason);
    if (presented.chain) events.emit('peer', { listener, chain: presented.chain });
    if (verdict.peer)
      metrics.clientCertificate(
        verdict.peer.value ?? verdict.peer.fingerprint,
        verdict.peer.fingerprint,
        verdict.peer.notAfter,
      );
    let set = open.get(listener);
    if (!set) open.set(listener, (set = new Set()));
    set.add(socket);
    socket.once('close', () => set.delete(socket));
  }

  /**
   * A certificate refused after the handshake (mutual's verifier, a pin, revocation): the client gets
   * an answer rather than a reset, as from nginx. An HTTP listener writes one 403
   * ERR_GATEWAY_CERTIFICATE_REFUSED (why is only in the audit); every listener then ends the TLS
   * session with close_notify. Nothing the client sends is acted on (onRequest ignores the
   * connection), and a client that keeps its side open is cut after REFUSED_LINGER_MS.
   */
  function refuseAfterHandshake(socket: TLSSocket, http: boolean): void {
    socket.on('error', () => undefined);
    const timer = setTimeout(() => socket.destroy(), REFUSED_LINGER_MS);
    timer.unref();
    socket.once('close', () => {
      clearTimeout(timer);
    });
    // What the client still sends is read and dropped, so its close is seen (and the socket freed) at once.
    socket.resume();
    if (http) socket.end(REFUSED_RESPONSE);
    else socket.end();
  }

  function tlsErrorReason(err: NodeJS.ErrnoException): string {
    const code = err.code ?? '';
    if (/UNSUPPORTED_PROTOCOL|VERSION_TOO_LOW|WRONG_VERSION/i.test(code + err.message)) return 'TLS_PROTOCOL_VERSION';
    if (/NO_SHARED_CIPHER|NO_CIPHERS|SHARED_GROUP/i.test(code + err.message)) return 'TLS_NO_SHARED_CIPHER';
    if (/RENEGOTIAT/i.test(code + err.message)) return 'TLS_RENEGOTIATION';
    if (code === 'ECONNRESET' || code === 'ERR_SSL_UNEXPECTED_EOF_WHILE_READING') return 'CLIENT_CLOSED';
    if (/timed? ?out/i.test(err.message)) return 'HANDSHAKE_TIMEOUT';
    return 'TLS_HANDSHAKE_FAILED';
  }

  // ---- tcp mode ------------------------------------------------------------------------------

  function tcpDecision(ls: ListenerState, conn: Conn): { decision: string; reason: string } {
    const peer = conn.verdict.ok ? conn.verdict.peer : undefined;
    const d = ls.policy.decide(undefined, '/', 'CONNECT', peer, clock.now().getTime());
    return { decision: d.decision, reason: d.reason };
  }

  function auditConnection(listener: string, conn: Conn, decision: string, reason: string, started: number): void {
    const peer = conn.verdict.ok ? conn.verdict.peer : undefined;
    metrics.request(listener, 'tcp', decision, 0, (performance.now() - started) / 1000);
    audit({
      type: 'connection',
      listener,
      peer: conn.peerLabel,
      identity: peer?.value ?? null,
      serial: peer?.serial ?? null,
      fingerprint: peer?.fingerprint ?? null,
      issuer: peer?.issuer ?? null,
      route: null,
      method: null,
      path: null,
      decision,
      reason,
      status: null,
      latencyMs: Math.round((performance.now() - started) * 1e3) / 1e3,
    });
  }

  /** After an accepted handshake on a tcp listener: authorize by identity, then relay. */
  function onTcpConnection(listener: string, socket: TLSSocket): void {
    const started = performance.now();
    const conn = connOf(socket);
    const ls = state.listeners.get(listener);
    if (!conn || !ls || !conn.verdict.ok) return; // refused and audited by the handshake judge
    const d = tcpDecision(ls, conn);
    if (d.decision !== 'allow') {
      auditConnection(listener, conn, 'deny', d.reason, started);
      socket.destroy();
      return;
    }
    const peer = conn.verdict.peer;
    const preface =
      ls.config.proxyProtocol === 'v2' && peer
        ? proxyV2Header(
            { address: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 },
            { address: socket.localAddress ?? '', port: socket.localPort ?? 0 },
            {
              identity: peer.value,
              subject: peer.subject,
              commonName: commonNameOf(peer.subject),
              fingerprintHex: peer.fingerprint,
              tlsVersion: socket.getProtocol() ?? undefined,
              cipher: socket.getCipher().standardName,
            },
          )
        : undefined;
    relay(socket, splitHostPort(ls.config.upstream ?? ''), preface, TCP_CONNECT_TIMEOUT_MS, (outcome) => {
      auditConnection(
        listener,
        conn,
        outcome.ok ? 'allow' : 'deny',
        outcome.ok ? d.reason : `${d.reason};${outcome.reason}`,
        started,
      );
    });
  }

  // ---- requests ------------------------------------------------------------------------------

  interface RequestContext {
    readonly listener: string;
    readonly conn: Conn;
    readonly peer: AcceptedPeer | undefined;
    readonly start: number;
    route: string | null;
    path: string | null;
    decision: string;
    reason: string;
  }

  function record(ctx: RequestContext, method: string, status: number): void {
    const seconds = (performance.now() - ctx.start) / 1000;
    metrics.request(ctx.listener, ctx.route ?? '', ctx.decision, status, seconds);
    audit({
      type: 'request',
      listener: ctx.listener,
      peer: ctx.conn.peerLabel,
      identity: ctx.peer?.value ?? null,
      serial: ctx.peer?.serial ?? null,
      fingerprint: ctx.peer?.fingerprint ?? null,
      issuer: ctx.peer?.issuer ?? null,
      route: ctx.route,
      method,
      path: ctx.path,
      decision: ctx.decision,
      reason: ctx.reason,
      status,
      latencyMs: Math.round(seconds * 1e6) / 1e3,
    });
  }

  type Gate =
    | { ok: true; route: CompiledRoute; upstream: Upstream; target: string; ls: ListenerState; st: State }
    | { ok: false; status: number; retryAfter?: number };

  /**
   * Everything before forwarding: framing, rate limits, path, route, authorization. Synchronous
   * with memory buckets; a promise only when a shared store (Redis) is asked.
   */
  function gate(req: Http1Request, ctx: RequestContext): Gate | Promise<Gate> {
    const st = state;
    const ls = st.listeners.get(ctx.listener);
    const nowMs = clock.now().getTime();
    const deny = (status: number, decision: string, reason: string, retryAfter?: number): Gate => {
      ctx.decision = decision;
      ctx.reason = reason;
      return retryAfter === undefined ? { ok: false, status } : { ok: false, status, retryAfter };
    };
    const limited = (t: Take, reason: string): Gate | undefined => {
      if (t.ok) return undefined;
      if (t.unavailable === true) return deny(503, 'deny', 'rate-limit-store-unavailable');
      return deny(429, 'deny', reason, t.retryAfterSeconds);
    };
    if (!ls) return deny(403, 'deny', 'listener-gone');
    // Framing was judged by the request reader (http1.ts): what reaches here is unambiguous.

    const afterAddress = (): Gate | Promise<Gate> => {
      const target = normalizeTarget(req.target);
      if (!target.ok) return deny(400, 'deny', `bad-path:${target.reason}`);
      ctx.path = target.path;
      const decision = ls.policy.decide(hostOf(req), target.path, req.method, ctx.peer, clock.now().getTime());
      ctx.route = decision.route?.name ?? null;
      ctx.decision = decision.decision;
      ctx.reason = decision.reason;
      if (decision.decision === 'deny') return { ok: false, status: 403 };
      const upstream = st.upstreams.get(decision.route.config.upstream);
      const pass = (): Gate =>
        upstream
          ? { ok: true, route: decision.route, upstream, target: target.path + target.query, ls, st }
          : deny(502, 'deny', 'upstream-missing');
      if (!st.perIdentity) return pass();
      const key = ctx.peer ? (ctx.peer.value ?? ctx.peer.fingerprint) : `anonymous:${ctx.conn.address}`;
      const t = st.perIdentity.take(key, nowMs);
      if (t instanceof Promise) return t.then((v) => limited(v, 'rate-limited-identity') ?? pass());
      return limited(t, 'rate-limited-identity') ?? pass();
    };

    if (!st.perAddress) return afterAddress();
    const t = st.perAddress.take(ctx.conn.address, nowMs);
    if (t instanceof Promise) return t.then((v) => limited(v, 'rate-limited-address') ?? afterAddress());
    return limited(t, 'rate-limited-address') ?? afterAddress();
  }

  /**
   * The identity headers of one verified peer under one route's settings: the same for every request of
   * a connection, so they are built once per peer, route and listener material (a reload makes new ones).
   */
  const identityCache = new WeakMap<
    AcceptedPeer,
    { key: object; by: string | undefined; headers: [string, string][] }
  >();
  function peerIdentityHeaders(route: CompiledRoute, ls: ListenerState, peer: AcceptedPeer): [string, string][] {
    const by = ls.material.serverUri;
    const fwd = route.config.forwardIdentity;
    const hit = identityCache.get(peer);
    if (hit?.key === fwd && hit.by === by) return hit.headers;
    const out: [string, string][] = [];
    if (fwd.xfcc) {
      out.push([
        'x-forwarded-client-cert',
        xfccHeader(
          {
            fingerprint: peer.fingerprint,
            subject: peer.subject,
            spiffeId: peer.spiffeId,
            uris: peer.uris,
            dnsNames: peer.dnsNames,
            leafDer: peer.leafDer,
            intermediatesDer: peer.intermediatesDer,
          },
          by,
        ),
      ]);
    }
    if (fwd.clientCert) {
      out.push(['client-cert', clientCertHeader(peer.leafDer)]);
      if (peer.intermediatesDer.length > 0)
        out.push(['client-cert-chain', clientCertChainHeader(peer.intermediatesDer)]);
    }
    identityCache.set(peer, { key: fwd, by, headers: out });
    return out;
  }

  function identityHeaders(
    headers: Record<string, string | string[] | number | undefined>,
    route: CompiledRoute,
    ls: ListenerState,
    peer: AcceptedPeer | undefined,
    conn: Conn,
  ): void {
    // The gateway is the edge: a client's own X-Forwarded-For is replaced, never extended.
    headers['x-forwarded-for'] = conn.address;
    headers['x-forwarded-proto'] = 'https';
    if (!peer) return;
    for (const [name, value] of peerIdentityHeaders(route, ls, peer)) headers[name] = value;
  }

  function connOf(socket: Duplex): Conn | undefined {
    const c = conns.get(socket);
    return c?.verdict.ok ? c : undefined;
  }

  function onRequest(listener: string, req: Http1Request, res: Http1Response): void {
    const conn = connOf(res.socket);
    if (!conn) {
      res.destroy();
      return;
    }
    const ctx: RequestContext = {
      listener,
      conn,
      peer: conn.verdict.ok ? conn.verdict.peer : undefined,
      start: performance.now(),
      route: null,
      path: null,
      decision: 'deny',
      reason: 'internal',
    };
    const method = req.method;
    const g = gate(req, ctx);
    if (g instanceof Promise) {
      void g.then((resolved) => {
        if (res.socket.destroyed) {
          ctx.reason = `${ctx.reason};client-closed`;
          record(ctx, method, 0);
          return;
        }
        respond(req, res, ctx, method, resolved);
      });
      return;
    }
    respond(req, res, ctx, method, g);
  }

  function respond(req: Http1Request, res: Http1Response, ctx: RequestContext, method: string, g: Gate): void {
    const conn = ctx.conn;
    if (!g.ok) {
      const body = BODIES[g.status] ?? FORBIDDEN;
      const headers: Record<string, string> = {
        'content-type': 'application/json',
        'content-length': String(Buffer.byteLength(body)),
      };
      if (g.retryAfter !== undefined) headers['retry-after'] = String(g.retryAfter);
      // A refused request's body is never read: the connection closes after the answer.
      res.writeHead(g.status, STATUS_TEXT[g.status] ?? '', headers, g.status === 400 || req.body !== 'none');
      res.end(body);
      record(ctx, method, g.status);
      return;
    }
    const headers = upstreamRequestHeaders(req.rawHeaders, req.connection, false);
    if (req.body === 'chunked') headers['transfer-encoding'] = 'chunked';
    identityHeaders(headers, g.route, g.ls, ctx.peer, conn);
    forwardRequest(g.upstream, req, res, g.target, headers, (outcome: ForwardOutcome) => {
      if (!outcome.ok) {
        ctx.reason = `${ctx.reason};${outcome.reason}`;
        if (!outcome.started && !res.headersSent) {
          const body = BODIES[outcome.status] ?? '';
          res.writeHead(outcome.status, STATUS_TEXT[outcome.status] ?? '', {
            'content-type': 'application/json',
            'content-length': String(Buffer.byteLength(body)),
          });
          res.end(body);
        }
      }
      record(ctx, method, outcome.status);
    });
  }

  /** Requests the reader refused (smuggling, oversized heads, timeouts): already answered and closing; audited here. */
  function onRefused(listener: string, refusal: Http1Refusal, socket: Socket): void {
    const conn = connOf(socket);
    if (!conn) return;
    record(
      {
        listener,
        conn,
        peer: conn.verdict.ok ? conn.verdict.peer : undefined,
        start: performance.now(),
        route: null,
        path: null,
        decision: 'deny',
        reason: `parse-error:${refusal.code}`,
      },
      '',
      refusal.status,
    );
  }

  function onUpgrade(listener: string, req: Http1Request, socket: Socket, head: Buffer): void {
    const conn = connOf(socket);
    if (!conn) {
      socket.destroy();
      return;
    }
    const ctx: RequestContext = {
      listener,
      conn,
      peer: conn.verdict.ok ? conn.verdict.peer : undefined,
      start: performance.now(),
      route: null,
      path: null,
      decision: 'deny',
      reason: 'internal',
    };
    const method = req.method;
    const refuse = (status: number, retryAfter?: number): void => {
      const body = BODIES[status] ?? FORBIDDEN;
      const h = [
        'content-type',
        'application/json',
        'content-length',
        String(Buffer.byteLength(body)),
        'connection',
        'close',
      ];
      if (retryAfter !== undefined) h.push('retry-after', String(retryAfter));
      socket.end(rawHead(status, STATUS_TEXT[status] ?? '', h) + body, () => {
        socket.destroy();
      });
      record(ctx, method, status);
    };
    if ((req.upgrade ?? '').toLowerCase() !== 'websocket') {
      ctx.reason = 'unsupported-upgrade';
      refuse(400);
      return;
    }
    const proceed = (g: Gate): void => {
      if (!g.ok) {
        refuse(g.status, g.retryAfter);
        return;
      }
      upgrade(g);
    };
    const upgrade = (g: Gate & { ok: true }): void => {
      const headers = upstreamRequestHeaders(req.rawHeaders, req.connection, true);
      identityHeaders(headers, g.route, g.ls, ctx.peer, conn);
      forwardUpgrade(g.upstream, req, socket, head, g.target, headers, (outcome) => {
        if (!outcome.ok) {
          ctx.reason = `${ctx.reason};${outcome.reason}`;
          refuse(outcome.status);
          return;
        }
        record(ctx, method, outcome.status);
      });
    };
    const g = gate(req, ctx);
    if (g instanceof Promise) void g.then(proceed);
    else proceed(g);
  }

  // ---- listeners -----------------------------------------------------------------------------

  const servers = new Map<string, TlsServer>();
  /** The HTTP/1.1 side of each HTTP listener, and every raw connection each listener accepted. */
  const h1Servers = new Map<string, Http1Server>();
  const acceptedBy = new Map<string, Set<Socket>>();
  const httpCfg = options.loaded.config.http;
  for (const l of options.loaded.config.listeners) {
    const ls = state.listeners.get(l.name) as ListenerState;
    if (l.mode === 'tcp') {
      const server = createTlsServer({
        ...secureContextOptions(ls.material),
        requestCert: true,
        rejectUnauthorized: false,
        handshakeTimeout: Math.min(httpCfg.headersTimeout, 10_000),
      });
      // Before tls's own listener: a dropped socket never becomes a handshake (nor a CLIENT_CLOSED audit).
      server.prependListener('connection', (socket: Socket) => {
        dropIfExhausted(l.name, socket);
      });
      server.on('secureConnection', (socket: TLSSocket) => {
        socket.on('error', () => undefined);
        onSecureConnection(l.name, socket);
        onTcpConnection(l.name, socket);
      });
      server.on('tlsClientError', (err: NodeJS.ErrnoException, socket: TLSSocket) => {
        const address = socket.remoteAddress ?? 'unknown';
        handshakeRefused(l.name, address, `${address}:${socket.remotePort ?? 0}`, {
          ok: false,
          reason: tlsErrorReason(err),
          detail: err.code ?? err.message,
        });
      });
      servers.set(l.name, server);
      metrics.serverCertificate(l.name, ls.material.serverNotAfter);
      continue;
    }
    const h1 = new Http1Server(
      {
        maxHeaderSize: httpCfg.maxHeaderSize,
        headersTimeout: httpCfg.headersTimeout,
        requestTimeout: httpCfg.requestTimeout,
        keepAliveTimeout: httpCfg.keepAliveTimeout,
      },
      {
        onRequest: (req, res) => {
          onRequest(l.name, req, res);
        },
        onUpgrade: (req, socket, head) => {
          onUpgrade(l.name, req, socket, head);
        },
        onRefused: (refusal, socket) => {
          onRefused(l.name, refusal, socket);
        },
      },
      Math.min(1_000, httpCfg.headersTimeout),
    );
    h1Servers.set(l.name, h1);
    const server = createTlsServer({
      ...secureContextOptions(ls.material),
      requestCert: true,
      rejectUnauthorized: false,
      // A client that ends its side after a request still gets the answer (as from node:http).
      allowHalfOpen: true,
      handshakeTimeout: Math.min(httpCfg.headersTimeout, 10_000),
    });
    const accepted = new Set<Socket>();
    acceptedBy.set(l.name, accepted);
    server.prependListener('connection', (socket: Socket) => {
      accepted.add(socket);
      socket.once('close', () => accepted.delete(socket));
      dropIfExhausted(l.name, socket);
    });
    server.on('secureConnection', (socket: TLSSocket) => {
      socket.on('error', () => undefined);
      onSecureConnection(l.name, socket);
      if (conns.get(socket)?.verdict.ok === true) h1.serve(socket);
    });
    server.on('tlsClientError', (err: NodeJS.ErrnoException, socket: TLSSocket) => {
      const address = socket.remoteAddress ?? 'unknown';
      const reason = tlsErrorReason(err);
      handshakeRefused(l.name, address, `${address}:${socket.remotePort ?? 0}`, {
        ok: false,
        reason,
        detail: err.code ?? err.message,
      });
    });
    servers.set(l.name, server);
    metrics.serverCertificate(l.name, ls.material.serverNotAfter);
  }

  // ---- admin ---------------------------------------------------------------------------------

  let closing = false;
  const isReady = (): boolean =>
    [...servers.values()].every((s) => s.listening) && !closing && state.revocation.ready();
  const admin: HttpServer = createHttpServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (req.method !== 'GET') {
      res.writeHead(405).end();
      return;
    }
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
      return;
    }
    if (path === '/readyz') {
      const ready = isReady();
      res
        .writeHead(ready ? 200 : 503, { 'content-type': 'application/json' })
        .end(JSON.stringify({ status: ready ? 'ready' : 'not-ready' }));
      return;
    }
    if (path === '/metrics') {
      metrics.registry.metrics().then(
        (text) => {
          res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text);
        },
        () => {
          res.writeHead(500).end();
        },
      );
      return;
    }
    res.writeHead(404).end();
  });

  const listen = (server: HttpServer | TlsServer, host: string, port: number, name: string): Promise<number> =>
    new Promise((resolve, reject) => {
      const onError = (err: Error): void => {
        reject(new MutualError('ERR_GATEWAY_LISTEN_FAILED', { details: { listener: name, host, port }, cause: err }));
      };
      server.once('error', onError);
      server.listen(port, host, () => {
        server.off('error', onError);
        resolve((server.address() as AddressInfo).port);
      });
    });

  const ports: { name: string; port: number }[] = [];
  let adminPort = 0;
  try {
    for (const l of options.loaded.config.listeners) {
      ports.push({
        name: l.name,
        port: await listen(servers.get(l.name) as TlsServer, l.listen.host, l.listen.port, l.name),
      });
    }
    const a = options.loaded.config.admin.listen;
    if (options.admin !== false) adminPort = await listen(admin, a.host, a.port, 'admin');
  } catch (err) {
    for (const s of servers.values()) s.close();
    for (const h of h1Servers.values()) h.close();
    admin.close();
    state.revocation.close();
    state.rateStore?.close();
    await state.audit.close();
    throw err;
  }

  // ---- reload --------------------------------------------------------------------------------

  /** Open connections are judged again under new rules; those no longer admitted are closed. */
  /**
   * When a listener pin's `until` passes, the connections accepted through it are judged again (and
   * closed when no pin in force matches): the timer is set for the earliest `until` ahead.
   */
  let pinTimer: NodeJS.Timeout | undefined;
  function schedulePinExpiry(): void {
    if (pinTimer) clearTimeout(pinTimer);
    pinTimer = undefined;
    const now = clock.now().getTime();
    let next: number | undefined;
    for (const ls of state.listeners.values()) {
      const t = nextPinExpiry(ls.config.clientAuth.pins, now);
      if (t !== undefined && (next === undefined || t < next)) next = t;
    }
    if (next === undefined) return;
    pinTimer = setTimeout(
      () => {
        rejudgeOpenConnections();
        schedulePinExpiry();
      },
      Math.min(2 ** 31 - 1, next - now + 1),
    );
    pinTimer.unref();
  }

  function rejudgeOpenConnections(): void {
    for (const [listener, set] of open) {
      const ls = state.listeners.get(listener);
      for (const socket of set) {
        const conn = conns.get(socket);
        if (!conn || !ls) continue;
        const verdict = judgePresented(conn.presented, ls.rules, clock.now());
        if (verdict.ok) {
          conn.verdict = verdict;
          if (ls.config.mode === 'tcp') {
            const d = tcpDecision(ls, conn);
            if (d.decision !== 'allow') {
              auditConnection(listener, conn, 'deny', `open connection closed: ${d.reason}`, performance.now());
              set.delete(socket);
              socket.destroy();
            }
          }
          continue;
        }
        conn.verdict = verdict;
        handshakeRefused(listener, conn.address, conn.peerLabel, {
          ...verdict,
          detail: `open connection closed: ${verdict.detail}`,
        });
        set.delete(socket);
        socket.destroy();
      }
    }
  }

  function fixedPartsChanged(next: LoadedGatewayConfig): string | undefined {
    const cur = state.loaded.config;
    const a = cur.listeners.map((l) => [l.name, l.mode, l.listen.host, l.listen.port]);
    const b = next.config.listeners.map((l) => [l.name, l.mode, l.listen.host, l.listen.port]);
    if (!sameJson(a, b)) return 'listeners (names, modes, hosts, ports)';
    if (!sameJson(cur.admin, next.config.admin)) return 'the admin listener';
    if (cur.workers !== next.config.workers) return 'workers';
    return undefined;
  }

  let chain: Promise<unknown> = Promise.resolve();
  async function applyNow(next: LoadedGatewayConfig): Promise<ReloadResult> {
    const changed = fixedPartsChanged(next);
    if (changed !== undefined) {
      throw new MutualError('ERR_GATEWAY_RELOAD_REFUSED', {
        message: `Changing ${changed} needs a restart; the running configuration was kept.`,
        details: { changed },
      });
    }
    const prev = state;
    const nextState = await buildState(next, prev);
    state = nextState;
    for (const [name, server] of servers) {
      const ls = nextState.listeners.get(name) as ListenerState;
      server.setSecureContext(secureContextOptions(ls.material));
      const h1 = h1Servers.get(name);
      if (h1) {
        // Read by every connection as it reads a head: applies to the next request, also on open connections.
        h1.limits.maxHeaderSize = next.config.http.maxHeaderSize;
        h1.limits.headersTimeout = next.config.http.headersTimeout;
        h1.limits.requestTimeout = next.config.http.requestTimeout;
        h1.limits.keepAliveTimeout = next.config.http.keepAliveTimeout;
      }
      metrics.serverCertificate(name, ls.material.serverNotAfter);
    }
    if (prev.revocation !== nextState.revocation) prev.revocation.close();
    if (prev.rateStore !== nextState.rateStore) prev.rateStore?.close();
    // Upstreams whose configuration changed: idle connections close now, busy ones after their exchange.
    const kept = new Set(nextState.upstreams.values());
    for (const u of prev.upstreams.values()) if (!kept.has(u)) u.pool.close();
    if (prev.audit !== nextState.audit) await prev.audit.close();
    rejudgeOpenConnections();
    schedulePinExpiry();
    return { ok: true };
  }

  const serialize = (work: () => Promise<ReloadResult>): Promise<ReloadResult> => {
    const run = chain.then(work).then(
      (r) => {
        metrics.reload('ok');
        log('info', 'gateway reloaded');
        events.emit('reload', r);
        return r;
      },
      (err: unknown) => {
        const error = toMutualError(err);
        metrics.reload('failed');
        log('error', 'reload refused; the running configuration and material are kept', {
          code: error.code,
          error: error.message,
        });
        const r: ReloadResult = { ok: false, error };
        events.emit('reload', r);
        return r;
      },
    );
    chain = run;
    return run;
  };

  schedulePinExpiry();
  return {
    listeners: ports,
    adminPort,
    events,
    metrics,
    files: () => [
      state.loaded.file,
      ...state.loaded.config.listeners.flatMap((l) => listenerFiles(state.loaded, l)),
      ...state.revocation.files(),
    ],
    ready: isReady,
    reload: () => serialize(() => applyNow(loadGatewayConfig(state.loaded.file))),
    apply: (loaded) => serialize(() => applyNow(loaded)),
    refreshMaterial: () => serialize(() => applyNow(state.loaded)),
    close: async () => {
      closing = true;
      const closed = [...servers.values(), admin].map(
        (s) =>
          new Promise<void>((resolve) => {
            s.close(() => {
              resolve();
            });
            if ('closeAllConnections' in s) s.closeAllConnections();
          }),
      );
      for (const h of h1Servers.values()) h.close();
      // Every accepted connection (in a request, idle, upgraded, refused and lingering) is cut.
      for (const set of acceptedBy.values()) for (const socket of set) socket.destroy();
      for (const set of open.values()) for (const socket of set) socket.destroy();
      await Promise.all(closed);
      for (const u of state.upstreams.values()) u.pool.destroy();
      if (pinTimer) clearTimeout(pinTimer);
      state.revocation.close();
      state.rateStore?.close();
      await state.audit.close();
    },
  };
}
