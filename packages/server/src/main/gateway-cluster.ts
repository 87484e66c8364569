/**
 * Composition root of a gateway on every core: `workers: 1` (the default) is startGateway exactly
 * as before; more workers make this process the primary of a node:cluster. The primary validates
 * the config, forks the workers (gateway-worker.ts: each runs every listener on the shared
 * sockets), serves the admin listener (metrics summed over the workers by prom-client's
 * AggregatorRegistry, /readyz asks every worker), relays SIGHUP, writes the workers' stdout audit
 * lines whole, replaces a worker that crashes, and on close asks each worker to finish.
 */
import cluster, { type Worker } from 'node:cluster';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { AggregatorRegistry } from 'prom-client';
import { MutualError, errorCatalog, type ErrorCode } from '@mutual/sdk';
import { loadGatewayConfig } from '../config/index.js';
import type { GatewayLog, ReloadResult } from '../gateway/index.js';
import { tuneV8ForGateway } from './v8-tuning.js';
import { startGateway, type StartGatewayOptions } from './gateway.js';

export type PrimaryMessage =
  | { readonly mutual: 'gateway'; readonly type: 'shutdown' }
  | { readonly mutual: 'gateway'; readonly type: 'reload'; readonly id: number }
  | { readonly mutual: 'gateway'; readonly type: 'readyz'; readonly id: number };

export type WorkerMessage =
  | { readonly mutual: 'gateway'; readonly type: 'ready'; readonly listeners: { name: string; port: number }[] }
  | {
      readonly mutual: 'gateway';
      readonly type: 'failed';
      readonly code: string;
      readonly message: string;
      readonly details: Record<string, unknown>;
    }
  | {
      readonly mutual: 'gateway';
      readonly type: 'reloaded';
      readonly id: number;
      readonly ok: boolean;
      readonly code?: string;
      readonly message?: string;
    }
  | { readonly mutual: 'gateway'; readonly type: 'readyz'; readonly id: number; readonly ready: boolean }
  | { readonly mutual: 'gateway'; readonly type: 'audit'; readonly line: string };

/** Messages of ours on the cluster's IPC channel (prom-client uses the same channel). */
export const isGatewayMessage = (raw: unknown): raw is PrimaryMessage | WorkerMessage =>
  typeof raw === 'object' && raw !== null && (raw as { mutual?: unknown }).mutual === 'gateway';

export interface RunGatewayOptions extends StartGatewayOptions {
  /** Overrides `workers` of the config file (the CLI's --workers). */
  readonly workers?: number | 'auto';
}

export interface RunningGatewayProcesses {
  readonly listeners: readonly { readonly name: string; readonly port: number }[];
  readonly adminPort: number;
  /** Number of processes serving the listeners (1: this process). */
  readonly workers: number;
  /** Process ids of the workers (this process's id when there is one). */
  pids(): number[];
  /** Reloads every worker; the first failure is the result. */
  reload(): Promise<ReloadResult>;
  close(): Promise<void>;
}

const WORKER_ASK_TIMEOUT_MS = 5_000;
const SHUTDOWN_TIMEOUT_MS = 15_000;

export function resolveWorkers(value: number | 'auto'): number {
  return value === 'auto' ? Math.max(1, availableParallelism()) : value;
}

const toError = (code: string | undefined, message: string | undefined, details?: Record<string, unknown>) =>
  code !== undefined && Object.hasOwn(errorCatalog, code)
    ? new MutualError(code as ErrorCode, { ...(message === undefined ? {} : { message }), details: details ?? {} })
    : new MutualError('ERR_INTERNAL_UNEXPECTED', { ...(message === undefined ? {} : { message }) });

/** Where the worker entry is: beside this file (dist/*.js; from source, run through tsx). */
function workerEntry(): { exec: string; execArgv: string[] } {
  const here = fileURLToPath(import.meta.url);
  const ext = path.extname(here);
  return {
    exec: path.join(path.dirname(here), `gateway-worker${ext}`),
    execArgv: ext === '.ts' ? ['--import', 'tsx'] : [],
  };
}

/** Starts the gateway with as many processes as `workers` says. */
export async function runGateway(options: RunGatewayOptions): Promise<RunningGatewayProcesses> {
  const loaded = loadGatewayConfig(options.configFile);
  const workers = resolveWorkers(options.workers ?? loaded.config.workers);
  if (workers > 1) {
    // A token enrolls once and reports come from one gateway's events: both belong to one process.
    const single = [
      ...(loaded.config.report === undefined ? [] : ['report']),
      ...loaded.config.listeners.filter((l) => 'fromCa' in l.tls).map((l) => `listeners.${l.name}.tls.fromCa`),
    ];
    if (single.length > 0) {
      throw new MutualError('ERR_CONFIG_INVALID', {
        message: `${single.join(', ')} run in one process only: use workers: 1 (got ${workers} workers).`,
        details: { file: loaded.file, workers, keys: single },
      });
    }
  }
  if (workers === 1) {
    tuneV8ForGateway();
    const running = await startGateway(options);
    return {
      listeners: running.listeners,
      adminPort: running.adminPort,
      workers: 1,
      pids: () => [process.pid],
      reload: () => running.reload(),
      close: () => running.close(),
    };
  }
  if (!cluster.isPrimary) throw new MutualError('ERR_INTERNAL_UNEXPECTED', { message: 'not a cluster primary' });

  const log: GatewayLog =
    options.log ??
    ((level, message, fields) => {
      process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), level, message, ...fields })}\n`);
    });
  const stdout = options.stdout ?? process.stdout;
  const { exec, execArgv } = workerEntry();
  cluster.setupPrimary({ exec, execArgv, args: [], silent: false });

  const live = new Map<number, Worker>(); // slot → worker
  const replies = new Map<number, (m: WorkerMessage) => void>();
  let nextId = 1;
  let closing = false;
  let listeners: { name: string; port: number }[] = [];

  const ask = <T extends WorkerMessage>(worker: Worker, message: PrimaryMessage & { id: number }): Promise<T> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        replies.delete(message.id);
        reject(new Error(`worker ${worker.process.pid ?? '?'} did not answer`));
      }, WORKER_ASK_TIMEOUT_MS);
      replies.set(message.id, (m) => {
        clearTimeout(timer);
        replies.delete(message.id);
        resolve(m as T);
      });
      worker.send(message);
    });

  const onMessage = (raw: unknown): void => {
    if (!isGatewayMessage(raw)) return;
    const m = raw as WorkerMessage;
    if (m.type === 'audit') stdout.write(m.line);
    else if ((m.type === 'reloaded' || m.type === 'readyz') && replies.has(m.id)) replies.get(m.id)?.(m);
  };

  /** Forks the worker of a slot; resolves when it listens, rejects if it fails first. */
  const fork = (slot: number): Promise<Worker> => {
    const worker = cluster.fork({
      MUTUAL_GATEWAY_CONFIG: path.resolve(options.configFile),
      MUTUAL_GATEWAY_WORKER: String(slot),
    });
    live.set(slot, worker);
    worker.on('message', onMessage);
    const started = Date.now();
    let ready = false;
    worker.on('exit', (code, signal) => {
      if (live.get(slot) === worker) live.delete(slot);
      if (closing || !ready) return;
      // A worker that finished cleanly was told to (SIGTERM to it, or to the whole process group while
      // the primary is about to stop too): only a crash is replaced.
      if (code === 0 && !signal) {
        log('warn', 'gateway worker stopped; not replaced', { worker: slot });
        return;
      }
      log('error', 'gateway worker exited; starting another', { worker: slot, code, signal });
      // A worker that dies right after starting is not restarted in a tight loop.
      const delay = Date.now() - started < 10_000 ? 1_000 : 0;
      setTimeout(() => {
        if (!closing)
          fork(slot).then(
            (next) => {
              log('info', 'gateway worker replaced', { worker: slot, pid: next.process.pid });
            },
            (err: unknown) => {
              log('error', 'gateway worker could not be restarted', { worker: slot, error: String(err) });
            },
          );
      }, delay).unref();
    });
    return new Promise((resolve, reject) => {
      const onStart = (raw: unknown): void => {
        if (!isGatewayMessage(raw)) return;
        const m = raw as WorkerMessage;
        if (m.type === 'ready') {
          ready = true;
          listeners = m.listeners;
          worker.off('message', onStart);
          resolve(worker);
        } else if (m.type === 'failed') {
          worker.off('message', onStart);
          reject(toError(m.code, m.message, m.details));
        }
      };
      worker.on('message', onStart);
      worker.once('exit', (code) => {
        if (!ready)
          reject(new MutualError('ERR_INTERNAL_UNEXPECTED', { message: `gateway worker exited with ${code}` }));
      });
    });
  };

  const stopWorkers = async (): Promise<void> => {
    const all = [...live.values()];
    const exited = all.map((w) => (w.isDead() ? Promise.resolve() : once(w, 'exit').then(() => undefined)));
    for (const w of all) if (!w.isDead() && w.isConnected()) w.send({ mutual: 'gateway', type: 'shutdown' });
    const timer = setTimeout(() => {
      for (const w of all) if (!w.isDead()) w.process.kill('SIGKILL');
    }, SHUTDOWN_TIMEOUT_MS);
    await Promise.all(exited);
    clearTimeout(timer);
  };

  // ---- workers -------------------------------------------------------------------------------
  try {
    // One at a time: each worker listens in order, so port-0 listeners share one socket.
    await fork(0);
    await Promise.all(Array.from({ length: workers - 1 }, (_, i) => fork(i + 1)));
  } catch (err) {
    closing = true;
    await stopWorkers();
    throw err;
  }

  // ---- admin ---------------------------------------------------------------------------------
  const aggregator = new AggregatorRegistry();
  const allReady = async (): Promise<boolean> => {
    if (closing || live.size < workers) return false;
    try {
      const answers = await Promise.all(
        [...live.values()].map((w) =>
          ask<WorkerMessage & { type: 'readyz' }>(w, { mutual: 'gateway', type: 'readyz', id: nextId++ }),
        ),
      );
      return answers.every((a) => a.ready);
    } catch {
      return false;
    }
  };
  const admin: Server = createServer((req, res) => {
    const p = (req.url ?? '').split('?')[0];
    if (req.method !== 'GET') {
      res.writeHead(405).end();
      return;
    }
    if (p === '/healthz') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
      return;
    }
    if (p === '/readyz') {
      void allReady().then((ready) => {
        res
          .writeHead(ready ? 200 : 503, { 'content-type': 'application/json' })
          .end(JSON.stringify({ status: ready ? 'ready' : 'not-ready', workers: live.size }));
      });
      return;
    }
    if (p === '/metrics') {
      aggregator.clusterMetrics().then(
        (text) => {
          res.writeHead(200, { 'content-type': aggregator.contentType }).end(text);
        },
        () => {
          res.writeHead(500).end();
        },
      );
      return;
    }
    res.writeHead(404).end();
  });
  const a = loaded.config.admin.listen;
  try {
    await new Promise<void>((resolve, reject) => {
      admin.once('error', (err) => {
        reject(new MutualError('ERR_GATEWAY_LISTEN_FAILED', { details: { listener: 'admin', ...a }, cause: err }));
      });
      admin.listen(a.port, a.host, resolve);
    });
  } catch (err) {
    closing = true;
    await stopWorkers();
    throw err;
  }

  // ---- reload --------------------------------------------------------------------------------
  const reload = async (): Promise<ReloadResult> => {
    const answers = await Promise.all(
      [...live.values()].map((w) =>
        ask<WorkerMessage & { type: 'reloaded' }>(w, { mutual: 'gateway', type: 'reload', id: nextId++ }).catch(
          (err: unknown) => ({ ok: false, code: 'ERR_INTERNAL_UNEXPECTED', message: String(err) }),
        ),
      ),
    );
    const failed = answers.find((x) => !x.ok);
    if (failed) {
      log('error', 'reload refused by a worker; the running configuration and material are kept', {
        code: failed.code,
        error: failed.message,
      });
      return { ok: false, error: toError(failed.code, failed.message) };
    }
    log('info', 'gateway reloaded', { workers: answers.length });
    return { ok: true };
  };
  const onHup = (): void => {
    void reload();
  };
  if (options.sighup !== false) process.on('SIGHUP', onHup);

  return {
    listeners,
    adminPort: (admin.address() as AddressInfo).port,
    workers,
    pids: () => [...live.values()].map((w) => w.process.pid ?? 0),
    reload,
    close: async () => {
      closing = true;
      process.off('SIGHUP', onHup);
      await stopWorkers();
      await new Promise<void>((resolve) => {
        admin.close(() => {
          resolve();
        });
        admin.closeAllConnections();
      });
    },
  };
}
