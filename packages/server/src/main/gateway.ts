import type { Writable } from 'node:stream';
import { MutualError, createCredentials, readFileCapped, type Credentials, type CredentialsTimers } from '@mutual/sdk';
import { loadGatewayConfig, type LoadedGatewayConfig } from '../config/index.js';
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
  /** Timers of the certificates listeners get from the CA (`tls.fromCa`); tests move time by hand. */
  readonly credentialTimers?: CredentialsTimers;
}

export interface RunningGateway {
  readonly listeners: readonly { readonly name: string; readonly port: number }[];
  readonly adminPort: number;
  readonly gateway: Gateway;
  /** Present when gateway.yaml has a `report:` section (read at start; a change needs a restart). */
  readonly reporter: GatewayReporter | undefined;
  /** The self-renewing certificate of each `tls.fromCa` listener, by listener name. */
  readonly credentials: ReadonlyMap<string, Credentials>;
  reload(): Promise<ReloadResult>;
  close(): Promise<void>;
}

/** Composition root of the gateway: config file → listeners, admin listener, file watch and SIGHUP. */
export async function startGateway(options: StartGatewayOptions): Promise<RunningGateway> {
  const loaded = loadGatewayConfig(options.configFile);
  const credentials = await listenerCredentials(loaded, options);
  let gateway: Gateway;
  try {
    gateway = await createGateway({
      loaded,
      ...(options.clock ? { clock: options.clock } : {}),
      ...(options.log ? { log: options.log } : {}),
      ...(options.stdout ? { stdout: options.stdout } : {}),
      serverCertificates: (name) => {
        const c = credentials.get(name);
        if (c === undefined) return undefined;
        const { chainPem, keyPem } = c.current();
        return { chainPem, keyPem };
      },
    });
  } catch (err) {
    for (const c of credentials.values()) c.stop();
    throw err;
  }
  // A renewed listener certificate goes through the reload path: checked, then setSecureContext.
  for (const [name, c] of credentials) {
    c.on('rotated', (next) => {
      void gateway.refreshMaterial().then((r) => {
        if (r.ok)
          (options.log ?? stderrLog)('info', 'listener certificate renewed from the CA', {
            listener: name,
            serial: next.serial,
          });
      });
    });
  }
  const reporter =
    loaded.config.report === undefined
      ? undefined
      : startGatewayReporter({
          loaded,
          events: gateway.events,
          listeners: gateway.listeners,
          serverCertificates: (name) => {
            const c = credentials.get(name);
            if (c === undefined) return undefined;
            const { chainPem, keyPem } = c.current();
            return { chainPem, keyPem };
          },
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
    credentials,
    reload: () => gateway.reload(),
    close: async () => {
      reporter?.close();
      process.off('SIGHUP', onHup);
      watcher?.close();
      for (const c of credentials.values()) c.stop();
      await gateway.close();
    },
  };
}

/** Validates gateway.yaml and every file it names without listening (`mutual gateway check`). */
export async function checkGateway(options: { readonly configFile: string }): Promise<GatewayCheckReport> {
  return checkGatewayConfig(loadGatewayConfig(options.configFile));
}

/**
 * One self-renewing certificate per `tls.fromCa` listener: enrolled with the token in `tokenFile`
 * before the listeners open (or started from its `persist` files), then renewed at 2/3 of its
 * lifetime. Without `persist` the certificate lives in memory only, so a restarted gateway needs a
 * new token. Resolves when every one is ready.
 */
async function listenerCredentials(
  loaded: LoadedGatewayConfig,
  options: StartGatewayOptions,
): Promise<Map<string, Credentials>> {
  const out = new Map<string, Credentials>();
  const log: GatewayLog = options.log ?? stderrLog;
  try {
    for (const l of loaded.config.listeners) {
      if (!('fromCa' in l.tls)) continue;
      const f = l.tls.fromCa;
      let root: string | undefined;
      if (f.rootFile !== undefined) {
        const file = loaded.resolve(f.rootFile);
        try {
          root = (await readFileCapped(file, 1024 * 1024)).toString('utf8');
        } catch (err) {
          throw new MutualError('ERR_GATEWAY_MATERIAL_INVALID', {
            message: `${file}: cannot read the CA root`,
            details: { file, reason: 'cannot read the CA root' },
            cause: err,
          });
        }
      }
      const c = createCredentials({
        ca: {
          url: f.url,
          ...(root === undefined ? {} : { root }),
          ...(f.fingerprint === undefined ? {} : { fingerprint: f.fingerprint }),
        },
        tokenFile: loaded.resolve(f.tokenFile),
        ...(f.persist === undefined
          ? {}
          : { persist: { cert: loaded.resolve(f.persist.certificate), key: loaded.resolve(f.persist.key) } }),
        keyType: f.keyType,
        ...(f.lifetime === undefined ? {} : { lifetime: f.lifetime }),
        name: `listener ${l.name}`,
        ...(options.clock ? { clock: options.clock } : {}),
        ...(options.credentialTimers ? { timers: options.credentialTimers } : {}),
        onError: (error, status) => {
          log('warn', 'listener certificate: renewal failed; keeping the current certificate', {
            listener: l.name,
            code: error.code,
            error: error.message,
            failures: status.failures,
            nextAttemptAt: status.nextAttemptAt?.toISOString() ?? null,
          });
        },
      });
      c.on('overdue', (e) => {
        log('error', 'listener certificate renewal is overdue', {
          listener: l.name,
          serial: e.serial,
          notAfter: e.notAfter.toISOString(),
        });
      });
      out.set(l.name, c);
    }
    await Promise.all([...out.values()].map((c) => c.ready()));
  } catch (err) {
    for (const c of out.values()) c.stop();
    throw err;
  }
  return out;
}

/** The gateway's default log line (JSON on stderr). */
const stderrLog: GatewayLog = (level, message, fields) => {
  process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), level, message, ...fields })}\n`);
};
