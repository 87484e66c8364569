/**
 * Test harness of the gateway e2e tests: a test PKI written to files, a real upstream (node:http,
 * echoes method, path and headers; accepts WebSocket-style upgrades), a gateway started from a
 * gateway.yaml through the composition root, and an mTLS client. Nothing is mocked.
 */
import { execFile } from 'node:child_process';
import { randomBytes, type KeyObject } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { request as httpsRequest, type Agent } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { TLSSocket, connect } from 'node:tls';
import { exportPrivateKeyPem, generateKeyPair } from '@mutual/sdk';
import { stringify } from 'yaml';
import type { GatewayAuditRecord, GatewayReloadResult, RunningGateway } from '../../src/index.js';
import { startGateway } from '../../src/index.js';
import { createTestCa, type TestCa, type TestCertificate } from '../../src/pki/test-support.js';
import { computeValidity, generateSerial, issueCertificate } from '../../src/pki/index.js';

export const TD = 'example.org';
export const WEB = `spiffe://${TD}/ns/prod/sa/web`;
export const BATCH = `spiffe://${TD}/ns/prod/sa/batch`;

export interface Client {
  readonly cert: TestCertificate;
  readonly certFile: string;
  readonly keyFile: string;
  /** Leaf + intermediate PEM. */
  readonly chainPem: string;
  readonly keyPem: string;
}

export interface Pki {
  readonly ca: TestCa;
  readonly dir: string;
  readonly trustFile: string;
  readonly serverCertFile: string;
  readonly serverKeyFile: string;
  client(name: string, opts: Parameters<TestCa['issue']>[0]): Client;
  /** A fresh server certificate written atomically (key first, then certificate). */
  rotateServer(): TestCertificate;
}

export function writeAtomic(file: string, text: string): void {
  const tmp = `${file}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  writeFileSync(tmp, text, { mode: 0o600 });
  renameSync(tmp, file);
}

export function makePki(now = new Date()): Pki {
  const dir = mkdtempSync(path.join(tmpdir(), 'mutual-gw-'));
  const ca = createTestCa({ now });
  const trustFile = path.join(dir, 'trust.pem');
  writeFileSync(trustFile, ca.root.pem + '\n');
  const serverCertFile = path.join(dir, 'server.crt');
  const serverKeyFile = path.join(dir, 'server.key');
  const writeServer = (): TestCertificate => {
    const s = ca.issue({
      profile: 'server',
      names: { dns: ['localhost'], ip: ['127.0.0.1'], uri: [`spiffe://${TD}/gateway`] },
    });
    writeAtomic(serverKeyFile, s.keyPem ?? '');
    writeAtomic(serverCertFile, `${s.pem}\n${ca.intermediate.pem}\n`);
    return s;
  };
  writeServer();
  return {
    ca,
    dir,
    trustFile,
    serverCertFile,
    serverKeyFile,
    rotateServer: writeServer,
    client(name, opts) {
      const cert = ca.issue(opts);
      const certFile = path.join(dir, `${name}.crt`);
      const keyFile = path.join(dir, `${name}.key`);
      const chainPem = `${cert.pem}\n${ca.intermediate.pem}\n`;
      writeFileSync(certFile, chainPem);
      writeFileSync(keyFile, cert.keyPem ?? '', { mode: 0o600 });
      return { cert, certFile, keyFile, chainPem, keyPem: cert.keyPem ?? '' };
    },
  };
}

/** Another intermediate CA under the test root of `pki`, with its own clients. */
export interface Intermediate {
  readonly der: Uint8Array;
  readonly pem: string;
  readonly privateKey: KeyObject;
  /** A client certificate issued by this intermediate (chain: leaf + this intermediate). */
  client(name: string, uri: string): Client;
}

const DAY = 24 * 3_600_000;

/** Issues an intermediate CA `commonName` under the root of `pki` (a sibling of `pki.ca.intermediate`). */
export function makeIntermediate(pki: Pki, commonName: string, now = new Date()): Intermediate {
  const random = (n: number): Uint8Array => new Uint8Array(randomBytes(n));
  const keys = generateKeyPair('p256');
  const validity = computeValidity({ now, lifetimeMs: 365 * DAY });
  const inter = issueCertificate({
    profile: 'intermediate',
    subject: { organization: 'mutual test', commonName },
    names: { dns: [], ip: [], uri: [], email: [] },
    publicKey: keys.publicKey,
    issuer: { certificateDer: pki.ca.root.der, privateKey: pki.ca.root.privateKey },
    serial: generateSerial(random),
    notBefore: validity.notBefore,
    notAfter: validity.notAfter,
    pathLength: 0,
  });
  return {
    der: inter.der,
    pem: inter.pem,
    privateKey: keys.privateKey,
    client(name, uri) {
      const leafKeys = generateKeyPair('p256');
      const v = computeValidity({ now, lifetimeMs: DAY, issuerNotAfter: validity.notAfter });
      const built = issueCertificate({
        profile: 'client',
        subject: {},
        names: { dns: [], ip: [], uri: [uri], email: [] },
        publicKey: leafKeys.publicKey,
        issuer: { certificateDer: inter.der, privateKey: keys.privateKey },
        serial: generateSerial(random),
        notBefore: v.notBefore,
        notAfter: v.notAfter,
      });
      const keyPem = exportPrivateKeyPem(leafKeys.privateKey);
      const cert: TestCertificate = { ...built, ...leafKeys, keyPem };
      const certFile = path.join(pki.dir, `${name}.crt`);
      const keyFile = path.join(pki.dir, `${name}.key`);
      const chainPem = `${built.pem}\n${inter.pem}\n`;
      writeFileSync(certFile, chainPem);
      writeFileSync(keyFile, keyPem, { mode: 0o600 });
      return { cert, certFile, keyFile, chainPem, keyPem };
    },
  };
}

export interface Upstream {
  readonly server: Server;
  readonly url: string;
  readonly requests: { method: string; url: string; headers: IncomingMessage['headers']; body: string }[];
  close(): Promise<void>;
}

/** Echoes `{ method, url, headers, body }` as JSON; answers WebSocket upgrades with 101 and echoes bytes. */
export async function startUpstream(): Promise<Upstream> {
  const requests: Upstream['requests'] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const entry = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      };
      requests.push(entry);
      res.setHeader('content-type', 'application/json');
      res.setHeader('connection', 'keep-alive, x-hop');
      res.setHeader('x-hop', 'must-not-reach-client');
      res.end(JSON.stringify(entry));
    });
  });
  server.on('upgrade', (req: IncomingMessage, socket) => {
    requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: '' });
    socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
    socket.pipe(socket);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    server,
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          resolve();
        });
      }),
  };
}

/**
 * A CA's CRL URL: serves `body` with `etag` (304 when the client already has it), or 503 while
 * `up` is false. Change the fields to publish another CRL; `notModified` counts the 304s.
 */
export interface CrlServer {
  readonly url: string;
  body: string;
  etag: string;
  up: boolean;
  readonly notModified: number;
  close(): Promise<void>;
}

export async function startCrlServer(body: string, etag = '"1"'): Promise<CrlServer> {
  let notModified = 0;
  const crl = { body, etag, up: true };
  const server: Server = createServer((req, res) => {
    if (!crl.up) res.writeHead(503).end();
    else if (req.headers['if-none-match'] === crl.etag) {
      notModified++;
      res.writeHead(304).end();
    } else res.writeHead(200, { etag: crl.etag, 'content-type': 'application/pkix-crl' }).end(crl.body);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/crl`;
  // Accessors, not copies: the test changes what is served and reads the 304 count as it goes.
  return Object.defineProperties(crl, {
    url: { value: url },
    notModified: { get: () => notModified },
    close: {
      value: () =>
        new Promise<void>((resolve) => {
          server.closeAllConnections();
          server.close(() => {
            resolve();
          });
        }),
    },
  }) as typeof crl & Pick<CrlServer, 'url' | 'notModified' | 'close'>;
}

export type ConfigShape = Record<string, unknown>;

/** What an HTTP listener answers when it refuses the client certificate after the handshake. */
export const CERTIFICATE_REFUSED = {
  status: 403,
  body: JSON.stringify({ error: { code: 'ERR_GATEWAY_CERTIFICATE_REFUSED' } }),
} as const;

/** A gateway.yaml with one listener `main` on a free port; `routes` and extras are the test's. */
export function gatewayConfig(pki: Pki, upstreamUrl: string, extra: { routes: unknown[] } & ConfigShape): ConfigShape {
  const { routes, listener, ...rest } = extra as { routes: unknown[]; listener?: ConfigShape } & ConfigShape;
  return {
    version: 1,
    listeners: [
      {
        name: 'main',
        listen: { host: '127.0.0.1', port: 0 },
        tls: { certificate: pki.serverCertFile, key: pki.serverKeyFile },
        clientAuth: { trustBundles: [pki.trustFile], ...((listener?.clientAuth as ConfigShape | undefined) ?? {}) },
        routes,
      },
    ],
    upstreams: { app: { url: upstreamUrl } },
    admin: { listen: { host: '127.0.0.1', port: 0 } },
    audit: { file: path.join(pki.dir, 'audit.jsonl') },
    ...rest,
  };
}

export function writeConfig(pki: Pki, config: ConfigShape, name = 'gateway.yaml'): string {
  const file = path.join(pki.dir, name);
  writeAtomic(file, stringify(config));
  return file;
}

export interface Harness {
  readonly pki: Pki;
  readonly upstream: Upstream;
  readonly gw: RunningGateway;
  readonly port: number;
  readonly configFile: string;
  readonly audits: GatewayAuditRecord[];
  readonly logs: string[];
  /** Resolves with the next audit record matching `pred` (already recorded ones count). */
  audit(pred: (r: GatewayAuditRecord) => boolean): Promise<GatewayAuditRecord>;
  nextReload(): Promise<GatewayReloadResult>;
  close(): Promise<void>;
}

/** What the gateway's `revocation` event says about one source's update. */
export interface RevocationUpdate {
  readonly source: string;
  readonly ok: boolean;
  readonly changed: boolean;
}

/** Resolves at the gateway's next revocation update that matches `pred`. */
export function nextRevocationUpdate(h: Harness, pred: (e: RevocationUpdate) => boolean): Promise<void> {
  return new Promise<void>((resolve) => {
    const on = (e: RevocationUpdate): void => {
      if (pred(e)) {
        h.gw.gateway.events.off('revocation', on);
        resolve();
      }
    };
    h.gw.gateway.events.on('revocation', on);
  });
}

export async function startHarness(
  extra: { routes: unknown[] } & ConfigShape,
  opts: { now?: () => Date; pki?: Pki; sighup?: boolean; configName?: string } = {},
): Promise<Harness> {
  const pki = opts.pki ?? makePki();
  const upstream = await startUpstream();
  const configFile = writeConfig(pki, gatewayConfig(pki, upstream.url, extra), opts.configName);
  const logs: string[] = [];
  const gw = await startGateway({
    configFile,
    env: {},
    sighup: opts.sighup ?? false,
    log: (level, message, fields) => logs.push(`${level} ${message} ${JSON.stringify(fields ?? {})}`),
    ...(opts.now ? { clock: { now: opts.now } } : {}),
  });
  const audits: GatewayAuditRecord[] = [];
  gw.gateway.events.on('audit', (r: GatewayAuditRecord) => audits.push(r));
  return {
    pki,
    upstream,
    gw,
    port: gw.listeners[0]?.port ?? 0,
    configFile,
    audits,
    logs,
    audit: (pred) => {
      const found = audits.find(pred);
      if (found) return Promise.resolve(found);
      return new Promise((resolve) => {
        const on = (r: GatewayAuditRecord): void => {
          if (pred(r)) {
            gw.gateway.events.off('audit', on);
            resolve(r);
          }
        };
        gw.gateway.events.on('audit', on);
      });
    },
    nextReload: () =>
      new Promise((resolve) => {
        gw.gateway.events.once('reload', resolve);
      }),
    close: async () => {
      await gw.close();
      await upstream.close();
    },
  };
}

export interface Response {
  readonly status: number;
  readonly headers: IncomingMessage['headers'];
  readonly body: string;
}

/** One HTTPS request through the gateway with a client certificate (or none). */
export function get(
  h: { port: number; pki: Pki },
  pathAndQuery: string,
  opts: {
    /** The client's chain and key: a harness client, or any certificate with its key (e.g. one from a CA). */
    client?: Pick<Client, 'chainPem' | 'keyPem'>;
    method?: string;
    headers?: Record<string, string>;
    body?: string;
    host?: string;
    agent?: Agent;
    /** Receives the server certificate's SHA-256 (hex) seen on the connection. */
    onServerCert?: (fingerprint: string) => void;
  } = {},
): Promise<Response> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: '127.0.0.1',
        port: h.port,
        path: pathAndQuery,
        method: opts.method ?? 'GET',
        servername: 'localhost',
        ca: h.pki.ca.root.pem,
        agent: opts.agent ?? false,
        headers: { host: opts.host ?? 'localhost', ...opts.headers },
        ...(opts.client ? { cert: opts.client.chainPem, key: opts.client.keyPem } : {}),
      },
      (res) => {
        if (opts.onServerCert && res.socket instanceof TLSSocket) {
          const fp = res.socket.getPeerCertificate().fingerprint256;
          opts.onServerCert(fp.replace(/:/g, '').toLowerCase());
        }
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') });
        });
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** A raw TLS connection to the gateway: write bytes as given, read everything until close. */
export async function raw(h: { port: number; pki: Pki }, client: Client, bytes: string): Promise<string> {
  const socket: TLSSocket = connect({
    host: '127.0.0.1',
    port: h.port,
    servername: 'localhost',
    ca: h.pki.ca.root.pem,
    cert: client.chainPem,
    key: client.keyPem,
  });
  await once(socket, 'secureConnect');
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  socket.write(bytes);
  await new Promise<void>((resolve) => {
    socket.on('close', () => {
      resolve();
    });
    socket.on('end', () => {
      socket.end();
    });
    socket.on('error', () => {
      resolve();
    });
  });
  return Buffer.concat(chunks).toString('latin1');
}

export interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a third-party client (curl, openssl, gnutls-cli) to its end, 20 s at most, `input` on its stdin. */
export function run(cmd: string, args: string[], input = ''): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(
      cmd,
      args,
      { encoding: 'utf8', timeout: 20_000, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : 1, stdout, stderr });
      },
    );
    child.stdin?.end(input);
  });
}

/** curl to the gateway's listener as `localhost` (the test root trusted), with a client certificate or none. */
export function curlVia(
  h: { port: number; pki: Pki },
  client: Client | undefined,
  urlPath: string,
  extra: string[] = [],
): Promise<Run> {
  return run('curl', [
    '-sS',
    '--max-time',
    '10',
    '--cacert',
    h.pki.trustFile,
    '--resolve',
    `localhost:${h.port}:127.0.0.1`,
    ...(client ? ['--cert', client.certFile, '--key', client.keyFile] : []),
    ...extra,
    `https://localhost:${h.port}${urlPath}`,
  ]);
}
