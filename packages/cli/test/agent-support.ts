import { spawn, type ChildProcess } from 'node:child_process';
import { X509Certificate, createPublicKey } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { BIN, bootstrapAdmin, mutual, startUntil, tempDir, waitExit } from './support.js';

/** A JSON log line of `mutual agent`. */
export interface AgentLine {
  time: string;
  level: string;
  message: string;
  [field: string]: unknown;
}

/** A running `mutual agent` whose JSON log lines can be awaited (never a sleep). */
export interface RunningAgent {
  child: ChildProcess;
  lines: AgentLine[];
  /** Resolves with the first line (from `from` on) matching; rejects after `timeoutMs`. */
  waitFor(match: (l: AgentLine) => boolean, timeoutMs?: number, from?: number): Promise<AgentLine>;
  /** Resolves once `count` lines match. */
  waitForCount(match: (l: AgentLine) => boolean, count: number, timeoutMs?: number): Promise<AgentLine[]>;
  stop(): Promise<number | null>;
  output(): string;
}

export function startAgent(args: readonly string[], env: Record<string, string> = {}): RunningAgent {
  // A context directory of its own unless the test gives one: the agent publishes identities there.
  const context = env['MUTUAL_CONTEXT_DIR'] ?? tempDir('mutual-agent-ctx-');
  const child = spawn(process.execPath, [BIN, 'agent', ...args], {
    env: { ...process.env, MUTUAL_CONTEXT_DIR: context, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: AgentLine[] = [];
  let raw = '';
  let err = '';
  let buffer = '';
  const listeners = new Set<() => void>();
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    raw += d;
    buffer += d;
    let nl: number;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      try {
        lines.push(JSON.parse(line) as AgentLine);
      } catch {
        // not a log line
      }
    }
    for (const l of [...listeners]) l();
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    err += d;
  });
  const output = (): string => `${raw}\n--- stderr ---\n${err}`;
  const waitForCount = (match: (l: AgentLine) => boolean, count: number, timeoutMs = 30_000): Promise<AgentLine[]> =>
    new Promise((resolve, reject) => {
      const check = (): boolean => {
        const found = lines.filter(match);
        if (found.length >= count) {
          done();
          resolve(found);
          return true;
        }
        return false;
      };
      const onExit = (): void => {
        if (!check()) {
          done();
          reject(new Error(`agent exited before the awaited line; output:\n${output()}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out waiting for ${count} matching line(s); output:\n${output()}`));
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        listeners.delete(listener);
        child.off('exit', onExit);
      };
      const listener = (): void => {
        check();
      };
      listeners.add(listener);
      child.once('exit', onExit);
      check();
    });
  return {
    child,
    lines,
    output,
    waitForCount,
    waitFor: async (match, timeoutMs = 30_000, from = 0) => {
      const found = await waitForCount((l) => lines.indexOf(l) >= from && match(l), 1, timeoutMs);
      return found[0] as AgentLine;
    },
    stop: async () => {
      if (child.exitCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      return waitExit(child);
    },
  };
}

export const message = (m: string) => (l: AgentLine) => l.message === m;

/** A `mutual ca serve` on 127.0.0.1 (on `port` when given, so it can be restarted at the same address). */
export async function startCa(
  caDir: string,
  port = 0,
): Promise<{ child: ChildProcess; url: string; fingerprint: string; stop: () => Promise<number | null> }> {
  const server = await startUntil(
    process.execPath,
    [BIN, 'ca', 'serve', '--dir', caDir, '--listen', `127.0.0.1:${port}`],
    /root fingerprint: ([0-9a-f]{64})/,
    { timeoutMs: 60_000 },
  );
  const url = /listening on (https:\/\/\S+)/.exec(server.output())?.[1] ?? '';
  return {
    child: server.child,
    url,
    fingerprint: server.match[1] ?? '',
    stop: async () => {
      server.child.kill('SIGTERM');
      return waitExit(server.child);
    },
  };
}

/** Saves the CA context with the admin certificate into `ctxDir` and mints a token into `tokenFile`. */
export async function bootstrapAndToken(
  caDir: string,
  url: string,
  fingerprint: string,
  ctxDir: string,
  tokenFile: string,
  names: readonly string[],
  profile = 'server',
): Promise<void> {
  const env = { MUTUAL_CONTEXT_DIR: ctxDir };
  const b = await bootstrapAdmin(url, fingerprint, caDir, env);
  if (b.code !== 0) throw new Error(`bootstrap failed: ${b.stderr}`);
  const t = await mutual(['token', 'create', ...names, '--profile', profile, '--ttl', '10m'], { env });
  if (t.code !== 0) throw new Error(`token create failed: ${t.stderr}`);
  writeFileSync(tokenFile, t.stdout.trim() + '\n', { mode: 0o600 });
}

/** Serial (lowercase hex, no leading zeros) of the certificate at `file`. */
export function serialOf(file: string): string {
  return new X509Certificate(readFileSync(file)).serialNumber.toLowerCase().replace(/^0+/, '');
}

/** True when the key at `keyFile` is the certificate's key. */
export function pairMatches(certFile: string, keyFile: string): boolean {
  const cert = new X509Certificate(readFileSync(certFile));
  return cert.publicKey.equals(createPublicKey(readFileSync(keyFile)));
}
