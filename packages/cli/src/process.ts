import { MutualError } from '@mutual/sdk';

/**
 * Resolves on the first SIGINT or SIGTERM. Call it before announcing readiness, so a signal sent
 * right after the banner is handled rather than killing the process.
 */
export function waitForStop(): Promise<void> {
  return new Promise((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

/** `host:port`, `[::1]:port` or `:port`. */
export function parseListen(value: string): { host?: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(value);
  const port = Number(m?.[3]);
  if (!m || port > 65535) {
    throw new MutualError('ERR_USAGE_INVALID_ARGUMENT', {
      message: 'Expected host:port, e.g. 127.0.0.1:8443.',
      details: { listen: value },
    });
  }
  const host = m[1] ?? m[2] ?? '';
  return host === '' ? { port } : { host, port };
}
