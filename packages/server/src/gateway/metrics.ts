/**
 * The gateway's Prometheus metrics on a registry of its own: handshakes by outcome and reason,
 * requests by route/decision/status, latency, seconds to expiry of the gateway's certificates and
 * of recently seen client certificates (a bounded set), age of revocation data, reloads.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

export interface GatewayMetrics {
  readonly registry: Registry;
  handshake(listener: string, outcome: 'accepted' | 'refused', reason: string): void;
  request(listener: string, route: string, decision: string, status: number, seconds: number): void;
  reload(outcome: 'ok' | 'failed'): void;
  serverCertificate(listener: string, notAfter: Date): void;
  clientCertificate(identity: string, fingerprint: string, notAfter: Date): void;
  revocationData(source: string, updatedAt: Date | undefined): void;
  /** The shared rate-limit store (Redis) answers (true) or not (false). */
  rateLimitStore(up: boolean): void;
  /** Where the number of revocations held from each revocation feed is read when scraped. */
  feedEntries(read: () => readonly { readonly feed: string; readonly entries: number }[]): void;
}

const MAX_CLIENT_CERTS = 512;

export function createGatewayMetrics(now: () => Date): GatewayMetrics {
  const registry = new Registry();
  const handshakes = new Counter({
    name: 'mutual_gateway_handshakes_total',
    help: 'TLS handshakes by listener, outcome and reason.',
    labelNames: ['listener', 'outcome', 'reason'],
    registers: [registry],
  });
  const requests = new Counter({
    name: 'mutual_gateway_requests_total',
    help: 'Requests by listener, route, decision and status.',
    labelNames: ['listener', 'route', 'decision', 'status'],
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'mutual_gateway_request_duration_seconds',
    help: 'Time from request to the end of the response, by listener and route.',
    labelNames: ['listener', 'route'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const reloads = new Counter({
    name: 'mutual_gateway_reloads_total',
    help: 'Reloads of configuration and material by outcome.',
    labelNames: ['outcome'],
    registers: [registry],
  });
  const storeUp = new Gauge({
    name: 'mutual_gateway_rate_limit_store_up',
    help: 'Whether the shared rate-limit store (Redis) answers: 1 yes, 0 no (this process falls back to its own buckets).',
    labelNames: ['store'],
    registers: [registry],
    // Workers of one gateway are summed by the primary's /metrics; a gauge says how to combine.
    aggregator: 'min',
  });
  const serverNotAfter = new Map<string, Date>();
  const clientNotAfter = new Map<string, { identity: string; notAfter: Date }>();
  const revocationAt = new Map<string, Date | undefined>();
  new Gauge({
    name: 'mutual_gateway_certificate_expiry_seconds',
    help: "Seconds until the gateway's own server certificate expires, by listener.",
    labelNames: ['listener'],
    registers: [registry],
    aggregator: 'min',
    collect() {
      this.reset();
      const t = now().getTime();
      for (const [l, d] of serverNotAfter) this.set({ listener: l }, (d.getTime() - t) / 1000);
    },
  });
  new Gauge({
    name: 'mutual_gateway_client_certificate_expiry_seconds',
    help: `Seconds until recently seen client certificates expire (the last ${MAX_CLIENT_CERTS}), by identity and fingerprint.`,
    labelNames: ['identity', 'fingerprint'],
    registers: [registry],
    aggregator: 'min',
    collect() {
      this.reset();
      const t = now().getTime();
      for (const [fp, c] of clientNotAfter)
        this.set({ identity: c.identity, fingerprint: fp.slice(0, 16) }, (c.notAfter.getTime() - t) / 1000);
    },
  });
  new Gauge({
    name: 'mutual_gateway_revocation_data_age_seconds',
    help: 'Seconds since revocation data was last loaded, by source (-1: never loaded).',
    labelNames: ['source'],
    registers: [registry],
    aggregator: 'max',
    collect() {
      this.reset();
      const t = now().getTime();
      for (const [s, d] of revocationAt) this.set({ source: s }, d ? (t - d.getTime()) / 1000 : -1);
    },
  });
  let readFeeds: () => readonly { readonly feed: string; readonly entries: number }[] = () => [];
  new Gauge({
    name: 'mutual_gateway_revocation_feed_entries',
    help: 'Revocations of unexpired certificates held from a revocation feed, by feed (expired ones are forgotten).',
    labelNames: ['feed'],
    registers: [registry],
    aggregator: 'max',
    collect() {
      this.reset();
      for (const f of readFeeds()) this.set({ feed: f.feed }, f.entries);
    },
  });
  return {
    registry,
    feedEntries: (read) => {
      readFeeds = read;
    },
    handshake: (listener, outcome, reason) => {
      handshakes.inc({ listener, outcome, reason });
    },
    request: (listener, route, decision, status, seconds) => {
      requests.inc({ listener, route, decision, status: String(status) });
      latency.observe({ listener, route }, seconds);
    },
    reload: (outcome) => {
      reloads.inc({ outcome });
    },
    serverCertificate: (listener, notAfter) => {
      serverNotAfter.set(listener, notAfter);
    },
    clientCertificate: (identity, fingerprint, notAfter) => {
      clientNotAfter.delete(fingerprint);
      clientNotAfter.set(fingerprint, { identity, notAfter });
      if (clientNotAfter.size > MAX_CLIENT_CERTS) {
        const oldest = clientNotAfter.keys().next();
        if (oldest.done !== true) clientNotAfter.delete(oldest.value);
      }
    },
    rateLimitStore: (up) => {
      storeUp.set({ store: 'redis' }, up ? 1 : 0);
    },
    revocationData: (source, updatedAt) => {
      // A failed load keeps the age of the last good data growing.
      if (updatedAt === undefined && revocationAt.get(source) !== undefined) return;
      revocationAt.set(source, updatedAt);
    },
  };
}
