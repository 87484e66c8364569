// Test support for the online CA: a CA made by `initCa` in a temp dir, served on 127.0.0.1:0 with
// an injectable clock, and real clients (node:https with client certificates, curl, openssl).
import { spawn, spawnSync } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { initCa, startCaServer, type CaServer, type InitCaResult } from '../../../src/index.js';

/**
 * A clock tests move by hand: never sleep, set the time. It starts at the real time because the
 * TLS clients (node:https, curl, openssl) check the server certificate against the real clock.
 */
export class TestClock {
  #ms: number;
  constructor(start: Date = new Date()) {
    this.#ms = start.getTime();
  }
  now(): Date {
    return new Date(this.#ms);
  }
  advance(ms: number): void {
    this.#ms += ms;
  }
  set(date: Date): void {
    this.#ms = date.getTime();
  }
}

export interface TestCa {
  readonly dir: string;
  readonly init: InitCaResult;
  readonly clock: TestClock;
  server: CaServer;
  /** PEM files: root.crt, admin cert/key. */
  readonly files: { root: string; adminCert: string; adminKey: string };
  restart(): Promise<void>;
  close(): Promise<void>;
  /** Every audit record, oldest first (read straight from the SQLite file). */
  audit(): { seq: number; actor: string; action: string; subject: string; details: Record<string, unknown> }[];
  work(name: string): string;
}

export interface TestCaOptions {
  /** Appended to ca.yaml (a `server:` section). */
  readonly serverYaml?: string;
  /** Appended to ca.yaml as is (top-level sections such as `alerts:`). */
  readonly yaml?: string;
  readonly clock?: TestClock;
  /** First backoff between alert webhook attempts. */
  readonly alertRetryBaseMs?: number;
}

const dirs: string[] = [];
export function cleanupDirs(): void {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

export async function startTestCa(options: TestCaOptions = {}): Promise<TestCa> {
  const base = mkdtempSync(path.join(tmpdir(), 'mutual-ca-server-'));
  dirs.push(base);
  const dir = path.join(base, 'ca');
  const clock = options.clock ?? new TestClock();
  // The CA itself is made at real time minus a day so that OpenSSL (real clock) accepts its certificates.
  const init = await initCa({
    dir,
    name: 'Test',
    keyType: 'p256',
    passphrase: { mode: 'generate' },
    trustDomain: 'example.test',
    allowDns: ['localhost', '**.internal', '**.test'],
    env: {},
    now: new Date(clock.now().getTime() - 3_600_000),
  });
  if (options.serverYaml !== undefined) appendFileSync(path.join(dir, 'ca.yaml'), `server:\n${options.serverYaml}`);
  if (options.yaml !== undefined) appendFileSync(path.join(dir, 'ca.yaml'), `\n${options.yaml}`);
  const start = (port = 0): Promise<CaServer> =>
    startCaServer({
      dir,
      env: {},
      clock,
      listen: { host: '127.0.0.1', port },
      ...(options.alertRetryBaseMs === undefined ? {} : { alertRetryBaseMs: options.alertRetryBaseMs }),
    });
  const ca: TestCa = {
    dir,
    init,
    clock,
    server: await start(),
    files: { root: init.rootFile, adminCert: init.adminCertFile, adminKey: init.adminKeyFile },
    async restart() {
      const port = ca.server.port;
      await ca.server.close();
      ca.server = await start(port); // same URL, so tokens keep their audience
    },
    close: () => ca.server.close(),
    audit() {
      const db = new Database(path.join(dir, 'mutual.db'), { readonly: true });
      try {
        const rows = db
          .prepare('select seq, actor, action, subject, details_json from audit_log order by seq')
          .all() as {
          seq: number;
          actor: string;
          action: string;
          subject: string;
          details_json: string;
        }[];
        return rows.map((r) => ({
          seq: r.seq,
          actor: r.actor,
          action: r.action,
          subject: r.subject,
          details: JSON.parse(r.details_json) as Record<string, unknown>,
        }));
      } finally {
        db.close();
      }
    },
    work: (name) => path.join(base, name),
  };
  return ca;
}

export interface Reply {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Buffer;
  json<T = Record<string, unknown>>(): T; // eslint-disable-line @typescript-eslint/no-unnecessary-type-parameters
}

export interface RequestOptions {
  readonly method?: string;
  readonly path: string;
  readonly body?: unknown;
  readonly rawBody?: Buffer | string;
  readonly contentType?: string;
  readonly headers?: Record<string, string>;
  /** Client certificate chain and key (PEM). */
  readonly cert?: string;
  readonly key?: string;
  /** Another base URL than the CA's own (one instance of several). */
  readonly base?: string;
}

/** An HTTPS request with node:https, trusting only the CA's root, optionally with a client certificate. */
export function call(ca: TestCa, o: RequestOptions): Promise<Reply> {
  const url = new URL(o.path, o.base ?? ca.server.url);
  const payload =
    o.rawBody !== undefined
      ? Buffer.from(o.rawBody)
      : o.body === undefined
        ? undefined
        : Buffer.from(JSON.stringify(o.body));
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      url,
      {
        method: o.method ?? (payload === undefined ? 'GET' : 'POST'),
        ca: ca.server.rootPem,
        agent: false,
        ...(o.cert === undefined ? {} : { cert: o.cert }),
        ...(o.key === undefined ? {} : { key: o.key }),
        headers: {
          ...(payload === undefined ? {} : { 'content-type': o.contentType ?? 'application/json' }),
          ...(o.headers ?? {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const body = Buffer.concat(chunks);
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body,
            json: <T>() => JSON.parse(body.toString('utf8')) as T, // eslint-disable-line @typescript-eslint/no-unnecessary-type-parameters
          });
        });
      },
    );
    req.on('error', reject);
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}

export const admin = (ca: TestCa): { cert: string; key: string } => ({
  cert: readFileSync(ca.files.adminCert, 'utf8'),
  key: readFileSync(ca.files.adminKey, 'utf8'),
});

/**
 * Runs a client that talks to the in-process server (curl, openssl ocsp): asynchronously, so the
 * server's event loop keeps answering.
 */
export function runAsync(cmd: string, args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => {
      resolve({ status: code ?? -1, stdout, stderr });
    });
  });
}

/** Runs a local tool that does not talk to the server (openssl req/verify/x509). */
export function run(cmd: string, args: string[], input?: string): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', ...(input === undefined ? {} : { input }), timeout: 30_000 });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** A new P-256 key and a CSR for `sans` (openssl syntax, e.g. `DNS:a.internal,URI:spiffe://…`), made by openssl req. */
export function opensslCsr(
  ca: TestCa,
  name: string,
  sans: string | undefined,
  extra: string[] = [],
): { csr: string; key: string; keyFile: string; csrFile: string } {
  const keyFile = ca.work(`${name}.key`);
  const csrFile = ca.work(`${name}.csr`);
  const args = ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', keyFile];
  args.push('-out', csrFile, '-subj', `/CN=${name}`);
  if (sans !== undefined) args.push('-addext', `subjectAltName=${sans}`);
  args.push(...extra);
  const r = run('openssl', args);
  if (r.status !== 0) throw new Error(`openssl req failed: ${r.stderr}`);
  return { csr: readFileSync(csrFile, 'utf8'), key: readFileSync(keyFile, 'utf8'), keyFile, csrFile };
}

/** A CSR for an existing key (PEM file). */
export function opensslCsrForKey(ca: TestCa, name: string, keyFile: string, sans: string): string {
  const csrFile = ca.work(`${name}.csr`);
  const r = run('openssl', [
    'req',
    '-new',
    '-key',
    keyFile,
    '-out',
    csrFile,
    '-subj',
    `/CN=${name}`,
    '-addext',
    `subjectAltName=${sans}`,
  ]);
  if (r.status !== 0) throw new Error(`openssl req failed: ${r.stderr}`);
  return readFileSync(csrFile, 'utf8');
}

export async function mintToken(
  ca: TestCa,
  names: { dns?: string[]; ip?: string[]; uri?: string[]; email?: string[] },
  profile: 'server' | 'client' | 'both' = 'client',
  ttl?: string,
): Promise<string> {
  const r = await call(ca, {
    path: '/v1/tokens',
    body: { names, profile, ...(ttl === undefined ? {} : { ttl }) },
    ...admin(ca),
  });
  if (r.status !== 201) throw new Error(`token mint failed: ${r.status} ${r.body.toString()}`);
  return r.json<{ token: string }>().token;
}

/** Enrolls with a fresh token: returns the certificate chain, key and serial. */
export async function enroll(
  ca: TestCa,
  name: string,
  sans: string,
  names: { dns?: string[]; ip?: string[]; uri?: string[]; email?: string[] },
  profile: 'server' | 'client' | 'both' = 'client',
): Promise<{ serial: string; chain: string; key: string; keyFile: string; certFile: string }> {
  const token = await mintToken(ca, names, profile);
  const { csr, key, keyFile } = opensslCsr(ca, name, sans);
  const r = await call(ca, { path: '/v1/sign', body: { token, csr } });
  if (r.status !== 201) throw new Error(`sign failed: ${r.status} ${r.body.toString()}`);
  const body = r.json<{ serial: string; chain: string[] }>();
  const chain = body.chain.join('\n');
  const certFile = ca.work(`${name}.crt`);
  writeFileSync(certFile, chain);
  return { serial: body.serial, chain, key, keyFile, certFile };
}

export const errorCode = (r: Reply): string => r.json<{ error: { code: string } }>().error.code;

export interface SseEvent {
  readonly id: string;
  readonly event: string;
  readonly data: string;
}

/** A server-sent-events client over node:https: `next()` resolves with the next event (no polling, no sleeping). */
export function subscribe(
  ca: TestCa,
  path: string,
  headers: Record<string, string> = {},
  base?: string,
): Promise<{ next(): Promise<SseEvent>; live: Promise<void>; close(): void; status: number }> {
  return new Promise((resolve, reject) => {
    const queue: SseEvent[] = [];
    const waiters: ((e: SseEvent) => void)[] = [];
    let markLive: () => void = () => undefined;
    const live = new Promise<void>((r) => {
      markLive = r;
    });
    const req = httpsRequest(new URL(path, base ?? ca.server.url), {
      ca: ca.server.rootPem,
      agent: false,
      headers: { accept: 'text/event-stream', ...headers },
    });
    req.on('response', (res) => {
      let buffer = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buffer += chunk;
        let cut: number;
        while ((cut = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          if (block === ': live') markLive();
          const fields: Record<string, string> = {};
          for (const line of block.split('\n')) {
            const m = /^(id|event|data): ?(.*)$/.exec(line);
            if (m?.[1] !== undefined) fields[m[1]] = m[2] ?? '';
          }
          if (fields['data'] === undefined) continue;
          const event = { id: fields['id'] ?? '', event: fields['event'] ?? 'message', data: fields['data'] };
          const waiter = waiters.shift();
          if (waiter) waiter(event);
          else queue.push(event);
        }
      });
      resolve({
        status: res.statusCode ?? 0,
        live,
        next: () => {
          const queued = queue.shift();
          return queued ? Promise.resolve(queued) : new Promise((r) => waiters.push(r));
        },
        close: () => {
          req.destroy();
        },
      });
    });
    req.on('error', reject);
    req.end();
  });
}
