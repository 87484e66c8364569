/** The network half of the doctor: TCP connect, TLS handshakes (with or without a client certificate), one HTTP request. */
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect, type PeerCertificate, type TLSSocket } from 'node:tls';
import type { Target } from './target.js';

export interface TcpResult {
  readonly ok: boolean;
  readonly code?: string | undefined;
  readonly message?: string | undefined;
  readonly address?: string | undefined;
  /** The IP address that answered (openssl s_client does not fall back from ::1 to 127.0.0.1). */
  readonly ip?: string | undefined;
}

export function tcpConnect(target: Target, timeoutMs: number): Promise<TcpResult> {
  return new Promise((resolve) => {
    const socket = netConnect({ host: target.host, port: target.port });
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ ok: false, code: 'ETIMEDOUT', message: `no answer within ${timeoutMs} ms` });
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      const address = `${socket.remoteAddress ?? target.host}:${socket.remotePort ?? target.port}`;
      socket.destroy();
      resolve({ ok: true, address, ip: socket.remoteAddress });
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve({ ok: false, code: err.code, message: err.message });
    });
  });
}

export interface HttpRequestSpec {
  readonly method: string;
  readonly path: string;
}

export interface HttpHead {
  readonly status: number;
  readonly headers: Record<string, string>;
  /** The body of a short error answer (4xx/5xx with Content-Length up to 4 KiB), when it arrived. */
  readonly body?: string;
}

export interface TlsOutcome {
  /** The handshake completed on this side. */
  readonly secure: boolean;
  readonly protocol: string | undefined;
  readonly cipher: string | undefined;
  readonly group: string | undefined;
  /** The server's chain as presented, leaf first (DER). */
  readonly chain: Buffer[];
  /** A handshake error, or an alert / close that came after the handshake completed here. */
  readonly error: unknown;
  readonly errorAfterHandshake: boolean;
  /** The server sent a session ticket (TLS 1.3: it finished its checks of the client). */
  readonly ticket: boolean;
  readonly response: HttpHead | undefined;
}

function chainOf(socket: TLSSocket): Buffer[] {
  const out: Buffer[] = [];
  const seen = new Set<string>();
  // An empty object when the server sent no certificate: `raw` is then absent whatever the type says.
  let cert: Partial<PeerCertificate> = socket.getPeerCertificate(true);
  while (cert.raw !== undefined) {
    const key = cert.raw.toString('base64');
    if (seen.has(key)) break;
    seen.add(key);
    out.push(cert.raw);
    const next: PeerCertificate | undefined = (cert as PeerCertificate & { issuerCertificate?: PeerCertificate })
      .issuerCertificate;
    if (next === undefined || next === cert) break;
    cert = next;
  }
  return out;
}

function parseHead(text: string): HttpHead | undefined {
  const end = text.indexOf('\r\n\r\n');
  if (end < 0) return undefined;
  const [statusLine = '', ...lines] = text.slice(0, end).split('\r\n');
  const m = /^HTTP\/\d(?:\.\d)? (\d{3})/.exec(statusLine);
  if (!m) return undefined;
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const i = line.indexOf(':');
    if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  return { status: Number(m[1]), headers };
}

/**
 * One TLS connection. Without `request`, it waits after the handshake for the server's verdict on the
 * client: a session ticket (TLS 1.3 servers send it once they accept), an alert, a close, or `settleMs`.
 * With `request`, it sends one HTTP/1.1 request and reads the response head.
 */
export function tlsExchange(
  target: Target,
  opts: {
    cert?: string | undefined;
    key?: string | undefined;
    timeoutMs: number;
    settleMs?: number;
    request?: HttpRequestSpec | undefined;
  },
): Promise<TlsOutcome> {
  return new Promise((resolve) => {
    let secure = false;
    let protocol: string | undefined;
    let cipher: string | undefined;
    let group: string | undefined;
    let chain: Buffer[] = [];
    let ticket = false;
    let received = '';
    let done = false;
    let settle: NodeJS.Timeout | undefined;
    const socket = tlsConnect({
      host: target.host,
      port: target.port,
      ...(target.servername !== undefined ? { servername: target.servername } : {}),
      rejectUnauthorized: false,
      ...(opts.cert !== undefined ? { cert: opts.cert } : {}),
      ...(opts.key !== undefined ? { key: opts.key } : {}),
    });
    const finish = (error: unknown, response?: HttpHead): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (settle) clearTimeout(settle);
      socket.destroy();
      resolve({
        secure,
        protocol,
        cipher,
        group,
        chain,
        error,
        errorAfterHandshake: secure && error !== undefined,
        ticket,
        response,
      });
    };
    const timer = setTimeout(() => {
      finish(
        secure && opts.request === undefined ? undefined : Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' }),
      );
    }, opts.timeoutMs);
    socket.once('secureConnect', () => {
      secure = true;
      protocol = socket.getProtocol() ?? undefined;
      cipher = socket.getCipher().standardName;
      const eph = socket.getEphemeralKeyInfo();
      group = eph && 'name' in eph && typeof eph.name === 'string' ? eph.name : undefined;
      chain = chainOf(socket);
      if (opts.request) {
        const host = target.url?.host ?? `${target.host}:${target.port}`;
        socket.write(
          `${opts.request.method} ${opts.request.path} HTTP/1.1\r\nHost: ${host}\r\nUser-Agent: mutual-doctor\r\nAccept: */*\r\nConnection: close\r\n\r\n`,
        );
      } else {
        settle = setTimeout(() => {
          finish(undefined);
        }, opts.settleMs ?? 1500);
      }
    });
    socket.on('session', () => {
      ticket = true;
      if (!opts.request && settle) {
        // The server finished its checks; give a closing gateway a moment to say so.
        clearTimeout(settle);
        settle = setTimeout(() => {
          finish(undefined);
        }, 250);
      }
    });
    let head: HttpHead | undefined;
    socket.on('data', (d: Buffer) => {
      if (!opts.request) return;
      received += d.toString('latin1');
      head ??= parseHead(received);
      if (!head) {
        if (received.length > 64 * 1024) finish(new Error('response head larger than 64 KiB'));
        return;
      }
      // A short error answer is read whole: its code says what refused (a mutual gateway's JSON error).
      const length = Number(head.headers['content-length'] ?? Number.NaN);
      if (head.status < 400 || !Number.isInteger(length) || length > 4096) {
        finish(undefined, head);
        return;
      }
      const start = received.indexOf('\r\n\r\n') + 4;
      if (received.length - start >= length)
        finish(undefined, { ...head, body: received.slice(start, start + length) });
    });
    socket.once('error', (err) => {
      finish(err);
    });
    socket.once('close', () => {
      if (head) finish(undefined, head);
      else finish(Object.assign(new Error('the server closed the connection'), { code: 'ECONNRESET' }));
    });
  });
}
