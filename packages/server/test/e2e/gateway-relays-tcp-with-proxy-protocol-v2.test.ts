// TCP mode: the gateway verifies the client, authorizes its identity against the listener's allow
// rules and relays bytes to a real TCP echo server, first sending a PROXY protocol v2 header that
// the upstream here parses itself. Refused identities never reach the upstream; every decision is audited.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { once } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { connect, type TLSSocket } from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import type { GatewayAuditRecord, RunningGateway } from '../../src/index.js';
import { startGateway } from '../../src/index.js';
import { BATCH, WEB, gatewayConfig, makePki, writeConfig, type Client, type Pki } from './gateway-harness.js';

interface ProxyHeader {
  readonly family: number;
  readonly source: string;
  readonly sourcePort: number;
  readonly destinationPort: number;
  readonly tlvs: Map<number, Buffer>;
}

const SIGNATURE = Buffer.from('0d0a0d0a000d0a515549540a', 'hex');

/** Parses a PROXY v2 header at the start of `buf`; undefined while incomplete. */
function parseProxyV2(buf: Buffer): { header: ProxyHeader; rest: Buffer } | undefined {
  if (buf.length < 16) return undefined;
  if (!buf.subarray(0, 12).equals(SIGNATURE)) throw new Error('no PROXY v2 signature');
  if (buf[12] !== 0x21) throw new Error('not version 2 PROXY');
  const family = buf[13] ?? 0;
  const len = buf.readUInt16BE(14);
  if (buf.length < 16 + len) return undefined;
  const body = buf.subarray(16, 16 + len);
  if (family !== 0x11) throw new Error(`unexpected family ${family}`);
  const source = [...body.subarray(0, 4)].join('.');
  const sourcePort = body.readUInt16BE(8);
  const destinationPort = body.readUInt16BE(10);
  const tlvs = new Map<number, Buffer>();
  for (let i = 12; i < body.length;) {
    const type = body[i] ?? 0;
    const l = body.readUInt16BE(i + 1);
    tlvs.set(type, body.subarray(i + 3, i + 3 + l));
    i += 3 + l;
  }
  return { header: { family, source, sourcePort, destinationPort, tlvs }, rest: buf.subarray(16 + len) };
}

function subTlvs(ssl: Buffer): Map<number, string> {
  const out = new Map<number, string>();
  for (let i = 5; i < ssl.length;) {
    const l = ssl.readUInt16BE(i + 1);
    out.set(ssl[i] ?? 0, ssl.subarray(i + 3, i + 3 + l).toString('utf8'));
    i += 3 + l;
  }
  return out;
}

/** A TCP echo server that expects (and records) a PROXY v2 header, or none. */
async function startEcho(expectHeader: boolean) {
  const headers: ProxyHeader[] = [];
  let connections = 0;
  const server: Server = createServer((socket: Socket) => {
    connections++;
    let buf = Buffer.alloc(0);
    let parsed = !expectHeader;
    socket.on('data', (chunk: Buffer) => {
      if (parsed) {
        socket.write(chunk);
        return;
      }
      buf = Buffer.concat([buf, chunk]);
      const r = parseProxyV2(buf);
      if (!r) return;
      parsed = true;
      headers.push(r.header);
      if (r.rest.length > 0) socket.write(r.rest);
    });
    socket.on('error', () => undefined);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    headers,
    connections: () => connections,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
      }),
  };
}

async function startTcpGateway(pki: Pki, upstreamPort: number, proxyProtocol: 'off' | 'v2') {
  const base = gatewayConfig(pki, 'http://127.0.0.1:1', { routes: [] });
  const listeners = base.listeners as Record<string, unknown>[];
  const l = listeners[0] as Record<string, unknown>;
  delete l.routes;
  Object.assign(l, {
    mode: 'tcp',
    allow: [{ spiffeId: WEB }],
    upstream: `127.0.0.1:${upstreamPort}`,
    proxyProtocol,
  });
  const gw: RunningGateway = await startGateway({
    configFile: writeConfig(pki, { ...base, upstreams: {} }),
    env: {},
    sighup: false,
    log: () => undefined,
  });
  const audits: GatewayAuditRecord[] = [];
  gw.gateway.events.on('audit', (r: GatewayAuditRecord) => audits.push(r));
  const audit = (pred: (r: GatewayAuditRecord) => boolean): Promise<GatewayAuditRecord> => {
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
  };
  return { gw, port: gw.listeners[0]?.port ?? 0, audit };
}

function tlsTo(port: number, pki: Pki, client: Client): Promise<TLSSocket> {
  const socket = connect({
    host: '127.0.0.1',
    port,
    servername: 'localhost',
    ca: pki.ca.root.pem,
    cert: client.chainPem,
    key: client.keyPem,
  });
  socket.on('error', () => undefined);
  return once(socket, 'secureConnect').then(() => socket);
}

async function roundTrip(socket: TLSSocket, text: string): Promise<string> {
  let got = '';
  socket.setEncoding('utf8');
  const done = new Promise<void>((resolve) => {
    socket.on('data', (c: string) => {
      got += c;
      if (got.length >= text.length) resolve();
    });
  });
  socket.write(text);
  await done;
  return got;
}

describe('gateway: tcp mode', () => {
  const cleanup: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });

  it('relays an allowed identity’s bytes after a PROXY v2 header carrying its address and verified identity', async () => {
    const pki = makePki();
    const echo = await startEcho(true);
    cleanup.push(() => echo.close());
    const g = await startTcpGateway(pki, echo.port, 'v2');
    cleanup.push(() => g.gw.close());
    const web = pki.client('web', {
      profile: 'client',
      names: { uri: [WEB], dns: ['web-1.internal'] },
      subject: { commonName: 'web-1.internal' },
    });
    const socket = await tlsTo(g.port, pki, web);
    expect(await roundTrip(socket, 'ping over mTLS')).toBe('ping over mTLS');
    const header = echo.headers[0];
    expect(header).toBeDefined();
    if (!header) return;
    expect(header.source).toBe('127.0.0.1');
    expect(header.sourcePort).toBe(socket.localPort);
    expect(header.destinationPort).toBe(g.port);
    const ssl = header.tlvs.get(0x20);
    expect(ssl).toBeDefined();
    if (!ssl) return;
    expect(ssl[0]).toBe(0x03); // PP2_CLIENT_SSL | PP2_CLIENT_CERT_CONN
    expect(ssl.readUInt32BE(1)).toBe(0); // verified
    const sub = subTlvs(ssl);
    expect(sub.get(0x21)).toBe(socket.getProtocol());
    expect(header.tlvs.get(0xe0)?.toString('utf8')).toBe(WEB);
    expect(sub.get(0x22)).toBe('web-1.internal');
    expect(sub.get(0x23)).toBe(socket.getCipher().standardName);
    expect(header.tlvs.get(0xe2)?.toString('hex')).toBe(createHash('sha256').update(web.cert.der).digest('hex'));
    const rec = await g.audit((a) => a.type === 'connection' && a.decision === 'allow');
    expect(rec.identity).toBe(WEB);
    socket.destroy();
  });

  it('keeps a half-closed connection open: the client ends its side and still gets the answer', async () => {
    const pki = makePki();
    // An upstream that answers only after the client's end of the stream (as `wc -c` over a socket would).
    let upstreamSawEnd = false;
    const counter = createServer({ allowHalfOpen: true }, (socket: Socket) => {
      let n = 0;
      socket.on('data', (c: Buffer) => (n += c.length));
      socket.on('end', () => {
        upstreamSawEnd = true;
        socket.end(`${n} bytes\n`);
      });
      socket.on('error', () => undefined);
    });
    counter.listen(0, '127.0.0.1');
    await once(counter, 'listening');
    cleanup.push(
      () =>
        new Promise<void>((resolve) =>
          counter.close(() => {
            resolve();
          }),
        ),
    );
    const g = await startTcpGateway(pki, (counter.address() as AddressInfo).port, 'off');
    cleanup.push(() => g.gw.close());
    const web = pki.client('web', { profile: 'client', names: { uri: [WEB] } });
    const socket = connect({
      host: '127.0.0.1',
      port: g.port,
      servername: 'localhost',
      ca: pki.ca.root.pem,
      cert: web.chainPem,
      key: web.keyPem,
    });
    socket.on('error', () => undefined);
    await once(socket, 'secureConnect');
    let got = '';
    socket.setEncoding('utf8');
    socket.on('data', (c: string) => (got += c));
    const ended = once(socket, 'end');
    socket.end('twelve bytes');
    await ended;
    expect(upstreamSawEnd).toBe(true);
    expect(got).toBe('12 bytes\n');
    socket.destroy();
  });

  it('refused identities never reach the upstream, and the refusal is audited', async () => {
    const pki = makePki();
    const echo = await startEcho(false);
    cleanup.push(() => echo.close());
    const g = await startTcpGateway(pki, echo.port, 'off');
    cleanup.push(() => g.gw.close());
    const batch = pki.client('batch', { profile: 'client', names: { uri: [BATCH] } });
    const socket = await tlsTo(g.port, pki, batch);
    const closed = once(socket, 'close');
    socket.write('should not arrive');
    const rec = await g.audit((a) => a.type === 'connection');
    expect(rec).toMatchObject({ decision: 'deny', identity: BATCH, reason: 'identity-not-allowed' });
    await closed;
    expect(echo.connections()).toBe(0);

    const web = pki.client('web', { profile: 'client', names: { uri: [WEB] } });
    const ok = await tlsTo(g.port, pki, web);
    expect(await roundTrip(ok, 'plain relay')).toBe('plain relay');
    expect(echo.connections()).toBe(1);
    ok.destroy();
  });
  it('openssl s_client with an allowed certificate gets its bytes echoed through the relay', async () => {
    const pki = makePki();
    const echo = await startEcho(false);
    cleanup.push(() => echo.close());
    const g = await startTcpGateway(pki, echo.port, 'off');
    cleanup.push(() => g.gw.close());
    const web = pki.client('web', { profile: 'client', names: { uri: [WEB] } });
    const chainFile = path.join(pki.dir, 'intermediate.pem');
    writeFileSync(chainFile, pki.ca.intermediate.pem);
    const child = spawn(
      'openssl',
      [
        's_client',
        '-quiet',
        '-connect',
        `127.0.0.1:${g.port}`,
        '-servername',
        'localhost',
        '-CAfile',
        pki.trustFile,
        '-verify_return_error',
        '-cert',
        web.certFile,
        '-key',
        web.keyFile,
        '-cert_chain',
        chainFile,
      ],
      { stdio: ['pipe', 'pipe', 'pipe'] },
    );
    cleanup.push(async () => {
      if (child.exitCode === null) {
        const exited = once(child, 'exit');
        child.kill();
        await exited;
      }
    });
    let out = '';
    let err = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    const echoed = new Promise<void>((resolve, reject) => {
      child.stdout.setEncoding('utf8').on('data', (d: string) => {
        out += d;
        if (out.includes('hello from openssl')) resolve();
      });
      child.once('exit', (code) => {
        reject(new Error(`openssl exited ${String(code)} before the echo: ${err}`));
      });
    });
    child.stdin.write('hello from openssl\n');
    await echoed;
    expect((await g.audit((a) => a.type === 'connection')).decision).toBe('allow');
  });
});
