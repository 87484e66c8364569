import { startTunnelServer, type Tunnel, type TunnelOptions } from '../tunnel/index.js';
import { MutualError } from '@mutual/sdk';

export type StartTunnelOptions = Omit<TunnelOptions, 'listen' | 'target'> & {
  /** host:port to listen on (plain TCP, normally a loopback address). */
  readonly listen: string;
  /** host:port of the mTLS server. */
  readonly target: string;
};

export type RunningTunnel = Tunnel;

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

/** Composition root of `mutual tunnel`: parses the addresses and starts the tunnel. */
export function startTunnel(options: StartTunnelOptions): Promise<RunningTunnel> {
  const { listen, target, ...rest } = options;
  return startTunnelServer({ ...rest, listen: hostPort(listen, 'listen'), target: hostPort(target, 'target') });
}
