/**
 * The gateway's reporter: every `report.interval` it POSTs to the CA (through the SDK's CaClient)
 * its health, its own server certificates and the distinct client certificates it accepted as
 * sightings, and its failed authentications (refused handshakes, denied requests) from its audit
 * records. Memory is bounded (`report.maxItems` per interval); a failed report is logged and its
 * events are sent again with the next one. Nothing here can slow or refuse traffic.
 */
import type { EventEmitter } from 'node:events';
import { CaClient, encodePem, readDerObjects, readFileCapped, sha256Fingerprint } from '@mutual/sdk';
import type { AuthFailureEvent, ReportRequest, SightingEvent } from '@mutual/sdk/contract';
import type { GatewayReportConfig, LoadedGatewayConfig } from '../config/index.js';
import type { GatewayAuditRecord } from './audit.js';
import type { GatewayClock, GatewayLog } from './gateway.js';
import type { ServerCertificateSource } from './material.js';

export interface GatewayReporterOptions {
  readonly loaded: LoadedGatewayConfig;
  /** The gateway's event emitter ('audit', 'peer', 'revocation'). */
  readonly events: EventEmitter;
  readonly listeners: readonly { readonly name: string; readonly port: number }[];
  readonly clock: GatewayClock;
  readonly log: GatewayLog;
  /** The current certificate of a `tls.fromCa` listener (it has no files), by listener name. */
  readonly serverCertificates?: ServerCertificateSource;
}

export interface GatewayReporter {
  /** Sends a report now (as the timer does); resolves when it was accepted or has failed. */
  flush(): Promise<boolean>;
  close(): void;
}

/** Per report: a failed authentication is ~0.3 KiB, a sighting ~1–6 KiB of PEM. */
const FAILURES_PER_REPORT = 2000;
const SIGHTINGS_PER_REPORT = 200;

const pemChain = (ders: readonly Uint8Array[]): string[] => ders.map((d) => encodePem(d, 'CERTIFICATE'));

/** `192.0.2.1:5555` → `192.0.2.1`; `::1:5555` → `::1`. */
const addressOf = (peer: string): string => {
  const cut = peer.lastIndexOf(':');
  return cut > 0 ? peer.slice(0, cut).slice(0, 64) : peer.slice(0, 64);
};

/** Audit reason codes as the CA shows them: `UNKNOWN_CA` → `unknown-ca`. */
const reasonCode = (reason: string): string =>
  reason
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '')
    .slice(0, 64) || 'unknown';

/** A denial the CA should count: a refused handshake or a request/connection that was denied. */
export function authFailureOf(record: GatewayAuditRecord): AuthFailureEvent | undefined {
  const refused = record.type === 'handshake' && record.decision === 'refused';
  const denied = (record.type === 'request' || record.type === 'connection') && record.decision === 'deny';
  if (!refused && !denied) return undefined;
  return {
    at: record.time,
    listener: record.listener.slice(0, 128),
    stage: refused ? 'handshake' : 'request',
    reason: reasonCode(record.reason),
    address: addressOf(record.peer),
    identity: record.identity === null ? null : record.identity.slice(0, 2048),
    serial: record.serial !== null && /^[0-9a-f]{1,64}$/.test(record.serial) ? record.serial : null,
    fingerprintSha256:
      record.fingerprint !== null && /^[0-9a-f]{64}$/.test(record.fingerprint) ? record.fingerprint : null,
    issuer: record.issuer === null ? null : record.issuer.slice(0, 1024),
  };
}

export function startGatewayReporter(options: GatewayReporterOptions): GatewayReporter {
  const { loaded, events, clock, log } = options;
  const configured = loaded.config.report;
  if (configured === undefined) throw new Error('startGatewayReporter needs a report: section');
  const cfg: GatewayReportConfig = configured;
  const first = loaded.config.listeners[0];
  const fileTls = first !== undefined && 'certificate' in first.tls ? first.tls : undefined;
  // The client certificate reports are sent with: report.certificate/key, else the first listener's
  // files, else (a `tls.fromCa` first listener) its current certificate from the CA.
  const clientMaterial = async (): Promise<{ cert: string | Uint8Array; key: string | Uint8Array }> => {
    if (cfg.certificate !== undefined && cfg.key !== undefined) {
      return {
        cert: await readFileCapped(loaded.resolve(cfg.certificate), 1024 * 1024),
        key: await readFileCapped(loaded.resolve(cfg.key), 256 * 1024),
      };
    }
    if (fileTls !== undefined) {
      return {
        cert: await readFileCapped(loaded.resolve(fileTls.certificate), 1024 * 1024),
        key: await readFileCapped(loaded.resolve(fileTls.key), 256 * 1024),
      };
    }
    const current = first === undefined ? undefined : options.serverCertificates?.(first.name);
    if (current === undefined) throw new Error('no client certificate to report with');
    return { cert: current.chainPem, key: current.keyPem };
  };
  const places = new Map(
    loaded.config.listeners.map((l) => {
      const port = options.listeners.find((p) => p.name === l.name)?.port ?? l.listen.port;
      return [l.name, `gateway ${cfg.name} ${l.name} ${l.listen.host}:${port}`];
    }),
  );

  let failures: AuthFailureEvent[] = [];
  let droppedFailures = 0;
  let clients = new Map<string, SightingEvent>();
  let lastRevocationOk: Date | undefined;
  let revocationFailing = false;

  const onAudit = (record: GatewayAuditRecord): void => {
    const event = authFailureOf(record);
    if (event === undefined) return;
    if (failures.length >= cfg.maxItems) droppedFailures++;
    else failures.push(event);
  };
  const onPeer = (peer: { listener: string; chain: { leaf: Uint8Array; intermediates: Uint8Array[] } }): void => {
    const fingerprint = sha256Fingerprint(peer.chain.leaf);
    const key = `${fingerprint} ${peer.listener}`;
    const known = clients.get(key);
    if (known !== undefined) {
      clients.set(key, { ...known, at: clock.now().toISOString() });
      return;
    }
    if (clients.size >= cfg.maxItems) return;
    clients.set(key, {
      where: places.get(peer.listener) ?? `gateway ${cfg.name} ${peer.listener}`,
      role: 'client',
      at: clock.now().toISOString(),
      chain: pemChain([peer.chain.leaf, ...peer.chain.intermediates]).slice(0, 10),
    });
  };
  const onRevocation = (r: { ok: boolean }): void => {
    revocationFailing = !r.ok;
    if (r.ok) lastRevocationOk = clock.now();
  };
  events.on('audit', onAudit);
  events.on('peer', onPeer);
  events.on('revocation', onRevocation);

  /** The trust anchors of every listener's trust bundles (read now, so a reloaded bundle shows). */
  async function trustAnchors(): Promise<string[]> {
    const out = new Set<string>();
    for (const l of loaded.config.listeners) {
      for (const file of l.clientAuth.trustBundles) {
        try {
          const ders = readDerObjects(await readFileCapped(loaded.resolve(file), 8 * 1024 * 1024), ['CERTIFICATE']);
          for (const der of ders) out.add(sha256Fingerprint(der));
        } catch (err) {
          log('warn', 'report: cannot read a trust bundle', { listener: l.name, file, error: String(err) });
        }
      }
    }
    return [...out].slice(0, 64);
  }

  async function serverSightings(at: string): Promise<SightingEvent[]> {
    const out: SightingEvent[] = [];
    for (const l of loaded.config.listeners) {
      try {
        const pem =
          'certificate' in l.tls
            ? await readFileCapped(loaded.resolve(l.tls.certificate), 1024 * 1024)
            : options.serverCertificates?.(l.name)?.chainPem;
        if (pem === undefined) continue;
        const ders = readDerObjects(pem, ['CERTIFICATE']);
        if (ders.length === 0) continue;
        out.push({
          where: places.get(l.name) ?? `gateway ${cfg.name} ${l.name}`,
          role: 'server',
          at,
          chain: pemChain(ders).slice(0, 10),
        });
      } catch (err) {
        log('warn', 'report: cannot read a listener certificate', { listener: l.name, error: String(err) });
      }
    }
    return out;
  }

  let sending: Promise<boolean> | undefined;
  async function send(): Promise<boolean> {
    const now = clock.now();
    const at = now.toISOString();
    const batch = failures;
    const dropped = droppedFailures;
    const seen = clients;
    failures = [];
    droppedFailures = 0;
    clients = new Map();
    const detail = [
      revocationFailing ? 'a revocation source is failing' : undefined,
      dropped > 0 ? `${dropped} failed authentications not reported (over report.maxItems)` : undefined,
    ].filter((d) => d !== undefined);
    const health: ReportRequest['health'] = {
      status: revocationFailing ? 'degraded' : 'ok',
      ...(detail.length === 0 ? {} : { detail: detail.join('; ').slice(0, 1024) }),
      revocationDataAgeSeconds:
        lastRevocationOk === undefined
          ? null
          : Math.max(0, Math.floor((now.getTime() - lastRevocationOk.getTime()) / 1000)),
      trustAnchors: await trustAnchors(),
    };
    const sightings = [...(await serverSightings(at)), ...seen.values()];
    let sent = 0;
    try {
      const client = new CaClient({
        url: cfg.url,
        ca: await readFileCapped(loaded.resolve(cfg.ca), 1024 * 1024),
        ...(await clientMaterial()),
        timeoutMs: 10_000,
      });
      // Large batches go in several reports, each well under the CA's body limit for reports.
      const parts = Math.max(
        1,
        Math.ceil(batch.length / FAILURES_PER_REPORT),
        Math.ceil(sightings.length / SIGHTINGS_PER_REPORT),
      );
      for (let i = 0; i < parts; i++) {
        await client.report({
          component: { kind: 'gateway', name: cfg.name },
          at,
          health,
          authFailures: batch.slice(i * FAILURES_PER_REPORT, (i + 1) * FAILURES_PER_REPORT),
          sightings: sightings.slice(i * SIGHTINGS_PER_REPORT, (i + 1) * SIGHTINGS_PER_REPORT),
          certificates: [],
        });
        sent = i + 1;
      }
      return true;
    } catch (err) {
      // Kept for the next report, within the same bounds.
      // Parts the CA accepted are not sent again (sightings are idempotent; failed authentications are not).
      const merged = [...batch.slice(sent * FAILURES_PER_REPORT), ...failures];
      failures = merged.slice(0, cfg.maxItems);
      droppedFailures += dropped + (merged.length - failures.length);
      for (const [k, v] of seen) if (!clients.has(k) && clients.size < cfg.maxItems) clients.set(k, v);
      log('warn', 'report to the CA failed; will retry', {
        url: cfg.url,
        error: err instanceof Error ? err.message : String(err),
        code: (err as { code?: unknown }).code,
      });
      return false;
    }
  }

  const flush = (): Promise<boolean> => {
    const run = (sending ?? Promise.resolve(true)).then(send, send);
    sending = run;
    return run;
  };
  const timer = setInterval(() => {
    void flush();
  }, cfg.interval);
  timer.unref();
  void flush();

  return {
    flush,
    close: () => {
      clearInterval(timer);
      events.off('audit', onAudit);
      events.off('peer', onPeer);
      events.off('revocation', onRevocation);
    },
  };
}
