/**
 * Entry point of one worker of a multi-process gateway (forked by gateway-cluster.ts through
 * node:cluster, which shares every listening socket). It serves the listeners of the config file
 * named in MUTUAL_GATEWAY_CONFIG; the primary serves the admin listener, relays SIGHUP and asks
 * for shutdown. Audit records go to the file (O_APPEND, one write per line) or, for stdout, to
 * the primary, which writes whole lines.
 */
import 'reflect-metadata';
import { Writable } from 'node:stream';
import { AggregatorRegistry } from 'prom-client';
import { MutualError } from '@mutual/sdk';
import { loadGatewayConfig } from '../config/index.js';
import { createGateway, watchGateway, type Gateway, type GatewayWatcher } from '../gateway/index.js';
import { isGatewayMessage, type PrimaryMessage, type WorkerMessage } from './gateway-cluster.js';
import { tuneV8ForGateway } from './v8-tuning.js';

tuneV8ForGateway();

const send = (message: WorkerMessage): void => {
  if (process.connected) process.send?.(message);
};
const index = process.env.MUTUAL_GATEWAY_WORKER ?? '0';
const log = (level: string, message: string, fields?: Record<string, unknown>): void => {
  process.stderr.write(
    `${JSON.stringify({ time: new Date().toISOString(), level, message, worker: Number(index), pid: process.pid, ...fields })}\n`,
  );
};

let gateway: Gateway | undefined;
let watcher: GatewayWatcher | undefined;
let stopping: Promise<void> | undefined;

function stop(): Promise<void> {
  stopping ??= (async () => {
    watcher?.close();
    await gateway?.close();
    process.exitCode = 0;
    // The IPC channel keeps the event loop alive: leaving it lets the process end.
    if (process.connected) process.disconnect();
  })();
  return stopping;
}

process.on('message', (raw: unknown) => {
  if (!isGatewayMessage(raw)) return;
  const m = raw as PrimaryMessage;
  if (m.type === 'shutdown') void stop();
  else if (m.type === 'reload' && gateway) {
    void gateway.reload().then((r) => {
      send(
        r.ok
          ? { mutual: 'gateway', type: 'reloaded', id: m.id, ok: true }
          : { mutual: 'gateway', type: 'reloaded', id: m.id, ok: false, code: r.error.code, message: r.error.message },
      );
    });
  } else if (m.type === 'readyz') {
    send({ mutual: 'gateway', type: 'readyz', id: m.id, ready: gateway?.ready() === true && stopping === undefined });
  }
});
// SIGHUP and Ctrl-C reach the whole process group: the primary relays reloads and asks for shutdown.
process.on('SIGHUP', () => undefined);
process.on('SIGINT', () => undefined);
process.on('SIGTERM', () => {
  void stop();
});
// The primary went away: stop serving.
process.on('disconnect', () => {
  void stop();
});

try {
  const configFile = process.env.MUTUAL_GATEWAY_CONFIG ?? '';
  const loaded = loadGatewayConfig(configFile);
  const toPrimary = new Writable({
    write(chunk: Buffer | string, _encoding, callback) {
      send({ mutual: 'gateway', type: 'audit', line: chunk.toString() });
      callback();
    },
  });
  gateway = await createGateway({ loaded, admin: false, log, stdout: toPrimary });
  // Constructing one makes prom-client answer the primary's metric requests from this registry.
  new AggregatorRegistry();
  AggregatorRegistry.setRegistries([gateway.metrics.registry]);
  watcher = loaded.config.watch ? watchGateway(gateway) : undefined;
  send({ mutual: 'gateway', type: 'ready', listeners: gateway.listeners.map((l) => ({ ...l })) });
} catch (err) {
  const error = err instanceof MutualError ? err : new MutualError('ERR_INTERNAL_UNEXPECTED', { cause: err });
  log('error', 'gateway worker failed to start', { code: error.code, error: error.message });
  send({ mutual: 'gateway', type: 'failed', code: error.code, message: error.message, details: { ...error.details } });
  process.exitCode = 1;
  if (process.connected) process.disconnect();
}
