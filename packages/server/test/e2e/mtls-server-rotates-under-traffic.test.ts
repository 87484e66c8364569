// createMtlsServer / mtlsAgent / mtlsFetch from the SDK with credentials from a real CA: both
// sides rotate under continuous keep-alive and new-connection traffic with zero failed requests,
// and authorizers admit and refuse — with curl and openssl s_client as independent judges.
import { writeFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { request as httpsRequest, type Agent } from 'node:https';
import type { AddressInfo } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  authorizeID,
  authorizeMemberOf,
  createCredentials,
  createMtlsServer,
  mtlsAgent,
  mtlsFetch,
  type Credentials,
  type MtlsDecision,
  type MutualError,
} from '@mutual/sdk';
import { cleanupDirs, mintToken, runAsync, startTestCa, type TestCa } from './support/ca-server.js';

const API = 'spiffe://example.test/api';
const WEB = 'spiffe://example.test/web';
const OTHER = 'spiffe://example.test/other';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
afterAll(cleanupDirs);

async function newCa(): Promise<TestCa> {
  const ca = await startTestCa();
  cleanups.push(() => ca.close());
  return ca;
}

async function creds(ca: TestCa, id: string, profile: 'client' | 'server' | 'both' = 'both'): Promise<Credentials> {
  const c = createCredentials({
    ca: { url: ca.server.url, root: ca.server.rootPem },
    token: await mintToken(ca, { uri: [id] }, profile),
    lifetime: '1h',
  });
  cleanups.push(() => {
    c.stop();
  });
  await c.ready();
  return c;
}

interface Listening {
  listen(port: number, host: string, cb: () => void): unknown;
  address(): unknown;
  close(cb?: () => void): unknown;
  closeAllConnections?: () => void;
}

async function listen(server: Listening): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
        server.closeAllConnections?.();
      }),
  );
  return (server.address() as AddressInfo).port;
}

interface Seen {
  readonly ok: boolean;
  readonly status: number;
  readonly serverSerial: string;
  readonly socket: object | undefined;
  readonly body: string;
}

function get(port: number, agent: Agent): Promise<Seen> {
  return new Promise((resolve) => {
    const req = httpsRequest({ host: '127.0.0.1', port, path: '/', agent }, (res: IncomingMessage) => {
      const socket: object = res.socket;
      const serverSerial = (socket as { getPeerCertificate(): { serialNumber: string } })
        .getPeerCertificate()
        .serialNumber.toLowerCase()
        .replace(/^0+/, '');
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => {
        resolve({ ok: res.statusCode === 200, status: res.statusCode ?? 0, serverSerial, socket, body });
      });
    });
    req.on('error', (err) => {
      resolve({ ok: false, status: 0, serverSerial: '', socket: undefined, body: err.message });
    });
    req.end();
  });
}

describe('sdk mTLS server and clients', () => {
  it('rotate both certificates under keep-alive and new-connection traffic with zero failed requests', async () => {
    const ca = await newCa();
    const server = await creds(ca, API);
    const client = await creds(ca, WEB);
    const decisions: MtlsDecision[] = [];
    const https = createMtlsServer(server, {
      authorize: authorizeID(WEB),
      onDecision: (d) => decisions.push(d),
      handler: (_req, res, peer) => {
        res.end(JSON.stringify({ client: peer.identity.spiffeId, clientSerial: peer.identity.serialHex }));
      },
    });
    const port = await listen(https);
    const keepAlive = mtlsAgent(client, { authorize: authorizeID(API) });
    const fresh = mtlsAgent(client, { authorize: authorizeID(API), agent: { keepAlive: false } });
    cleanups.push(() => {
      keepAlive.destroy();
      fresh.destroy();
    });

    const before = { server: server.current().serial, client: client.current().serial };
    const results: { kind: string; phase: 'before' | 'after'; seen: Seen }[] = [];
    let phase: 'before' | 'after' = 'before';
    let stop = false;
    const loop = async (kind: string, agent: Agent): Promise<void> => {
      let afterCount = 0;
      while (!stop || afterCount < 5) {
        const p = phase;
        const seen = await get(port, agent);
        results.push({ kind, phase: p, seen });
        if (p === 'after') afterCount++;
      }
    };
    const loops = [loop('keep-alive', keepAlive), loop('new-connection', fresh)];
    // Let traffic flow, then rotate both sides while it does.
    while (results.filter((r) => r.kind === 'keep-alive').length < 3) await get(port, fresh);
    const [s2, c2] = await Promise.all([server.renewNow(), client.renewNow()]);
    phase = 'after';
    stop = true;
    await Promise.all(loops);

    const failed = results.filter((r) => !r.seen.ok);
    expect(failed.map((f) => f.seen.body)).toEqual([]);
    expect(s2.serial).not.toBe(before.server);
    expect(c2.serial).not.toBe(before.client);
    // New connections after the rotation see the new server certificate and present the new client one.
    const freshAfter = results.filter((r) => r.kind === 'new-connection' && r.phase === 'after');
    expect(freshAfter.length).toBeGreaterThanOrEqual(5);
    const lastFresh = freshAfter.at(-1)?.seen;
    expect(lastFresh?.serverSerial).toBe(s2.serial);
    expect(JSON.parse(lastFresh?.body ?? '{}')).toEqual({ client: WEB, clientSerial: c2.serial });
    // The keep-alive connection was never dropped: one socket, still on the old certificates.
    const kaSockets = new Set(results.filter((r) => r.kind === 'keep-alive').map((r) => r.seen.socket));
    expect(kaSockets.size).toBe(1);
    const lastKa = results.filter((r) => r.kind === 'keep-alive').at(-1)?.seen;
    expect(lastKa?.serverSerial).toBe(before.server);
    expect(JSON.parse(lastKa?.body ?? '{}')).toMatchObject({ clientSerial: before.client });
    expect(decisions.every((d) => d.decision === 'allow' && d.identity === WEB)).toBe(true);
  });

  it('authorizers decide: curl with another identity gets 403, without a certificate no handshake; the client refuses a wrong server', async () => {
    const ca = await newCa();
    const server = await creds(ca, API);
    const web = await creds(ca, WEB, 'client');
    const other = await creds(ca, OTHER, 'client');
    const decisions: MtlsDecision[] = [];
    let handled = 0;
    const https = createMtlsServer(server, {
      authorize: authorizeID(WEB),
      onDecision: (d) => decisions.push(d),
      handler: (_req, res) => {
        handled++;
        res.end('hello');
      },
    });
    const port = await listen(https);
    const files = (name: string, c: Credentials): string[] => {
      const cert = ca.work(`${name}.crt`);
      const key = ca.work(`${name}.key`);
      writeFileSync(cert, c.current().chainPem);
      writeFileSync(key, c.current().keyPem, { mode: 0o600 });
      return ['--cert', cert, '--key', key];
    };
    const curl = (extra: string[]): Promise<{ status: number; stdout: string; stderr: string }> =>
      runAsync('curl', [
        '-sS',
        // The server is named by a SPIFFE ID, not a host name, so curl skips its server check (-k):
        // curl judges what the server decides about the client certificate it presents.
        '-k',
        '-w',
        '\n%{http_code}',
        ...extra,
        `https://127.0.0.1:${port}/`,
      ]);
    const ok = await curl(files('web', web));
    expect(ok.stdout.trim().split('\n')).toEqual(['hello', '200']);
    const denied = await curl(files('other', other));
    expect(denied.stdout).toContain('ERR_MTLS_PEER_REFUSED');
    expect(denied.stdout.trim().split('\n').at(-1)).toBe('403');
    const anonymous = await curl([]);
    expect(anonymous.status).not.toBe(0);
    expect(handled).toBe(1);
    expect(decisions.map((d) => [d.decision, d.identity ?? d.reason.split(':')[0]])).toEqual([
      ['allow', WEB],
      ['deny', OTHER],
      ['deny', 'TLS_HANDSHAKE_FAILED'],
    ]);
    expect(decisions[1]?.reason).toBe(`UNAUTHORIZED: ${OTHER} is not ${WEB}`);

    // The client side: a server that is not the expected identity is refused before any request byte.
    const refused = await mtlsFetch(
      `https://127.0.0.1:${port}/`,
      {},
      {
        credentials: web,
        authorize: authorizeID('spiffe://example.test/not-api'),
      },
    ).then(
      () => undefined,
      (e: unknown) => e as MutualError,
    );
    expect(refused?.code).toBe('ERR_MTLS_PEER_REFUSED');
    expect(handled).toBe(1);
    const res = await mtlsFetch(
      `https://127.0.0.1:${port}/`,
      {},
      { credentials: web, authorize: authorizeMemberOf('example.test') },
    );
    expect([res.status, await res.text()]).toEqual([200, 'hello']);
    // Without an authorizer the host name decides, as with plain https: 127.0.0.1 is not in the certificate.
    const byHost = await mtlsFetch(`https://127.0.0.1:${port}/`, {}, { credentials: web }).then(
      () => undefined,
      (e: unknown) => e as MutualError,
    );
    expect(byHost?.code).toBe('ERR_MTLS_PEER_REFUSED');
  });

  it('a TLS server closes a denied peer after the handshake; openssl s_client sees the connection end', async () => {
    const ca = await newCa();
    const server = await creds(ca, API);
    const other = await creds(ca, OTHER, 'client');
    const web = await creds(ca, WEB, 'client');
    const tls = createMtlsServer(server, {
      authorize: authorizeID(WEB),
      onConnection: (socket, peer) => {
        socket.end(`hi ${peer.identity.spiffeId ?? ''}\n`);
      },
    });
    const port = await listen(tls);
    const cert = ca.work('other.crt');
    const key = ca.work('other.key');
    writeFileSync(cert, other.current().chainPem);
    writeFileSync(key, other.current().keyPem, { mode: 0o600 });
    const r = await runAsync('sh', [
      '-c',
      `printf 'x\\n' | openssl s_client -connect 127.0.0.1:${port} -CAfile ${ca.files.root} -cert ${cert} -key ${key} -verify_return_error -ign_eof 2>&1`,
    ]);
    expect(r.stdout).toContain('Verify return code: 0 (ok)');
    expect(r.stdout).not.toContain('hi ');
    // The admitted identity gets the greeting.
    const greeting = await new Promise<string>((resolve, reject) => {
      const s = tlsConnect({
        host: '127.0.0.1',
        port,
        ca: ca.server.rootPem,
        cert: web.current().chainPem,
        key: web.current().keyPem,
        checkServerIdentity: () => undefined,
      });
      let text = '';
      s.setEncoding('utf8');
      s.on('data', (c: string) => (text += c));
      s.on('end', () => {
        resolve(text);
      });
      s.on('error', reject);
    });
    expect(greeting).toBe(`hi ${WEB}\n`);
  });
});
