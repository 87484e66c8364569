/**
 * Forwarding to HTTP/1.1 upstreams over keep-alive pools (node:http agents): bodies stream both
 * ways with backpressure, framing is re-made by the gateway (never copied from the client), and
 * upstream failures become 502/504 before the response starts, or a closed connection after.
 */
import {
  Agent,
  request as httpRequest,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  type ServerResponse,
} from 'node:http';
import type { Duplex } from 'node:stream';
import { pipeline } from 'node:stream';
import type { GatewayUpstreamConfig } from '../config/index.js';
import { clientResponseHeaders } from './headers.js';

export interface Upstream {
  readonly name: string;
  readonly config: GatewayUpstreamConfig;
  readonly host: string;
  readonly port: number;
  readonly agent: Agent;
}

export function createUpstream(name: string, config: GatewayUpstreamConfig): Upstream {
  const url = new URL(config.url);
  return {
    name,
    config,
    host: url.hostname.replace(/^\[|\]$/g, ''),
    port: url.port === '' ? 80 : Number(url.port),
    agent: new Agent({
      keepAlive: true,
      maxSockets: config.maxSockets,
      maxFreeSockets: Math.min(config.maxSockets, 64),
      timeout: config.idleTimeout,
      scheduling: 'lifo',
    }),
  };
}

export type ForwardOutcome =
  | { readonly ok: true; readonly status: number }
  | {
      readonly ok: false;
      /** 499: the client went away first (nothing is sent; audited as nginx does). */
      readonly status: 499 | 502 | 504;
      readonly reason: string;
      readonly started: boolean;
    };

/** Streams one request to the upstream and its response back. `done` is called once. */
export function forwardRequest(
  upstream: Upstream,
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
  headers: OutgoingHttpHeaders,
  done: (outcome: ForwardOutcome) => void,
): void {
  let finished = false;
  const finish = (o: ForwardOutcome): void => {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    done(o);
  };
  const preq = httpRequest({
    host: upstream.host,
    port: upstream.port,
    method: req.method ?? 'GET',
    path,
    headers,
    agent: upstream.agent,
  });
  const timeoutMs = upstream.config.responseTimeout;
  const timer = setTimeout(() => {
    preq.destroy(new Error('upstream response timeout'));
    finish({ ok: false, status: 504, reason: 'upstream-timeout', started: res.headersSent });
  }, timeoutMs);
  preq.on('socket', (socket) => {
    if (!socket.connecting) return;
    const connectTimer = setTimeout(() => {
      preq.destroy(new Error('upstream connect timeout'));
      finish({ ok: false, status: 504, reason: 'upstream-connect-timeout', started: false });
    }, upstream.config.connectTimeout);
    socket.once('connect', () => {
      clearTimeout(connectTimer);
    });
    socket.once('close', () => {
      clearTimeout(connectTimer);
    });
  });
  preq.on('response', (pres) => {
    clearTimeout(timer);
    const status = pres.statusCode ?? 502;
    res.writeHead(status, pres.statusMessage, clientResponseHeaders(pres.rawHeaders));
    // pipe rather than stream.pipeline: pipeline makes an AbortController per call and aborts it when
    // done (a DOMException per request), measurable on every keep-alive request.
    const aborted = (): void => {
      res.destroy();
      finish({ ok: false, status: 502, reason: 'upstream-aborted', started: true });
    };
    pres.on('error', aborted);
    pres.on('close', () => {
      if (!pres.complete) aborted();
    });
    res.on('finish', () => {
      finish({ ok: true, status });
    });
    pres.pipe(res);
  });
  preq.on('error', (err: NodeJS.ErrnoException) => {
    if (finished) return;
    if (res.headersSent) {
      res.destroy();
      finish({ ok: false, status: 502, reason: 'upstream-aborted', started: true });
      return;
    }
    finish({ ok: false, status: 502, reason: `upstream-error:${err.code ?? 'unknown'}`, started: false });
  });
  // Client gone before the response ended: stop the upstream exchange too.
  res.on('close', () => {
    if (res.writableFinished) return;
    finish({ ok: false, status: 499, reason: 'client-closed', started: true });
    preq.destroy();
  });
  const hasBody = req.headers['transfer-encoding'] !== undefined || (req.headers['content-length'] ?? '0') !== '0';
  if (hasBody) {
    pipeline(req, preq, (err) => {
      if (err) preq.destroy(err);
    });
  } else {
    preq.end();
    req.resume();
  }
}

/** Raw HTTP/1.1 response head for a socket that left the HTTP server (upgrade path). */
export function rawHead(status: number, message: string, rawHeaders: readonly string[]): string {
  let head = `HTTP/1.1 ${status} ${message}\r\n`;
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) head += `${rawHeaders[i] ?? ''}: ${rawHeaders[i + 1] ?? ''}\r\n`;
  return `${head}\r\n`;
}

/** Forwards a WebSocket (or other) upgrade and splices the two sockets once the upstream agrees. */
export function forwardUpgrade(
  upstream: Upstream,
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  path: string,
  headers: OutgoingHttpHeaders,
  done: (outcome: ForwardOutcome) => void,
): void {
  let finished = false;
  const finish = (o: ForwardOutcome): void => {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    done(o);
  };
  const preq = httpRequest({
    host: upstream.host,
    port: upstream.port,
    method: req.method ?? 'GET',
    path,
    headers,
    agent: false,
  });
  const timer = setTimeout(() => {
    preq.destroy(new Error('upstream response timeout'));
    finish({ ok: false, status: 504, reason: 'upstream-timeout', started: false });
  }, upstream.config.responseTimeout);
  preq.on('upgrade', (pres, psocket, phead) => {
    socket.write(rawHead(pres.statusCode ?? 101, pres.statusMessage ?? 'Switching Protocols', pres.rawHeaders));
    if (phead.length > 0) socket.write(phead);
    if (head.length > 0) psocket.write(head);
    const close = (): void => {
      socket.destroy();
      psocket.destroy();
    };
    psocket.on('error', close);
    socket.on('error', close);
    psocket.on('close', close);
    socket.on('close', close);
    psocket.pipe(socket);
    socket.pipe(psocket);
    finish({ ok: true, status: pres.statusCode ?? 101 });
  });
  preq.on('response', (pres) => {
    // The upstream declined the upgrade: relay its answer and close.
    const headers = clientResponseHeaders(pres.rawHeaders);
    const raw: string[] = [];
    for (const [k, v] of Object.entries(headers)) {
      for (const one of Array.isArray(v) ? v : [v]) raw.push(k, String(one));
    }
    raw.push('connection', 'close');
    socket.write(rawHead(pres.statusCode ?? 502, pres.statusMessage ?? '', raw));
    pres.pipe(socket);
    finish({ ok: true, status: pres.statusCode ?? 502 });
  });
  preq.on('error', (err: NodeJS.ErrnoException) => {
    finish({ ok: false, status: 502, reason: `upstream-error:${err.code ?? 'unknown'}`, started: false });
  });
  preq.end();
}
