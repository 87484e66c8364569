/**
 * Forwarding to HTTP/1.1 upstreams over the gateway's own keep-alive pools (upstream-client.ts):
 * bodies stream both ways with backpressure, framing is re-made by the gateway (never copied from the
 * client or the upstream), and upstream failures become 502/504 before the response starts, or a
 * closed connection after. WebSocket upgrades use node:http on a connection of their own.
 */
import { request as httpRequest, type OutgoingHttpHeaders } from 'node:http';
import type { Duplex } from 'node:stream';
import type { GatewayUpstreamConfig } from '../config/index.js';
import { clientResponseHeaders } from './headers.js';
import type { Http1Request, Http1Response } from './http1.js';
import { exchange, UpstreamPool } from './upstream-client.js';

export interface Upstream {
  readonly name: string;
  readonly config: GatewayUpstreamConfig;
  readonly host: string;
  readonly port: number;
  readonly pool: UpstreamPool;
}

export function createUpstream(name: string, config: GatewayUpstreamConfig): Upstream {
  const url = new URL(config.url);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const port = url.port === '' ? 80 : Number(url.port);
  return {
    name,
    config,
    host,
    port,
    pool: new UpstreamPool({
      host,
      port,
      maxSockets: config.maxSockets,
      idleTimeout: config.idleTimeout,
      connectTimeout: config.connectTimeout,
      responseTimeout: config.responseTimeout,
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
  req: Http1Request,
  res: Http1Response,
  path: string,
  headers: OutgoingHttpHeaders,
  done: (outcome: ForwardOutcome) => void,
): void {
  let finished = false;
  let status = 502;
  const finish = (o: ForwardOutcome): void => {
    if (finished) return;
    finished = true;
    done(o);
  };
  const ex = exchange(upstream.pool, { method: req.method, target: path, headers, body: req.body }, req.source, {
    onHead(head) {
      status = head.status;
      res.writeHead(head.status, head.statusMessage, clientResponseHeaders(head.rawHeaders));
    },
    onBody(chunk) {
      if (res.write(chunk)) return true;
      res.onDrain(() => {
        ex.resume();
      });
      return false;
    },
    onEnd() {
      res.end();
      finish({ ok: true, status });
    },
    onError(err, afterHead) {
      if (afterHead || res.headersSent) {
        // The response started: the client must not take a truncated body for a whole one.
        res.destroy();
        finish({ ok: false, status: 502, reason: 'upstream-aborted', started: true });
      } else if (err.kind === 'response-timeout') {
        finish({ ok: false, status: 504, reason: 'upstream-timeout', started: false });
      } else if (err.kind === 'connect-timeout') {
        finish({ ok: false, status: 504, reason: 'upstream-connect-timeout', started: false });
      } else if (err.kind === 'bad-response') {
        finish({ ok: false, status: 502, reason: `upstream-bad-response:${err.code}`, started: false });
      } else {
        finish({ ok: false, status: 502, reason: `upstream-error:${err.code}`, started: false });
      }
    },
  });
  // Client gone before the response ended: stop the upstream exchange too.
  res.onAbort = () => {
    finish({ ok: false, status: 499, reason: 'client-closed', started: true });
    ex.abort();
  };
  // A client that asked to be told before sending its body is told now: the request is on its way.
  if (req.body !== 'none') res.sendContinue();
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
  req: { readonly method: string },
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
    method: req.method,
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
