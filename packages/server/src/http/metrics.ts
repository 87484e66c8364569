import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** The CA server's Prometheus metrics (docs/reference/metrics.md), on a registry of its own. */
export interface CaMetrics {
  readonly registry: Registry;
  readonly requests: Counter<'route' | 'method' | 'status'>;
  readonly duration: Histogram<'route'>;
  readonly issued: Counter<'via' | 'profile'>;
  readonly refusals: Counter<'route' | 'code'>;
  readonly revocations: Counter<'reason'>;
  readonly tokensMinted: Counter;
  readonly subscribers: Gauge;
  readonly crlNumber: Gauge<'level'>;
  readonly crlNextUpdate: Gauge<'level'>;
  readonly certificates: Gauge<'state'>;
  /** Inventory records deleted past `inventory.keepExpired`, by status at deletion. */
  readonly pruned: Counter<'status'>;
  /** notAfter of the CA's own certificates: root, signing intermediate, previous intermediates. */
  readonly caCertificateExpiry: Gauge<'level' | 'fingerprint'>;
  /** Reads the pki threads' state at scrape time (docs/reference/metrics.md); absent: none. */
  observePkiThreads(read: () => { threads: number; inFlight: number; stops: number; inline: boolean }): void;
}

export function createCaMetrics(options: { defaultMetrics?: boolean } = {}): CaMetrics {
  const registry = new Registry();
  if (options.defaultMetrics !== false) collectDefaultMetrics({ register: registry, prefix: 'mutual_ca_' });
  const registers = [registry];
  let pki: (() => { threads: number; inFlight: number; stops: number; inline: boolean }) | undefined;
  new Gauge({
    name: 'mutual_ca_pki_threads',
    help: 'Worker threads doing the pki work (server.workers); 0 when it runs in the main thread.',
    registers,
    collect() {
      const state = pki?.();
      this.set(state === undefined || state.inline ? 0 : state.threads);
    },
  });
  new Gauge({
    name: 'mutual_ca_pki_jobs_in_flight',
    help: 'CSR checks and certificate builds handed to pki threads and not yet answered.',
    registers,
    collect() {
      this.set(pki?.().inFlight ?? 0);
    },
  });
  new Counter({
    name: 'mutual_ca_pki_thread_stops_total',
    help: 'pki threads that stopped unexpectedly (each is replaced; its jobs were refused).',
    registers,
    collect() {
      this.reset();
      this.inc(pki?.().stops ?? 0);
    },
  });
  return {
    observePkiThreads(read) {
      pki = read;
    },
    registry,
    requests: new Counter({
      name: 'mutual_ca_http_requests_total',
      help: 'HTTP requests answered by the CA, by route template, method and status.',
      labelNames: ['route', 'method', 'status'],
      registers,
    }),
    duration: new Histogram({
      name: 'mutual_ca_http_request_duration_seconds',
      help: 'Time to answer an HTTP request, by route template.',
      labelNames: ['route'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    }),
    issued: new Counter({
      name: 'mutual_ca_certificates_issued_total',
      help: 'Certificates issued over the API, by path (sign or renew) and profile.',
      labelNames: ['via', 'profile'],
      registers,
    }),
    refusals: new Counter({
      name: 'mutual_ca_refusals_total',
      help: 'Requests refused with a 4xx, by route and error code.',
      labelNames: ['route', 'code'],
      registers,
    }),
    revocations: new Counter({
      name: 'mutual_ca_revocations_total',
      help: 'Certificates revoked through this instance, by reason.',
      labelNames: ['reason'],
      registers,
    }),
    tokensMinted: new Counter({
      name: 'mutual_ca_tokens_minted_total',
      help: 'Enrollment tokens minted through POST /v1/tokens.',
      registers,
    }),
    subscribers: new Gauge({
      name: 'mutual_ca_revocation_subscribers',
      help: 'Open GET /v1/revocations streams.',
      registers,
    }),
    crlNumber: new Gauge({
      name: 'mutual_ca_crl_number',
      help: 'CRL number of the CRL currently served, by CA level.',
      labelNames: ['level'],
      registers,
    }),
    crlNextUpdate: new Gauge({
      name: 'mutual_ca_crl_next_update_timestamp_seconds',
      help: 'nextUpdate of the CRL currently served (Unix seconds), by CA level.',
      labelNames: ['level'],
      registers,
    }),
    caCertificateExpiry: new Gauge({
      name: 'mutual_ca_ca_certificate_expiry_timestamp_seconds',
      help: "notAfter (Unix seconds) of the CA's own certificates by level (root, intermediate: the one that signs, previous: replaced by a rotation) and the first 16 hex digits of the SHA-256: alert well before the intermediate's, then run mutual ca rotate-intermediate.",
      labelNames: ['level', 'fingerprint'],
      registers,
    }),
    pruned: new Counter({
      name: 'mutual_ca_certificates_pruned_total',
      help: 'Inventory records of certificates deleted by this instance after inventory.keepExpired past their notAfter, by status (issued, revoked, failed).',
      labelNames: ['status'],
      registers,
    }),
    certificates: new Gauge({
      name: 'mutual_ca_certificates',
      help: 'Certificates in the inventory by state (valid, expiring, expired, revoked, pending, failed).',
      labelNames: ['state'],
      registers,
    }),
  };
}
