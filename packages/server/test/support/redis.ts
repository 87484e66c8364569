// A throwaway redis-server for tests: a free port on 127.0.0.1, no persistence, a temp working
// directory. Never skipped: a missing binary is a failure that says what to install.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

export interface TestRedis {
  readonly port: number;
  readonly url: string;
  readonly process: ChildProcess;
  /** SIGKILL, as a crash would; resolves when the process has exited. Idempotent. */
  kill(): Promise<void>;
}

async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  await new Promise<void>((resolve) => {
    server.close(() => {
      resolve();
    });
  });
  return port;
}

export async function startRedis(): Promise<TestRedis> {
  const port = await freePort();
  const dir = mkdtempSync(path.join(tmpdir(), 'mutual-redis-'));
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const exited = once(child, 'exit');
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.on('error', (err) => {
      reject(new Error(`redis-server could not start (install redis-server): ${err.message}`));
    });
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString('utf8');
      if (out.includes('Ready to accept connections')) resolve();
    });
    child.on('exit', (code) => {
      reject(new Error(`redis-server exited with ${String(code)} before it was ready:\n${out}`));
    });
  });
  child.stdout.resume();
  let killed: Promise<void> | undefined;
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    process: child,
    kill: () => {
      killed ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
        await exited;
        rmSync(dir, { recursive: true, force: true });
      })();
      return killed;
    },
  };
}
