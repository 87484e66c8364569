import { readFileSync } from 'node:fs';
import { startTunnelServer, type Tunnel, type TunnelOptions } from '../tunnel/index.js';
import {
  MutualError,
  createCredentials,
  readFileCapped,
  startReporting,
  type Reporting,
  type Credentials,
  type CredentialsTimers,
  type KeyType,
} from '@mutual/sdk';

/** The tunnel's client certificate from a mutual CA, renewed in memory (`mutual tunnel --from-ca`). */
export interface TunnelFromCa {
  /** Base URL of the CA. */
  readonly url: string;
  /** PEM file of the CA's root; also the default trust for the target's chain. */
  readonly rootFile?: string;
  /** SHA-256 of the CA's root, instead of rootFile. */
  readonly fingerprint?: string;
  /** File holding a one-time enrollment token (`mutual token create … --profile client`). */
  readonly tokenFile: string;
  readonly lifetime?: string;
  readonly keyType?: KeyType;
  /** Timers of the renewal schedule (tests move time by hand). */
  readonly timers?: CredentialsTimers;
  readonly onError?: (error: MutualError) => void;
  /**
   * Report to the CA under this name (component kind `tunnel`): health, the certificate and the
   * roots the tunnel checks the server with. Absent: no reports.
   */
  readonly report?: {
    readonly name: string;
    readonly intervalMs?: number;
    readonly onError?: (e: MutualError) => void;
  };
}

export type StartTunnelOptions = Omit<TunnelOptions, 'listen' | 'target' | 'credentials'> & {
  /** host:port to listen on (plain TCP, normally a loopback address). */
  readonly listen: string;
  /** host:port of the mTLS server. */
  readonly target: string;
  /** Get the client certificate from the CA instead of certFile/keyFile. */
  readonly fromCa?: TunnelFromCa;
};

export type RunningTunnel = Tunnel & {
  /** The self-renewing client certificate when started with `fromCa`. */
  readonly credentials: Credentials | undefined;
  /** Reports to the CA when started with `fromCa.report`. */
  readonly reporting: Reporting | undefined;
};

function hostPort(text: string, what: string): { host: string; port: number } {
  const m = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(text);
  const port = Number(m?.[2]);
  if (!m || !(port >= 0 && port <= 65535)) {
    throw new MutualError('ERR_USAGE_INVALID_ARGUMENT', {
      message: `--${what}: expected host:port (an IPv6 address in brackets), got "${text}".`,
    });
  }
  return { host: (m[1] ?? '').replace(/^\[|\]$/g, ''), port };
}

async function tunnelCredentials(f: TunnelFromCa, now: (() => Date) | undefined): Promise<Credentials> {
  let root: string | undefined;
  if (f.rootFile !== undefined) {
    try {
      root = (await readFileCapped(f.rootFile, 1024 * 1024)).toString('utf8');
    } catch (err) {
      throw new MutualError('ERR_TUNNEL_MATERIAL_INVALID', {
        message: `${f.rootFile}: cannot read the CA root`,
        details: { file: f.rootFile, reason: 'CA root' },
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
    tokenFile: f.tokenFile,
    ...(f.lifetime === undefined ? {} : { lifetime: f.lifetime }),
    ...(f.keyType === undefined ? {} : { keyType: f.keyType }),
    ...(now === undefined ? {} : { clock: { now } }),
    ...(f.timers === undefined ? {} : { timers: f.timers }),
    ...(f.onError === undefined ? {} : { onError: f.onError }),
    name: 'tunnel',
  });
  try {
    await c.ready();
  } catch (err) {
    c.stop();
    throw err;
  }
  return c;
}

/** Composition root of `mutual tunnel`: parses the addresses, gets the certificate, starts the tunnel. */
export async function startTunnel(options: StartTunnelOptions): Promise<RunningTunnel> {
  const { listen, target, fromCa, ...rest } = options;
  const addresses = { listen: hostPort(listen, 'listen'), target: hostPort(target, 'target') };
  const credentials = fromCa === undefined ? undefined : await tunnelCredentials(fromCa, options.now);
  try {
    const tunnel = await startTunnelServer({
      ...rest,
      ...addresses,
      ...(credentials === undefined ? {} : { credentials }),
    });
    const report = fromCa?.report;
    // The roots the tunnel checks the server with: --ca when given, else the CA's root.
    const trustFile = rest.caFile;
    const reporting =
      credentials === undefined || report === undefined
        ? undefined
        : startReporting(credentials, {
            caUrl: fromCa?.url ?? '',
            name: report.name,
            kind: 'tunnel',
            ...(report.intervalMs === undefined ? {} : { intervalMs: report.intervalMs }),
            ...(fromCa?.timers === undefined ? {} : { timers: fromCa.timers }),
            ...(report.onError === undefined ? {} : { onError: report.onError }),
            ...(trustFile === undefined ? {} : { trustPem: () => readFileSync(trustFile) }),
          });
    return {
      ...tunnel,
      credentials,
      reporting,
      close: async () => {
        reporting?.stop();
        credentials?.stop();
        await tunnel.close();
      },
    };
  } catch (err) {
    credentials?.stop();
    throw err;
  }
}
