import { createHash } from 'node:crypto';
import { CaClient } from '../ca-client/index.js';
import type { ComponentKind, ReportRequest } from '../contract/index.js';
import { toMutualError, type MutualError } from '../errors/index.js';
import { readDerObjects } from '../pem/index.js';
import type { Credentials, CredentialsTimers } from './credentials.js';

export interface ReportingOptions {
  /** Base URL of the CA that issued the credentials. */
  readonly caUrl: string;
  /** How the component names itself in `mutual ca trust`, the inventory and the dashboard. */
  readonly name: string;
  /** Default `service`. */
  readonly kind?: ComponentKind;
  /** Heartbeat interval; a report also goes out after every rotation. Default one minute. */
  readonly intervalMs?: number;
  /**
   * PEM of the roots the component checks its peers with: their SHA-256 are reported as
   * `trustAnchors` (what `mutual ca finish-root-rotation` waits for). Default: the CA's root the
   * credentials trust.
   */
  readonly trustPem?: () => string | Uint8Array;
  readonly timers?: CredentialsTimers;
  /** A report that could not be delivered (the next one is tried anyway). */
  readonly onError?: (error: MutualError) => void;
  readonly timeoutMs?: number;
}

export interface Reporting {
  /** Sends a report now (resolves when delivered or failed). */
  reportNow(): Promise<void>;
  stop(): void;
}

const sha256 = (der: Uint8Array): string => createHash('sha256').update(der).digest('hex');

/**
 * Reports a component that holds `credentials` to its CA (`POST /v1/reports`, mTLS with the current
 * certificate): its health from the renewal status, the certificate it keeps fresh, and the roots it
 * trusts — so a service built on the SDK, or a tunnel, shows up in `mutual ca trust` and counts in
 * the gate of `mutual ca finish-root-rotation`. Best effort: a failed report is passed to `onError`
 * and the next one goes out on schedule; a CA without the endpoint (404) is not asked again.
 */
export function startReporting(credentials: Credentials, options: ReportingOptions): Reporting {
  const interval = options.intervalMs ?? 60_000;
  const timers = options.timers ?? {
    setTimeout: (fn: () => void, ms: number) => {
      const t = setTimeout(fn, ms);
      t.unref();
      return t;
    },
    clearTimeout: (h: unknown) => {
      clearTimeout(h as NodeJS.Timeout);
    },
  };
  let timer: unknown;
  let stopped = false;
  let silenced = false;
  let lastRenewalAt: Date | null = null;

  const body = (): ReportRequest => {
    const st = credentials.status();
    const cur = credentials.current();
    const trust = options.trustPem?.() ?? credentials.rootPem();
    const overdue = st.state === 'overdue' || st.state === 'expired';
    return {
      component: { kind: options.kind ?? 'service', name: options.name },
      at: credentials.clock.now().toISOString(),
      health: {
        ...(overdue
          ? { status: 'failing', detail: 'the certificate renewal is overdue' }
          : st.failures > 0
            ? { status: 'degraded', detail: 'renewal attempts are failing; retrying with backoff' }
            : { status: 'ok' }),
        trustAnchors: readDerObjects(trust, ['CERTIFICATE']).map(sha256).slice(0, 64),
      },
      certificates: [
        {
          name: options.name.slice(0, 128),
          path: null,
          serial: cur.serial,
          notAfter: cur.notAfter.toISOString(),
          renewAt: st.renewAt?.toISOString() ?? null,
          lastRenewalAt: lastRenewalAt?.toISOString() ?? null,
          lastError: st.lastError === null ? null : `${st.lastError.code}: ${st.lastError.message}`.slice(0, 1024),
          overdue,
        },
      ],
    };
  };

  const reportNow = async (): Promise<void> => {
    if (silenced) return;
    try {
      const cur = credentials.current();
      const client = new CaClient({
        url: options.caUrl,
        ca: credentials.rootPem(),
        cert: cur.chainPem,
        key: cur.keyPem,
        ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
      });
      await client.report(body());
    } catch (err) {
      const e = toMutualError(err);
      if (e.details['status'] === 404) silenced = true;
      options.onError?.(e);
    }
  };

  const schedule = (): void => {
    if (stopped) return;
    timer = timers.setTimeout(() => {
      void reportNow().finally(schedule);
    }, interval);
  };
  const onRotated = (): void => {
    lastRenewalAt = credentials.clock.now();
    void reportNow();
  };
  credentials.on('rotated', onRotated);
  void reportNow().finally(schedule);
  return {
    reportNow,
    stop: () => {
      stopped = true;
      credentials.off('rotated', onRotated);
      if (timer !== undefined) timers.clearTimeout(timer);
    },
  };
}
