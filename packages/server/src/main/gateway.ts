import type { Writable } from 'node:stream';
import { loadGatewayConfig } from '../config/index.js';
import {
  checkGatewayConfig,
  createGateway,
  startGatewayReporter,
  watchGateway,
  type GatewayCheckReport,
  type GatewayClock,
  type GatewayLog,
  type Gateway,
  type GatewayReporter,
  type ReloadResult,
} from '../gateway/index.js';

export interface StartGatewayOptions {
  readonly configFile: string;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly clock?: GatewayClock;
  readonly log?: GatewayLog;
  /** Where audit records go when `audit.file` is "-" (default process.stdout). */
  readonly stdout?: Writable;
  /** Reload on SIGHUP (default true). */
  readonly sighup?: boolean;
}

export interface RunningGateway {
  readonly listeners: readonly { readonly name: string; readonly port: number }[];
  readonly adminPort: number;
  readonly gateway: Gateway;
  /** Present when gateway.yaml has a `report:` section (read at start; a change needs a restart). */
  readonly reporter: GatewayReporter | undefined;
  reload(): Promise<ReloadResult>;
  close(): Promise<void>;
}

/** Composition root of the gateway: config file → listeners, admin listener, file watch and SIGHUP. */
export async function startGateway(options: StartGatewayOptions): Promise<RunningGateway> {
  const loaded = loadGatewayConfig(options.configFile);
  const gateway = await createGateway({
    loaded,
    ...(options.clock ? { clock: options.clock } : {}),
    ...(options.log ? { log: options.log } : {}),
    ...(options.stdout ? { stdout: options.stdout } : {}),
  });
  const reporter =
    loaded.config.report === undefined
      ? undefined
      : startGatewayReporter({
          loaded,
          events: gateway.events,
          listeners: gateway.listeners,
          clock: options.clock ?? { now: () => new Date() },
          log:
            options.log ??
            ((level, message, fields) => {
              process.stderr.write(
                `${JSON.stringify({ time: new Date().toISOString(), level, message, ...fields })}\n`,
              );
            }),
        });
  const watcher = loaded.config.watch ? watchGateway(gateway) : undefined;
  const onHup = (): void => {
    void gateway.reload();
  };
  if (options.sighup !== false) process.on('SIGHUP', onHup);
  return {
    listeners: gateway.listeners,
    adminPort: gateway.adminPort,
    gateway,
    reporter,
    reload: () => gateway.reload(),
    close: async () => {
      reporter?.close();
      process.off('SIGHUP', onHup);
      watcher?.close();
      await gateway.close();
    },
  };
}

/** Validates gateway.yaml and every file it names without listening (`mutual gateway check`). */
export async function checkGateway(options: { readonly configFile: string }): Promise<GatewayCheckReport> {
  return checkGatewayConfig(loadGatewayConfig(options.configFile));
}
