import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, watch } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { removeAfterFile } from './temp-dirs.js';

export const BIN = fileURLToPath(new URL('../dist/bin.js', import.meta.url));

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the built `mutual` command as a user would. */
export function mutual(
  args: readonly string[],
  opts: { cwd?: string; env?: Record<string, string> } = {},
): Promise<RunResult> {
  return run(process.execPath, [BIN, ...args], opts);
}

/** `mutual ca bootstrap` as the CA's first admin (the admin certificate `ca init` wrote into `caDir`). */
export function bootstrapAdmin(
  url: string,
  fingerprint: string,
  caDir: string,
  env: Record<string, string>,
): Promise<RunResult> {
  const admin = (file: string): string => path.join(caDir, 'admin', file);
  return mutual(
    [
      'ca',
      'bootstrap',
      '--ca-url',
      url,
      '--fingerprint',
      fingerprint,
      '--cert',
      admin('admin.crt'),
      '--key',
      admin('admin.key'),
    ],
    { env },
  );
}

export function run(
  cmd: string,
  args: readonly string[],
  opts: { cwd?: string; env?: Record<string, string>; input?: string } = {},
): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = execFile(
      cmd,
      args,
      { cwd: opts.cwd, env: { ...process.env, ...opts.env }, maxBuffer: 16 * 1024 * 1024, encoding: 'utf8' },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1;
        resolve({ code, stdout, stderr });
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
    else child.stdin?.end();
  });
}

/** `openssl ocsp` asking the CA at `caUrl` about `cert` (issued by `issuer`), the answer checked against `caFile`. */
export function opensslOcsp(o: { issuer: string; cert: string; caUrl: string; caFile: string }): Promise<RunResult> {
  return run('openssl', [
    'ocsp',
    '-issuer',
    o.issuer,
    '-cert',
    o.cert,
    '-url',
    `${o.caUrl}/v1/ocsp`,
    '-CAfile',
    o.caFile,
  ]);
}

/** A fresh directory under the system's temporary directory, removed when the test file has finished. */
export function tempDir(prefix = 'mutual-e2e-'): string {
  return removeAfterFile(mkdtempSync(path.join(tmpdir(), prefix)));
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => {
        resolve(port);
      });
    });
  });
}

/** Starts a process and resolves once a line of its stdout matches; never sleeps. */
export function startUntil(
  cmd: string,
  args: readonly string[],
  ready: RegExp,
  opts: { cwd?: string; env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<{ child: ChildProcess; match: RegExpMatchArray; output: () => string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: opts.cwd,
      env: { ...process.env, ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`timed out waiting for ${String(ready)}; stdout: ${out}; stderr: ${err}`));
    }, opts.timeoutMs ?? 20_000);
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      const m = out.match(ready);
      if (m) {
        clearTimeout(timer);
        resolve({ child, match: m, output: () => out + err });
      }
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      err += d;
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`exited with ${String(code)} before ready; stdout: ${out}; stderr: ${err}`));
    });
  });
}

export function waitExit(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) resolve(child.exitCode);
    else
      child.once('exit', (code) => {
        resolve(code);
      });
  });
}

/** Resolves once `file` contains `text` (watching the file, never sleeping); rejects after `timeoutMs`. */
export function waitForFileContaining(file: string, text: string, timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const check = (): boolean => {
      try {
        const content = readFileSync(file, 'utf8');
        if (content.includes(text)) {
          resolve(content);
          return true;
        }
      } catch {
        // not there yet
      }
      return false;
    };
    if (check()) return;
    const watcher = watch(path.dirname(file), () => {
      if (check()) done();
    });
    const timer = setTimeout(() => {
      done();
      reject(new Error(`${file} did not come to contain ${text}`));
    }, timeoutMs);
    const done = (): void => {
      clearTimeout(timer);
      watcher.close();
    };
  });
}
