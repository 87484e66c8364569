/**
 * The gateway's HTTP/1.1 request reader over real TCP connections on 127.0.0.1: what it accepts and
 * refuses byte for byte, bodies split at every byte boundary, one request at a time, response
 * framing per client version and method, timeouts driven by an explicit sweep (no sleeping).
 */
import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  Http1Request,
  Http1Server,
  readHead,
  type Http1Limits,
  type Http1Refusal,
  type Http1Response,
  type RequestBody,
} from './http1.js';

const LIMITS: Http1Limits = {
  maxHeaderSize: 4096,
  headersTimeout: 1_000,
  requestTimeout: 5_000,
  keepAliveTimeout: 2_000,
};

interface Seen {
  readonly req: Http1Request;
  readonly res: Http1Response;
}

interface Rig {
  readonly port: number;
  readonly h1: Http1Server;
  readonly seen: Seen[];
  readonly refusals: Http1Refusal[];
  readonly upgrades: { req: Http1Request; socket: Socket; head: Buffer }[];
  /** The server side of each accepted connection, in order. */
  readonly sockets: Socket[];
}

const cleanup: (() => void)[] = [];
afterEach(() => {
  for (const f of cleanup.splice(0)) f();
});

function readAll(src: RequestBody): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    src.on('data', (c: Buffer) => chunks.push(c));
    src.on('end', () => {
      resolve(Buffer.concat(chunks).toString('latin1'));
    });
    src.on('error', reject);
  });
}

/** Answers `200` with `<method> <target> <body>` once the body was read whole. */
function echo(req: Http1Request, res: Http1Response): void {
  const reply = (body: string): void => {
    const text = `${req.method} ${req.target} ${body}`;
    res.writeHead(200, 'OK', { 'content-length': String(Buffer.byteLength(text)) });
    res.end(text);
  };
  if (req.source) void readAll(req.source).then(reply, () => undefined);
  else reply('');
}

async function rig(
  answer: (req: Http1Request, res: Http1Response) => void = echo,
  limits: Partial<Http1Limits> = {},
): Promise<Rig> {
  const seen: Seen[] = [];
  const refusals: Http1Refusal[] = [];
  const upgrades: Rig['upgrades'] = [];
  const sockets: Socket[] = [];
  // The sweep runs only when a test calls it.
  const h1 = new Http1Server(
    { ...LIMITS, ...limits },
    {
      onRequest(req, res) {
        seen.push({ req, res });
        answer(req, res);
      },
      onUpgrade(req, socket, head) {
        upgrades.push({ req, socket, head });
      },
      onRefused(r) {
        refusals.push(r);
      },
    },
    3_600_000,
  );
  const server: Server = createServer({ allowHalfOpen: true }, (socket) => {
    socket.on('error', () => undefined);
    sockets.push(socket);
    h1.serve(socket);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanup.push(() => {
    h1.close();
    for (const s of sockets) s.destroy();
    server.close();
  });
  return { port: (server.address() as AddressInfo).port, h1, seen, refusals, upgrades, sockets };
}

/** A client connection whose received bytes accumulate in `got()`; `closed` resolves when the server closes it. */
async function client(port: number): Promise<{ socket: Socket; got: () => string; closed: Promise<void> }> {
  const socket = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  socket.on('error', () => undefined);
  await once(socket, 'connect');
  let got = '';
  socket.on('data', (d: Buffer) => (got += d.toString('latin1')));
  const closed = new Promise<void>((resolve) => {
    socket.on('close', () => {
      resolve();
    });
    socket.on('end', () => {
      socket.end();
    });
  });
  cleanup.push(() => socket.destroy());
  return { socket, got: () => got, closed };
}

/** Sends `bytes`, ends the client's side and returns everything the server sent until it closed. */
async function talk(port: number, bytes: string | Buffer): Promise<string> {
  const c = await client(port);
  c.socket.end(bytes);
  await c.closed;
  return c.got();
}

/** Feeds bytes to the server side of the connection exactly as split, as if read that way. */
function inject(r: Rig, pieces: readonly (string | Buffer)[]): void {
  const s = r.sockets.at(-1) as Socket;
  for (const p of pieces) s.emit('data', typeof p === 'string' ? Buffer.from(p, 'latin1') : p);
}

async function accepted(r: Rig, n: number): Promise<void> {
  while (r.sockets.length < n) await new Promise((resolve) => setImmediate(resolve));
}

/** Waits until `cond` holds, turning the event loop (never a timer). */
async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((resolve) => setImmediate(resolve));
}

const statuses = (text: string): number[] => [...text.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));

describe('readHead: what a request head may be', () => {
  const ok = (head: string): Http1Request => {
    const r = readHead(head);
    if (!(r instanceof Http1Request)) throw new Error(`refused: ${r.code}`);
    return r;
  };

  it('reads method, target, version, host and keep-alive of a plain HTTP/1.1 request', () => {
    const r = ok('GET /a?b=c HTTP/1.1\r\nHost: example.test');
    expect([r.method, r.target, r.minor, r.host, r.keepAlive, r.body]).toEqual([
      'GET',
      '/a?b=c',
      1,
      'example.test',
      true,
      'none',
    ]);
  });

  it('ignores empty lines before the request line', () => {
    expect(ok('\r\n\r\nGET / HTTP/1.1\r\nHost: a').target).toBe('/');
  });

  it('keeps HTTP/1.0 connections open only when the client asks, and 1.1 ones unless it says close', () => {
    expect(ok('GET / HTTP/1.0').keepAlive).toBe(false);
    expect(ok('GET / HTTP/1.0\r\nConnection: Keep-Alive').keepAlive).toBe(true);
    expect(ok('GET / HTTP/1.1\r\nHost: a\r\nConnection: close').keepAlive).toBe(false);
    expect(ok('GET / HTTP/1.1\r\nHost: a\r\nConnection: x-a\r\nConnection: CLOSE').keepAlive).toBe(false);
  });

  it('keeps header names, order and repeats as sent; trims optional whitespace; joins Connection', () => {
    const r = ok(
      'GET / HTTP/1.1\r\nHost: a\r\nX-A:  one two \t\r\nx-a:2\r\nConnection: X-A\r\nConnection: te\r\nX-L: caf\xe9',
    );
    expect(r.rawHeaders).toEqual([
      'Host',
      'a',
      'X-A',
      'one two',
      'x-a',
      '2',
      'Connection',
      'X-A',
      'Connection',
      'te',
      'X-L',
      'caf\xe9',
    ]);
    expect(r.connection).toBe('x-a, te');
  });

  it('frames bodies: Content-Length, zero length, chunked in any case', () => {
    const cl = ok('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 12');
    expect([cl.body, cl.contentLength]).toEqual(['length', '12']);
    expect(ok('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0').body).toBe('none');
    expect(ok('POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:  Chunked ').body).toBe('chunked');
  });

  it('notes Expect: 100-continue and an Upgrade request', () => {
    expect(ok('POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 1').expectContinue).toBe(true);
    const u = ok('GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket');
    expect([u.upgrade, u.connection]).toEqual(['websocket', 'upgrade']);
  });

  it.each([
    ['two spaces in the request line', 'GET  / HTTP/1.1\r\nHost: a', 'bad-request-line', 400],
    ['a tab for a space', 'GET\t/ HTTP/1.1\r\nHost: a', 'bad-request-line', 400],
    ['no version', 'GET /\r\nHost: a', 'bad-request-line', 400],
    ['lower-case protocol name', 'GET / http/1.1\r\nHost: a', 'bad-request-line', 400],
    ['a control character in the target', 'GET /\x01 HTTP/1.1\r\nHost: a', 'bad-request-line', 400],
    ['a method that is not a token', 'G(T / HTTP/1.1\r\nHost: a', 'bad-request-line', 400],
    ['a lower-case method', 'get / HTTP/1.1\r\nHost: a', 'bad-request-line', 400],
    ['a non-ASCII byte in the target', 'GET /caf\xe9 HTTP/1.1\r\nHost: a', 'bad-request-line', 400],
    ['HTTP/2.0 in an HTTP/1 request line', 'GET / HTTP/2.0\r\nHost: a', 'unsupported-version', 505],
    ['HTTP/1.2', 'GET / HTTP/1.2\r\nHost: a', 'unsupported-version', 505],
    ['CONNECT', 'CONNECT a:443 HTTP/1.1\r\nHost: a:443', 'connect-method', 400],
    ['obs-fold', 'GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n 2', 'obs-fold', 400],
    ['space before the colon', 'GET / HTTP/1.1\r\nHost: a\r\nX-A : 1', 'bad-header', 400],
    ['an empty header name', 'GET / HTTP/1.1\r\nHost: a\r\n: 1', 'bad-header', 400],
    ['a line without a colon', 'GET / HTTP/1.1\r\nHost: a\r\nX-A', 'bad-header', 400],
    ['a separator in the name', 'GET / HTTP/1.1\r\nHost: a\r\nX/A: 1', 'bad-header', 400],
    ['NUL in a value', 'GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\x002', 'bad-header', 400],
    ['a bare CR in a value', 'GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r2', 'bad-header', 400],
    ['a bare LF inside the head', 'GET / HTTP/1.1\r\nHost: a\nX-A: 1', 'bad-header', 400],
    ['no Host in HTTP/1.1', 'GET / HTTP/1.1\r\nX-A: 1', 'missing-host', 400],
    ['two Hosts', 'GET / HTTP/1.1\r\nHost: a\r\nHost: b', 'duplicate-host', 400],
    [
      'CL + TE',
      'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked',
      'ambiguous-framing',
      400,
    ],
    [
      'TE + CL',
      'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 4',
      'ambiguous-framing',
      400,
    ],
    ['TE list', 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked', 'ambiguous-framing', 400],
    [
      'TE chunked then gzip',
      'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip',
      'ambiguous-framing',
      400,
    ],
    ['TE lookalike', 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked', 'ambiguous-framing', 400],
    ['TE with a parameter', 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked;q=1', 'ambiguous-framing', 400],
    [
      'two TE fields',
      'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked',
      'ambiguous-framing',
      400,
    ],
    ['TE from an HTTP/1.0 client', 'POST / HTTP/1.0\r\nTransfer-Encoding: chunked', 'ambiguous-framing', 400],
    [
      'two equal CLs',
      'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nContent-Length: 4',
      'duplicate-content-length',
      400,
    ],
    ['a CL list', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4, 4', 'bad-content-length', 400],
    ['a signed CL', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +4', 'bad-content-length', 400],
    ['a negative CL', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1', 'bad-content-length', 400],
    ['a hex CL', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x4', 'bad-content-length', 400],
    ['a 16-digit CL', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1234567890123456', 'bad-content-length', 400],
    ['an empty CL', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: ', 'bad-content-length', 400],
    ['an unknown expectation', 'GET / HTTP/1.1\r\nHost: a\r\nExpect: something', 'unsupported-expect', 417],
  ])('refuses %s', (_name, head, code, status) => {
    expect(readHead(head)).toEqual({ code, status });
  });

  it('refuses more header fields than the limit with 431', () => {
    const many = Array.from({ length: 201 }, (_, i) => `X-${i}: 1`).join('\r\n');
    expect(readHead(`GET / HTTP/1.1\r\nHost: a\r\n${many}`)).toEqual({ code: 'too-many-headers', status: 431 });
  });
});

describe('Http1Server: one connection, many requests', () => {
  it('answers pipelined requests in order, handing the handler one at a time', async () => {
    let busy = 0;
    let most = 0;
    const r = await rig((req, res) => {
      busy++;
      most = Math.max(most, busy);
      setImmediate(() => {
        busy--;
        echo(req, res);
      });
    });
    const got = await talk(
      r.port,
      'GET /1 HTTP/1.1\r\nHost: a\r\n\r\nPOST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabcGET /3 HTTP/1.1\r\nHost: a\r\n\r\n',
    );
    expect(statuses(got)).toEqual([200, 200, 200]);
    expect(got).toMatch(/GET \/1 [\s\S]*POST \/2 abc[\s\S]*GET \/3 $/);
    expect(most).toBe(1);
  });

  it('reads a Content-Length body split at every byte, and the request after it', async () => {
    const wire =
      'POST /b HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhello worldGET /next HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n';
    for (const split of [1, 2, 7, wire.length]) {
      const r = await rig();
      const c = await client(r.port);
      await accepted(r, 1);
      const pieces: string[] = [];
      for (let i = 0; i < wire.length; i += split) pieces.push(wire.slice(i, i + split));
      inject(r, pieces);
      await c.closed;
      expect(statuses(c.got())).toEqual([200, 200]);
      expect(c.got()).toContain('POST /b hello world');
      expect(c.got()).toContain('GET /next ');
    }
  });

  it('decodes a chunked body (extensions, trailers) split at every byte boundary', async () => {
    const wire =
      'POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n' +
      '5;ext=1\r\nhello\r\n6\r\n world\r\nA\r\n0123456789\r\n0\r\nX-Trailer: t\r\n\r\n';
    for (let cut = 1; cut < wire.length; cut++) {
      const r = await rig();
      const c = await client(r.port);
      await accepted(r, 1);
      inject(r, [wire.slice(0, cut), wire.slice(cut)]);
      await c.closed;
      expect(c.got()).toContain('POST /c hello world0123456789');
    }
  });

  it.each([
    ['a size that is not hex', 'Z\r\n', 'bad-chunk'],
    ['data longer than its size', '5\r\nhelloX\r\n', 'bad-chunk'],
    ['a negative size', '-1\r\n', 'bad-chunk'],
    ['a size of 16 hex digits', '1000000000000000\r\n', 'bad-chunk'],
    ['a size line beyond 4 KiB', `5;${'x'.repeat(5000)}`, 'bad-chunk'],
    ['a bare LF after the size', '5\nhello\r\n', 'bad-chunk'],
    ['whitespace before an extension', '5 ;a\r\nhello\r\n', 'bad-chunk'],
    ['a trailer that is not a field', '0\r\nnot a field\r\n\r\n', 'bad-trailer'],
  ])('refuses a chunked body with %s: 400, the body fails, the connection closes', async (_name, chunks, code) => {
    let failed: Error | undefined;
    const r = await rig((req) => {
      req.source?.on('data', () => undefined);
      req.source?.on('error', (e) => (failed = e));
    });
    const got = await talk(r.port, `POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n${chunks}`);
    expect(statuses(got)).toEqual([400]);
    expect(got).toMatch(/connection: close/);
    expect(r.refusals).toEqual([{ code, status: 400 }]);
    expect(failed).toBeInstanceOf(Error);
  });

  it('ends a body once, whether its reader attached before or after the last byte', async () => {
    let ends = 0;
    const r = await rig((req, res) => {
      if (!req.source) {
        echo(req, res);
        return;
      }
      req.source.on('data', () => undefined);
      req.source.on('end', () => {
        ends++;
        res.writeHead(200, 'OK', { 'content-length': '0' });
        res.end();
      });
    });
    const got = await talk(
      r.port,
      'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\nHost: a\r\n\r\n',
    );
    expect(statuses(got)).toEqual([200, 200]);
    expect(ends).toBe(1);
  });

  it('skips empty lines before a request line, and answers 400 to a head cut off by the client', async () => {
    const r = await rig();
    expect(await talk(r.port, '\r\n\r\nGET /after-empty-lines HTTP/1.1\r\nHost: a\r\n\r\n')).toMatch(
      /GET \/after-empty-lines $/,
    );
    const cut = await talk(r.port, 'GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /cut HTTP/1.1\r\nHo');
    expect(statuses(cut)).toEqual([200, 400]);
    expect(r.refusals).toEqual([{ code: 'incomplete-request', status: 400 }]);
  });

  it('refuses trailers larger than maxHeaderSize', async () => {
    const r = await rig((req) => req.source?.on('data', () => undefined));
    const got = await talk(
      r.port,
      `POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-Big: ${'b'.repeat(5000)}\r\n\r\n`,
    );
    expect(statuses(got)).toEqual([400]);
    expect(r.refusals).toEqual([{ code: 'bad-trailer', status: 400 }]);
  });

  it('refuses framing tricks with 400 and reads nothing after them', async () => {
    const r = await rig();
    const got = await talk(
      r.port,
      'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n',
    );
    expect(statuses(got)).toEqual([400]);
    expect(got).toContain('{"error":{"code":"ERR_GATEWAY_BAD_REQUEST"}}');
    expect(r.seen).toHaveLength(0);
    expect(r.refusals).toEqual([{ code: 'ambiguous-framing', status: 400 }]);
  });

  it('answers an oversized head with 431 without waiting for its end', async () => {
    const r = await rig(echo, { maxHeaderSize: 1024 });
    const c = await client(r.port);
    c.socket.write(`GET / HTTP/1.1\r\nHost: a\r\nX-Big: ${'a'.repeat(2000)}`);
    await c.closed;
    expect(statuses(c.got())).toEqual([431]);
    expect(r.refusals).toEqual([{ code: 'header-overflow', status: 431 }]);
  });

  it('answers a head with bare line feeds with 400 at once', async () => {
    const r = await rig();
    const c = await client(r.port);
    c.socket.write('GET / HTTP/1.1\nHost: a\n');
    await c.closed;
    expect(statuses(c.got())).toEqual([400]);
    expect(r.refusals).toEqual([{ code: 'bare-lf', status: 400 }]);
  });

  it('closes after an answer given before the body was read, and reads nothing after it', async () => {
    const r = await rig((_req, res) => {
      res.writeHead(403, 'Forbidden', { 'content-length': '2' });
      res.end('no');
    });
    const c = await client(r.port);
    c.socket.write('POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nhel');
    await c.closed;
    expect(statuses(c.got())).toEqual([403]);
    expect(c.got()).toMatch(/connection: close/);
    expect(r.seen).toHaveLength(1);
  });
});

describe('Http1Server: response framing', () => {
  const answerWith =
    (status: number, headers: Record<string, string>, body: string) =>
    (_req: Http1Request, res: Http1Response): void => {
      res.writeHead(status, 'X', headers);
      if (body !== '') res.write(Buffer.from(body));
      res.end();
    };

  it('chunks a body of unknown length for an HTTP/1.1 client and keeps the connection', async () => {
    const r = await rig(answerWith(200, { 'x-a': '1' }, 'hello'));
    const got = await talk(r.port, 'GET / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n');
    const one =
      /^HTTP\/1\.1 200 X\r\nx-a: 1\r\ndate: [^\r]+GMT\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n/;
    expect(got).toMatch(one);
    expect(statuses(got)).toEqual([200, 200]);
  });

  it('sends no body for HEAD, 204 and 304, and no transfer-encoding either', async () => {
    for (const [method, status] of [
      ['HEAD', 200],
      ['GET', 204],
      ['GET', 304],
    ] as const) {
      const r = await rig(answerWith(status, {}, 'ignored'));
      const got = await talk(r.port, `${method} / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`);
      expect(got).toMatch(new RegExp(`^HTTP/1\\.1 ${status} X\\r\\ndate: [^\\r]+\\r\\nconnection: close\\r\\n\\r\\n$`));
    }
  });

  it('delimits a body of unknown length by closing for an HTTP/1.0 client', async () => {
    const r = await rig(answerWith(200, {}, 'hello'));
    const got = await talk(r.port, 'GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /never HTTP/1.0\r\n\r\n');
    expect(got).toMatch(/^HTTP\/1\.1 200 X\r\ndate: [^\r]+\r\nconnection: close\r\n\r\nhello$/);
    expect(r.seen).toHaveLength(1);
  });

  it('keeps an HTTP/1.0 keep-alive connection when the length is known', async () => {
    const r = await rig();
    const got = await talk(r.port, 'GET /1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /2 HTTP/1.0\r\n\r\n');
    expect(statuses(got)).toEqual([200, 200]);
    expect(got).toMatch(
      /connection: keep-alive\r\n\r\nGET \/1 HTTP\/1\.1 200 OK\r\ncontent-length: 7\r\ndate: [^\r]+\r\nconnection: close\r\n\r\nGET \/2 $/,
    );
  });

  it('keeps a Date the handler gives', async () => {
    const r = await rig(answerWith(200, { date: 'Tue, 01 Dec 2026 00:00:00 GMT', 'content-length': '0' }, ''));
    const got = await talk(r.port, 'GET / HTTP/1.1\r\nHost: a\r\n\r\n');
    expect(got.match(/date: /g)).toHaveLength(1);
    expect(got).toContain('date: Tue, 01 Dec 2026 00:00:00 GMT');
  });

  it('says 100 Continue only when the handler forwards the request', async () => {
    const r = await rig((req, res) => {
      res.sendContinue();
      echo(req, res);
    });
    const c = await client(r.port);
    c.socket.write('PUT /u HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n');
    await until(() => c.got().includes('\r\n\r\n'));
    expect(c.got()).toBe('HTTP/1.1 100 Continue\r\n\r\n');
    c.socket.end('data');
    await c.closed;
    expect(c.got()).toMatch(/^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 OK[\s\S]*PUT \/u data$/);
  });

  it('holds the body while its reader is paused and delivers it whole and in order', async () => {
    let body: RequestBody | undefined;
    const got: Buffer[] = [];
    const r = await rig((req) => {
      body = req.source;
      body?.pause();
      body?.on('data', (c: Buffer) => got.push(c));
    });
    const c = await client(r.port);
    const payload = Buffer.alloc(200_000, 'x');
    payload.write('START', 0);
    payload.write('END', payload.length - 3);
    c.socket.write(`POST / HTTP/1.1\r\nHost: a\r\nContent-Length: ${payload.length}\r\n\r\n`);
    c.socket.write(payload);
    await until(() => body !== undefined);
    await new Promise((resolve) => setImmediate(resolve));
    expect(got).toHaveLength(0);
    let ended = false;
    body?.on('end', () => (ended = true));
    body?.resume();
    await until(() => ended);
    expect(Buffer.concat(got).equals(payload)).toBe(true);
  });
});

describe('Http1Server: timeouts (checked by the sweep at a given time)', () => {
  it('closes a connection that sent nothing, quietly, once headersTimeout passes and not before', async () => {
    const r = await rig();
    const c = await client(r.port);
    await accepted(r, 1);
    r.h1.sweep(performance.now() + 900);
    await new Promise((resolve) => setImmediate(resolve));
    expect(c.socket.readableEnded).toBe(false);
    r.h1.sweep(performance.now() + 1_100);
    await c.closed;
    expect(c.got()).toBe('');
    expect(r.refusals).toEqual([]);
  });

  it('answers a head still incomplete at headersTimeout with 408', async () => {
    const r = await rig();
    const c = await client(r.port);
    c.socket.write('GET / HTTP/1.1\r\nHost: a\r\nX-Slow: ');
    await accepted(r, 1);
    await until(() => (r.sockets[0]?.bytesRead ?? 0) > 0);
    r.h1.sweep(performance.now() + 1_100);
    await c.closed;
    expect(statuses(c.got())).toEqual([408]);
    expect(r.refusals).toEqual([{ code: 'headers-timeout', status: 408 }]);
  });

  it('closes an idle keep-alive connection after keepAliveTimeout, not before', async () => {
    const r = await rig();
    const c = await client(r.port);
    c.socket.write('GET / HTTP/1.1\r\nHost: a\r\n\r\n');
    await until(() => statuses(c.got()).length === 1);
    r.h1.sweep(performance.now() + 1_500);
    await new Promise((resolve) => setImmediate(resolve));
    expect(c.socket.readableEnded).toBe(false);
    r.h1.sweep(performance.now() + 2_100);
    await c.closed;
    expect(statuses(c.got())).toEqual([200]);
  });

  it('answers a body still incomplete at requestTimeout with 408 and fails the body', async () => {
    let failed = false;
    const r = await rig((req) => {
      req.source?.on('data', () => undefined);
      req.source?.on('error', () => (failed = true));
    });
    const c = await client(r.port);
    c.socket.write('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nsome');
    await until(() => r.seen.length === 1);
    r.h1.sweep(performance.now() + 5_100);
    await c.closed;
    expect(statuses(c.got())).toEqual([408]);
    expect(failed).toBe(true);
    expect(r.refusals).toEqual([{ code: 'request-timeout', status: 408 }]);
  });

  it('never times out a request whose answer is being prepared', async () => {
    const r = await rig(() => undefined);
    const c = await client(r.port);
    c.socket.write('GET / HTTP/1.1\r\nHost: a\r\n\r\n');
    await until(() => r.seen.length === 1);
    r.h1.sweep(performance.now() + 3_600_000);
    await new Promise((resolve) => setImmediate(resolve));
    expect(c.socket.readableEnded).toBe(false);
    const seen = r.seen[0] as Seen;
    seen.res.writeHead(200, 'OK', { 'content-length': '0' }, true);
    seen.res.end();
    await c.closed;
    expect(statuses(c.got())).toEqual([200]);
  });
});

describe('Http1Server: upgrades, aborts and closing', () => {
  it('hands an upgrade request over with the bytes that followed it, and reads no more', async () => {
    const r = await rig();
    const c = await client(r.port);
    c.socket.write('GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nframe-bytes');
    await until(() => r.upgrades.length === 1);
    const u = r.upgrades[0] as Rig['upgrades'][number];
    expect([u.req.target, u.req.upgrade, u.head.toString()]).toEqual(['/ws', 'websocket', 'frame-bytes']);
    let later = '';
    c.socket.write('GET /not-http HTTP/1.1\r\n\r\n');
    u.socket.on('data', (d: Buffer) => (later += d.toString()));
    u.socket.resume();
    await until(() => later.length > 0);
    expect(later).toBe('GET /not-http HTTP/1.1\r\n\r\n');
    expect(r.seen).toHaveLength(0);
  });

  it('refuses an upgrade request that carries a body', async () => {
    const r = await rig();
    const got = await talk(
      r.port,
      'POST / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: websocket\r\nContent-Length: 1\r\n\r\nx',
    );
    expect(statuses(got)).toEqual([400]);
    expect(r.upgrades).toHaveLength(0);
    expect(r.refusals).toEqual([{ code: 'upgrade-with-body', status: 400 }]);
  });

  it('fails the body when the client goes away in the middle of it, and tells the response', async () => {
    let failed = false;
    let aborted = false;
    const r = await rig((req, res) => {
      req.source?.on('data', () => undefined);
      req.source?.on('error', () => (failed = true));
      res.onAbort = () => (aborted = true);
    });
    const c = await client(r.port);
    c.socket.write('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nsome');
    await until(() => r.seen.length === 1);
    c.socket.destroy();
    await until(() => failed && aborted);
  });

  it('answers what a half-closed client asked before closing', async () => {
    const r = await rig((req, res) => {
      setImmediate(() => {
        echo(req, res);
      });
    });
    const got = await talk(r.port, 'GET /last HTTP/1.1\r\nHost: a\r\n\r\n');
    expect(got).toMatch(/GET \/last $/);
  });

  it('on close ends idle connections now and busy ones after their answer', async () => {
    const r = await rig(() => undefined);
    const idle = await client(r.port);
    const busy = await client(r.port);
    busy.socket.write('GET / HTTP/1.1\r\nHost: a\r\n\r\n');
    await until(() => r.seen.length === 1);
    r.h1.close();
    await idle.closed;
    expect(idle.got()).toBe('');
    const seen = r.seen[0] as Seen;
    seen.res.writeHead(200, 'OK', { 'content-length': '2' });
    seen.res.end('ok');
    await busy.closed;
    expect(busy.got()).toMatch(/connection: close\r\n\r\nok$/);
  });
});
