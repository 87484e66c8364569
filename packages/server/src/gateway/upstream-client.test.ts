/**
 * The gateway's upstream client against real TCP upstreams on 127.0.0.1 that answer with exact bytes:
 * every framing of RFC 9112 §6.3, malformed answers refused before anything reaches a client,
 * connections reused only after an unambiguous end, stale keep-alive connections retried once.
 */
import { once } from 'node:events';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import {
  exchange,
  UpstreamPool,
  type ResponseHead,
  type UpstreamFailure,
  type UpstreamRequest,
} from './upstream-client.js';

interface Raw {
  readonly server: Server;
  readonly port: number;
  /** Every connection accepted, in order. */
  readonly sockets: Socket[];
  /** Bytes received per connection. */
  readonly received: string[];
}

const servers: Server[] = [];
const pools: UpstreamPool[] = [];

afterEach(() => {
  for (const p of pools.splice(0)) p.destroy();
  for (const s of servers.splice(0)) s.close();
});

/**
 * An upstream that calls `answer` each time a whole request head (and its Content-Length or chunked
 * body) has arrived on a connection, with the connection and that request's bytes.
 */
async function rawUpstream(answer: (socket: Socket, request: string, index: number) => void): Promise<Raw> {
  const sockets: Socket[] = [];
  const received: string[] = [];
  let index = 0;
  const server = createServer((socket) => {
    const n = sockets.push(socket) - 1;
    received[n] = '';
    let pending = '';
    socket.on('error', () => undefined);
    socket.on('data', (d: Buffer) => {
      received[n] = `${received[n] ?? ''}${d.toString('latin1')}`;
      pending += d.toString('latin1');
      for (;;) {
        const end = pending.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = pending.slice(0, end);
        let total = end + 4;
        const cl = /\r\ncontent-length: *(\d+)/i.exec(head);
        if (/\r\ntransfer-encoding: *chunked/i.test(head)) {
          const last = pending.indexOf('\r\n0\r\n\r\n', end);
          if (last < 0) return;
          total = last + 7;
        } else if (cl) {
          total += Number(cl[1]);
          if (pending.length < total) return;
        }
        const request = pending.slice(0, total);
        pending = pending.slice(total);
        answer(socket, request, index++);
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  servers.push(server);
  return { server, port: (server.address() as AddressInfo).port, sockets, received };
}

function pool(
  port: number,
  extra: Partial<{ maxSockets: number; idleTimeout: number; responseTimeout: number }> = {},
): UpstreamPool {
  const p = new UpstreamPool({
    host: '127.0.0.1',
    port,
    maxSockets: extra.maxSockets ?? 8,
    idleTimeout: extra.idleTimeout ?? 30_000,
    connectTimeout: 5_000,
    responseTimeout: extra.responseTimeout ?? 30_000,
  });
  pools.push(p);
  return p;
}

interface Result {
  head?: ResponseHead;
  body: string;
  error?: UpstreamFailure;
  afterHead?: boolean;
}

function send(
  p: UpstreamPool,
  req: Partial<UpstreamRequest> = {},
  body?: PassThrough,
  opts: { pauseEvery?: boolean } = {},
): Promise<Result> {
  return new Promise((resolve) => {
    const out: Result = { body: '' };
    const ex = exchange(p, { method: 'GET', target: '/', headers: { host: 'app' }, body: 'none', ...req }, body, {
      onHead(h) {
        out.head = h;
      },
      onBody(chunk) {
        out.body += chunk.toString('latin1');
        if (opts.pauseEvery) {
          setImmediate(() => {
            ex.resume();
          });
          return false;
        }
        return true;
      },
      onEnd() {
        resolve(out);
      },
      onError(err, afterHead) {
        out.error = err;
        out.afterHead = afterHead;
        resolve(out);
      },
    });
  });
}

/** Resolves once the pool holds `n` idle connections (a released connection is put back after onEnd). */
async function idle(p: UpstreamPool, n: number): Promise<void> {
  while (p.idleCount !== n) await new Promise((r) => setImmediate(r));
}

describe('upstream client: framing', () => {
  it('reads a Content-Length body and reuses the connection for the next request', async () => {
    const up = await rawUpstream((s) => s.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: 1\r\n\r\nhello'));
    const p = pool(up.port);
    const a = await send(p);
    expect(a).toMatchObject({ head: { status: 200, statusMessage: 'OK' }, body: 'hello' });
    expect(a.head?.rawHeaders).toEqual(['Content-Length', '5', 'X-A', '1']);
    await idle(p, 1);
    const b = await send(p, { target: '/two?x=1' });
    expect(b.body).toBe('hello');
    expect(up.sockets).toHaveLength(1);
    expect(up.received[0]).toContain('GET /two?x=1 HTTP/1.1\r\nhost: app\r\n\r\n');
  });

  it('decodes chunked bodies split at every awkward boundary, with extensions and trailers, and reuses', async () => {
    const wire =
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n' +
      '5;name=value\r\nhello\r\n1\r\n \r\nA\r\n0123456789\r\n0\r\nX-Trailer: t\r\n\r\n';
    const up = await rawUpstream((s) => {
      // One byte per write, each flushed alone: every state of the parser sees a partial line.
      let i = 0;
      const next = (): void => {
        if (i < wire.length) s.write(wire[i++] as string, next);
      };
      next();
    });
    const p = pool(up.port);
    const r = await send(p);
    expect(r.body).toBe('hello 0123456789');
    expect(r.head?.rawHeaders).toEqual(['Transfer-Encoding', 'chunked']);
    await idle(p, 1);
    expect((await send(p)).body).toBe('hello 0123456789');
    expect(up.sockets).toHaveLength(1);
  });

  it('reads a body without length until the upstream closes, and never reuses that connection', async () => {
    const up = await rawUpstream((s) => {
      s.end('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end');
    });
    const p = pool(up.port);
    expect((await send(p)).body).toBe('until the end');
    expect((await send(p)).body).toBe('until the end');
    expect(up.sockets).toHaveLength(2);
  });

  it('reads no body for HEAD, 204 and 304, and drops a 204 Content-Length', async () => {
    const up = await rawUpstream((s, req) => {
      if (req.startsWith('HEAD')) s.write('HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n');
      else if (req.includes('/204')) s.write('HTTP/1.1 204 No Content\r\nContent-Length: 7\r\n\r\n');
      else s.write('HTTP/1.1 304 Not Modified\r\nETag: "x"\r\n\r\n');
    });
    const p = pool(up.port, { maxSockets: 1 });
    const head = await send(p, { method: 'HEAD' });
    expect(head).toMatchObject({ head: { status: 200, rawHeaders: ['Content-Length', '1000'] }, body: '' });
    const none = await send(p, { target: '/204' });
    expect(none).toMatchObject({ head: { status: 204, rawHeaders: [] }, body: '' });
    expect((await send(p, { target: '/304' })).head?.status).toBe(304);
    expect(up.sockets).toHaveLength(1);
  });

  it('consumes 100 Continue and 103 Early Hints before the final answer', async () => {
    const up = await rawUpstream((s) => {
      s.write('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n');
      s.write('HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok');
    });
    const r = await send(pool(up.port));
    expect(r).toMatchObject({ head: { status: 201 }, body: 'ok' });
  });

  it('uses chunked when Transfer-Encoding and Content-Length both come, hides the length and closes after', async () => {
    const up = await rawUpstream((s) =>
      s.write('HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n0\r\n\r\n'),
    );
    const p = pool(up.port);
    const r = await send(p);
    expect(r.body).toBe('abcd');
    expect(r.head?.rawHeaders).toEqual(['Transfer-Encoding', 'chunked']);
    await send(p);
    expect(up.sockets).toHaveLength(2);
  });

  it('does not reuse a connection after Connection: close, an HTTP/1.0 answer, or bytes past the end', async () => {
    const answers = [
      'HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\na',
      'HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nb',
      'HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\ncEXTRA',
      'HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\nd',
      'HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\ne',
    ];
    const up = await rawUpstream((s, _req, i) => s.write(answers[i] as string));
    const p = pool(up.port, { maxSockets: 1 });
    let body = '';
    for (let i = 0; i < answers.length; i++) body += (await send(p)).body;
    expect(body).toBe('abcde');
    // a, b and c each ended their connection; d's HTTP/1.0 keep-alive connection carried e.
    expect(up.sockets).toHaveLength(4);
  });

  it('streams a large body with backpressure, whole', async () => {
    const big = 'x'.repeat(3 * 1024 * 1024);
    const up = await rawUpstream((s) => s.write(`HTTP/1.1 200 OK\r\nContent-Length: ${big.length}\r\n\r\n${big}`));
    const p = pool(up.port);
    const r = await send(p, {}, undefined, { pauseEvery: true });
    expect(r.body.length).toBe(big.length);
    expect(r.body === big).toBe(true);
    // The connection ended its exchange paused by the reader; the next exchange on it still reads.
    await idle(p, 1);
    expect((await send(p)).body.length).toBe(big.length);
    expect(up.sockets).toHaveLength(1);
  });
});

describe('upstream client: malformed answers are refused before a client sees them', () => {
  const cases: [string, string, string][] = [
    ['a status line that is not HTTP/1.x', 'HTTP/2 200 OK\r\nContent-Length: 0\r\n\r\n', 'bad-status-line'],
    ['a two-digit status', 'HTTP/1.1 20 OK\r\n\r\n', 'bad-status-line'],
    [
      'an obs-fold continuation line',
      'HTTP/1.1 200 OK\r\nX-A: 1\r\n folded\r\nContent-Length: 0\r\n\r\n',
      'bad-header',
    ],
    ['space before the colon', 'HTTP/1.1 200 OK\r\nContent-Length : 0\r\n\r\n', 'bad-header'],
    ['a bare LF inside a header', 'HTTP/1.1 200 OK\r\nX-A: 1\nX-B: 2\r\nContent-Length: 0\r\n\r\n', 'bad-header'],
    ['a NUL in a value', 'HTTP/1.1 200 OK\r\nX-A: a\x00b\r\nContent-Length: 0\r\n\r\n', 'bad-header'],
    [
      'two different Content-Lengths',
      'HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab',
      'bad-content-length',
    ],
    ['a list of different lengths', 'HTTP/1.1 200 OK\r\nContent-Length: 1, 2\r\n\r\nab', 'bad-content-length'],
    ['a signed Content-Length', 'HTTP/1.1 200 OK\r\nContent-Length: +1\r\n\r\na', 'bad-content-length'],
    ['chunked not last', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n', 'bad-transfer-encoding'],
    ['chunked twice', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n', 'bad-transfer-encoding'],
    ['101 never asked for', 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n', 'unexpected-101'],
  ];
  for (const [what, wire, code] of cases) {
    it(`refuses ${what}`, async () => {
      const up = await rawUpstream((s) => s.write(wire));
      const r = await send(pool(up.port));
      expect(r.head).toBeUndefined();
      expect(r.error).toMatchObject({ kind: 'bad-response', code });
      expect(r.afterHead).toBe(false);
    });
  }

  it('fails cleanly, not with a thrown error, when the receiver refuses the head', async () => {
    const up = await rawUpstream((s) => s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'));
    const r = await new Promise<{ err: UpstreamFailure; afterHead: boolean }>((resolve) => {
      exchange(pool(up.port), { method: 'GET', target: '/', headers: {}, body: 'none' }, undefined, {
        onHead() {
          throw new TypeError('Invalid character in header content');
        },
        onBody: () => true,
        onEnd: () => undefined,
        onError: (err, afterHead) => {
          resolve({ err, afterHead });
        },
      });
    });
    expect(r).toMatchObject({ err: { kind: 'bad-response', code: 'unforwardable-head' }, afterHead: false });
  });

  it('refuses a head larger than 64 KiB', async () => {
    const up = await rawUpstream((s) => s.write(`HTTP/1.1 200 OK\r\nX-Big: ${'a'.repeat(70 * 1024)}\r\n\r\n`));
    const r = await send(pool(up.port));
    expect(r.error).toMatchObject({ kind: 'bad-response', code: 'head-too-large' });
  });

  it('fails after the head on a bad chunk size, so the client connection is cut, not completed', async () => {
    const up = await rawUpstream((s) =>
      s.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\nzz\r\n'),
    );
    const r = await send(pool(up.port));
    expect(r.head?.status).toBe(200);
    expect(r.body).toBe('ok');
    expect(r).toMatchObject({ error: { kind: 'bad-response', code: 'bad-chunk' }, afterHead: true });
  });

  it('fails after the head when the upstream closes before the announced length', async () => {
    const up = await rawUpstream((s) => s.end('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc'));
    const r = await send(pool(up.port));
    expect(r).toMatchObject({ body: 'abc', error: { kind: 'closed' }, afterHead: true });
  });
});

describe('upstream client: requests', () => {
  it('re-frames a streamed body as chunks and sends a length body as is', async () => {
    const up = await rawUpstream((s) => s.write('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'));
    const p = pool(up.port, { maxSockets: 1 });
    const chunked = new PassThrough();
    const pending = send(
      p,
      { method: 'POST', headers: { host: 'app', 'transfer-encoding': 'chunked' }, body: 'chunked' },
      chunked,
    );
    chunked.write('abc');
    chunked.write('');
    chunked.end('0123456789abcdef');
    expect((await pending).head?.status).toBe(200);
    expect(up.received[0]).toBe(
      'POST / HTTP/1.1\r\nhost: app\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\n\r\n',
    );
    const fixed = new PassThrough();
    const second = send(p, { method: 'PUT', headers: { host: 'app', 'content-length': '4' }, body: 'length' }, fixed);
    fixed.end('data');
    expect((await second).head?.status).toBe(200);
    expect(up.received[0]).toContain('PUT / HTTP/1.1\r\nhost: app\r\ncontent-length: 4\r\n\r\ndata');
    expect(up.sockets).toHaveLength(1);
  });

  it('sends Content-Length: 0 for a POST without body, adds Host when missing, and repeats list values', async () => {
    const up = await rawUpstream((s) => s.write('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'));
    await send(pool(up.port), { method: 'POST', headers: { accept: ['a', 'b'] } });
    expect(up.received[0]).toBe(
      `POST / HTTP/1.1\r\naccept: a\r\naccept: b\r\nhost: 127.0.0.1:${up.port}\r\ncontent-length: 0\r\n\r\n`,
    );
  });

  it('refuses to send a header value or target that would split the request', async () => {
    const up = await rawUpstream((s) => s.write('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'));
    const p = pool(up.port);
    expect((await send(p, { headers: { 'x-a': 'v\r\nx-injected: 1' } })).error).toMatchObject({
      code: 'bad-header-value',
    });
    expect((await send(p, { target: '/a b' })).error).toMatchObject({ code: 'bad-target' });
    expect((await send(p, { headers: { 'bad name': 'v' } })).error).toMatchObject({ code: 'bad-header-name' });
    expect(up.sockets).toHaveLength(0);
  });

  it('retries an idempotent request once on a new connection when a kept one was closed by the upstream', async () => {
    // The upstream answers the first request, then drops the kept connection when the second arrives on it.
    const up = await rawUpstream((s, _req, i) => {
      if (i === 1) s.destroy();
      else s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    });
    const p = pool(up.port);
    expect((await send(p)).body).toBe('ok');
    await idle(p, 1);
    expect((await send(p)).body).toBe('ok');
    expect(up.sockets).toHaveLength(2);
  });

  it('does not resend a request with a body when the kept connection closes before answering', async () => {
    let answered = 0;
    const up = await rawUpstream((s) => {
      if (answered++ === 0) s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
      else s.destroy();
    });
    const p = pool(up.port);
    await send(p);
    await idle(p, 1);
    const body = new PassThrough();
    const pending = send(p, { method: 'POST', headers: { 'content-length': '1' }, body: 'length' }, body);
    body.end('x');
    const r = await pending;
    expect(r.error?.kind).toBe('error');
    expect(r.afterHead).toBe(false);
    expect(up.sockets).toHaveLength(1);
  });

  it('keeps at most maxSockets connections and serves waiting exchanges in turn', async () => {
    const held: Socket[] = [];
    let answering = false;
    const answer = (s: Socket): void => {
      s.write('HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nz');
    };
    const up = await rawUpstream((s) => {
      if (answering) answer(s);
      else held.push(s);
    });
    const p = pool(up.port, { maxSockets: 2 });
    const all = [send(p), send(p), send(p), send(p)];
    while (held.length < 2) await new Promise((r) => setImmediate(r));
    expect(up.sockets).toHaveLength(2);
    // From now on answer as requests arrive: the waiting two go out on the same two connections.
    answering = true;
    for (const s of held.splice(0)) answer(s);
    const results = await Promise.all(all);
    expect(results.map((r) => r.body).join('')).toBe('zzzz');
    expect(up.sockets).toHaveLength(2);
  });

  it('reports a refused connection with its code', async () => {
    const up = await rawUpstream(() => undefined);
    const port = up.port;
    up.server.close();
    await once(up.server, 'close');
    const r = await send(pool(port));
    expect(r.error).toMatchObject({ kind: 'error', code: 'ECONNREFUSED' });
  });

  it('a retired pool (upstream replaced by a reload) still serves but keeps no connection; a destroyed one refuses', async () => {
    const up = await rawUpstream((s) => s.write('HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nr'));
    const p = pool(up.port);
    await send(p);
    await idle(p, 1);
    p.close();
    await once(up.sockets[0] as Socket, 'close');
    expect((await send(p)).body).toBe('r');
    while (p.size !== 0) await new Promise((r) => setImmediate(r));
    expect(up.sockets).toHaveLength(2);
    p.destroy();
    expect((await send(p)).error).toMatchObject({ code: 'pool-closed' });
    expect(up.sockets).toHaveLength(2);
  });

  it('gives up on a head that does not come within responseTimeout, and never reuses that connection', async () => {
    const held: Socket[] = [];
    const up = await rawUpstream((s, _req, i) => {
      if (i === 0) held.push(s);
      else s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    });
    const p = pool(up.port, { responseTimeout: 40 });
    const started = performance.now();
    const r = await send(p);
    const waited = performance.now() - started;
    expect(r).toMatchObject({ error: { kind: 'response-timeout' }, afterHead: false });
    // Checked every eighth of the timeout (at least 10 ms): never early, late by at most one sweep.
    expect(waited).toBeGreaterThanOrEqual(39);
    await once(held[0] as Socket, 'close');
    expect((await send(p)).body).toBe('ok');
    expect(up.sockets).toHaveLength(2);
  });

  it('times out every unanswered exchange of a pool, and none that was answered in time', async () => {
    const up = await rawUpstream((s, req) => {
      if (req.includes('/answered')) s.write('HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na');
    });
    const p = pool(up.port, { responseTimeout: 60 });
    const results = await Promise.all([
      send(p, { target: '/silent-1' }),
      send(p, { target: '/answered' }),
      send(p, { target: '/silent-2' }),
    ]);
    expect(results.map((r) => r.error?.kind ?? r.body)).toEqual(['response-timeout', 'a', 'response-timeout']);
  });

  it('closes idle connections after idleTimeout', async () => {
    const up = await rawUpstream((s) => s.write('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'));
    const p = pool(up.port, { idleTimeout: 20 });
    await send(p);
    await once(up.sockets[0] as Socket, 'close');
    while (p.size !== 0) await new Promise((r) => setImmediate(r));
    expect(up.sockets).toHaveLength(1);
  });
});
