/**
 * The server side of HTTP/1.1 on the gateway's accepted TLS connections (ADR 0022): a strict
 * request reader (request line, header fields, framing by RFC 9112 §6 with every ambiguity refused),
 * request bodies decoded and handed on with backpressure, one request at a time per connection
 * (pipelined ones wait, bounded), responses framed here, and the headers, request and keep-alive
 * timeouts checked by one sweep per listener instead of a timer per connection.
 *
 * What it refuses never reaches the gateway's request handler: the connection is answered with a
 * status (400, 408, 417, 431, 505) and closed, and the handler's `onError` hears the stable code.
 */
import type { Socket } from 'node:net';
import type { BodySource } from './upstream-client.js';

export interface Http1Limits {
  /** Largest request head (request line + header fields) in bytes; larger gets 431. */
  maxHeaderSize: number;
  /** The whole head must arrive within this many ms of the request's first byte (the connection's start for the first). */
  headersTimeout: number;
  /** The whole request, body included, must arrive within this many ms of its first byte. */
  requestTimeout: number;
  /** An idle connection between requests is closed after this many ms. */
  keepAliveTimeout: number;
}

/** Why a request was refused before the handler saw it, with the status it was answered with. */
export interface Http1Refusal {
  readonly code: string;
  readonly status: 400 | 408 | 417 | 431 | 505;
}

/** Most header fields in one request head. */
export const MAX_HEADER_FIELDS = 200;
/** Pipelined bytes held while a request is answered; beyond this the connection stops reading. */
const PIPELINE_BUFFER = 64 * 1024;
/** Body bytes held before the handler starts reading it; beyond this the connection stops reading. */
const BODY_BUFFER = 64 * 1024;
const MAX_CHUNK_LINE = 4096;
const CRLF = Buffer.from('\r\n');
const CRLFCRLF = Buffer.from('\r\n\r\n');
// Methods: upper-case letters, digits, `-` and `_` (what llhttp knows is a subset); targets: visible ASCII only.
const REQUEST_LINE = /^([A-Z0-9_-]+) ([!-~]+) HTTP\/(\d)\.(\d)$/;
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// Field values: VCHAR, SP, HTAB and obs-text; no other control character.
const BAD_VALUE = /[\x00-\x08\x0a-\x1f\x7f]/; // eslint-disable-line no-control-regex -- control characters are what it finds
const CHUNK_SIZE = /^([0-9A-Fa-f]{1,15})(?:;[^\x00-\x08\x0a-\x1f\x7f]*)?$/; // eslint-disable-line no-control-regex -- chunk extensions may not hold control characters
const DIGITS = /^\d{1,15}$/;

/** One request as read: the head as received and how its body is framed. */
export class Http1Request {
  /** Lower-cased `Connection` header values joined with `,` (for hop-by-hop names). */
  connection: string | undefined;
  host: string | undefined;
  upgrade: string | undefined;
  expectContinue = false;
  transferEncoding: string | undefined;
  contentLength: string | undefined;
  /** `none`, a `length` of `contentLength` bytes, or `chunked` (decoded here). */
  body: 'none' | 'length' | 'chunked' = 'none';
  /** The decoded body (absent for `none`). */
  source: RequestBody | undefined;
  keepAlive = true;

  constructor(
    readonly method: string,
    readonly target: string,
    /** 0 for HTTP/1.0, 1 for HTTP/1.1. */
    readonly minor: 0 | 1,
    /** Name/value pairs as received. */
    readonly rawHeaders: string[],
  ) {}
}

/**
 * The decoded request body as a pausable source: pieces wait (bounded) until a reader attaches,
 * then flow; `pause()` stops reading the connection.
 */
export class RequestBody implements BodySource {
  private queue: Buffer[] = [];
  private queued = 0;
  private onData: ((chunk: Buffer) => void) | undefined;
  private onEnd: (() => void) | undefined;
  private onError: ((err: Error) => void) | undefined;
  private attached = false;
  private paused = false;
  private flushing = false;
  ended = false;
  private endEmitted = false;
  failed: Error | undefined;

  constructor(private readonly conn: Http1Connection) {}

  on(event: 'data', listener: (chunk: Buffer) => void): this;
  on(event: 'end', listener: () => void): this;
  on(event: 'error', listener: (err: Error) => void): this;
  on(
    event: 'data' | 'end' | 'error',
    listener: ((chunk: Buffer) => void) | (() => void) | ((err: Error) => void),
  ): this {
    if (event === 'data') {
      this.onData = listener as (chunk: Buffer) => void;
      this.attached = true;
      this.scheduleFlush();
    } else if (event === 'end') this.onEnd = listener as () => void;
    else this.onError = listener as (err: Error) => void;
    return this;
  }

  removeListener(event: string, listener: (...args: never[]) => void): this {
    if (event === 'data' && this.onData === listener) this.onData = undefined;
    else if (event === 'end' && this.onEnd === listener) this.onEnd = undefined;
    else if (event === 'error' && this.onError === listener) this.onError = undefined;
    return this;
  }

  pause(): this {
    if (!this.paused) {
      this.paused = true;
      this.conn.hold('body', true);
    }
    return this;
  }

  resume(): this {
    if (this.paused) {
      this.paused = false;
      this.conn.hold('body', false);
      this.scheduleFlush();
    }
    return this;
  }

  /** A decoded piece from the connection. */
  push(chunk: Buffer): void {
    if (this.attached && this.queued === 0 && !this.paused) {
      // A reader that detached (its exchange ended) gets nothing more: the piece is dropped.
      this.onData?.(chunk);
      return;
    }
    if (this.attached && !this.onData) return;
    this.queue.push(chunk);
    this.queued += chunk.length;
    if (this.queued > BODY_BUFFER) this.conn.hold('queue', true);
  }

  end(): void {
    this.ended = true;
    if (this.queued === 0 && this.attached && !this.paused) this.emitEnd();
  }

  private emitEnd(): void {
    if (this.endEmitted) return;
    this.endEmitted = true;
    this.onEnd?.();
  }

  fail(err: Error): void {
    if (this.ended || this.failed) return;
    this.failed = err;
    this.onError?.(err);
  }

  private scheduleFlush(): void {
    if (this.flushing) return;
    this.flushing = true;
    queueMicrotask(() => {
      this.flushing = false;
      this.flush();
    });
  }

  private flush(): void {
    while (this.queue.length > 0 && !this.paused && this.onData) {
      const chunk = this.queue.shift() as Buffer;
      this.queued -= chunk.length;
      this.onData(chunk);
    }
    if (this.queued <= BODY_BUFFER) this.conn.hold('queue', false);
    if (this.queue.length === 0 && this.ended && !this.paused && this.attached) this.emitEnd();
  }
}

/** The response to one request: head, body pieces and end, framed for this client. */
export class Http1Response {
  headersSent = false;
  finished = false;
  private mode: 'none' | 'length' | 'chunked' | 'close' = 'none';
  private drainWaiter: (() => void) | undefined;
  /** Called once if the connection closes before the response finished. */
  onAbort: (() => void) | undefined;

  constructor(
    private readonly conn: Http1Connection,
    readonly req: Http1Request,
  ) {}

  get socket(): Socket {
    return this.conn.socket;
  }

  /** Sends `100 Continue` when the client asked for it and its body has not arrived yet. */
  sendContinue(): void {
    if (this.req.expectContinue && this.req.minor === 1) this.conn.sendContinue();
  }

  /**
   * Writes the status line and headers (lower-case names; hop-by-hop framing headers are the
   * response's own business and must not be among them except `content-length`). `close` asks for
   * the connection to end after this response.
   */
  writeHead(
    status: number,
    message: string,
    headers: Readonly<Record<string, string | number | readonly string[] | undefined>>,
    close = false,
  ): void {
    if (this.headersSent) return;
    this.headersSent = true;
    const req = this.req;
    const noBody = req.method === 'HEAD' || status === 204 || status === 304 || status < 200;
    let head = `HTTP/1.1 ${status} ${message}\r\n`;
    let length = false;
    let date = false;
    for (const name in headers) {
      const value = headers[name];
      if (value === undefined) continue;
      if (name === 'content-length') length = true;
      else if (name === 'date') date = true;
      if (typeof value === 'object') for (const v of value) head += `${name}: ${v}\r\n`;
      else head += `${name}: ${value}\r\n`;
    }
    if (!date) head += `date: ${httpDate()}\r\n`;
    let keepAlive = req.keepAlive && !close && !this.conn.draining;
    if (noBody) this.mode = 'none';
    else if (length) this.mode = 'length';
    else if (req.minor === 1) {
      this.mode = 'chunked';
      head += 'transfer-encoding: chunked\r\n';
    } else {
      this.mode = 'close';
      keepAlive = false;
    }
    // A request whose body was not read to its end leaves the connection unusable after this answer.
    if (req.body !== 'none' && !this.conn.requestComplete) keepAlive = false;
    if (!keepAlive) head += 'connection: close\r\n';
    else if (req.minor === 0) head += 'connection: keep-alive\r\n';
    req.keepAlive = keepAlive;
    this.conn.startResponse(head + '\r\n');
  }

  /** A body piece; false when the client is slow (wait for `onDrain`). */
  write(chunk: Buffer): boolean {
    if (this.finished || chunk.length === 0 || this.mode === 'none') return true;
    if (this.mode === 'chunked') return this.conn.send(chunk, `${chunk.length.toString(16)}\r\n`, '\r\n');
    return this.conn.send(chunk, undefined, undefined);
  }

  /** Calls `fn` once the client has taken what was written. */
  onDrain(fn: () => void): void {
    this.drainWaiter = fn;
    this.conn.waitDrain();
  }

  /** @internal */
  drained(): void {
    const fn = this.drainWaiter;
    this.drainWaiter = undefined;
    fn?.();
  }

  end(body?: string): void {
    if (this.finished) return;
    if (body !== undefined && body.length > 0) this.write(Buffer.from(body));
    this.finished = true;
    this.conn.endResponse(this.mode === 'chunked' ? '0\r\n\r\n' : undefined);
  }

  /** Cuts the connection (a response that cannot be completed must not look complete). */
  destroy(): void {
    this.conn.socket.destroy();
  }
}

export interface Http1Handlers {
  /** A request that passed the reader; the handler must end `res` (or destroy it) exactly once. */
  onRequest(req: Http1Request, res: Http1Response): void;
  /** A request asking to switch protocols: the socket has left the reader; `head` holds bytes already read after it. */
  onUpgrade(req: Http1Request, socket: Socket, head: Buffer): void;
  /** A request refused by the reader (it has answered and is closing the connection). */
  onRefused(refusal: Http1Refusal, socket: Socket): void;
}

let cachedDate = '';
let cachedDateSecond = -1;
function httpDate(): string {
  const s = Math.floor(Date.now() / 1000);
  if (s !== cachedDateSecond) {
    cachedDateSecond = s;
    cachedDate = new Date(s * 1000).toUTCString();
  }
  return cachedDate;
}

const REASON: Record<number, string> = {
  400: 'Bad Request',
  408: 'Request Timeout',
  417: 'Expectation Failed',
  431: 'Request Header Fields Too Large',
  505: 'HTTP Version Not Supported',
};

type Phase = 'idle' | 'head' | 'body' | 'waiting' | 'closing' | 'upgraded';

/**
 * One client connection: reads requests one at a time and answers them in order. `phase` is what
 * it waits for: the first byte of a request (`idle`), the rest of its head, its body, the
 * handler's response (`waiting`), or the end.
 */
export class Http1Connection {
  phase: Phase = 'head';
  /** performance.now() when the current request (or, for `idle`, the wait) started. */
  since: number;
  requestComplete = false;
  draining = false;
  private buf: Buffer | undefined;
  private req: Http1Request | undefined;
  private res: Http1Response | undefined;
  private remaining = 0;
  private chunkState: 'size' | 'data' | 'crlf' | 'trailers' = 'size';
  private trailerBytes = 0;
  private holds = 0;
  private holdBody = false;
  private holdQueue = false;
  private holdPipeline = false;
  private clientEnded = false;
  private corked = false;
  private readonly uncork = (): void => {
    this.corked = false;
    this.socket.uncork();
  };

  constructor(
    readonly socket: Socket,
    private readonly limits: Http1Limits,
    private readonly handlers: Http1Handlers,
    private readonly server: Http1Server,
  ) {
    this.since = performance.now();
    socket.on('data', this.onDataBound);
    socket.on('end', this.onEndBound);
    socket.on('drain', this.onDrainBound);
    socket.on('close', this.onCloseBound);
  }

  private readonly onDataBound = (d: Buffer): void => {
    this.onData(d);
  };
  private readonly onEndBound = (): void => {
    this.clientEnded = true;
    if (this.phase === 'idle' || (this.phase === 'head' && this.buf === undefined)) this.socket.end();
    else if (this.phase === 'head') this.refuse({ code: 'incomplete-request', status: 400 });
    else if (this.phase === 'body') this.abortRequest();
  };
  private readonly onDrainBound = (): void => {
    this.res?.drained();
  };
  private readonly onCloseBound = (): void => {
    this.server.connections.delete(this);
    if (this.phase === 'body') this.req?.source?.fail(new Error('client closed the connection'));
    this.phase = 'closing';
    const res = this.res;
    this.res = undefined;
    if (res && !res.finished) res.onAbort?.();
  };

  // ---- reading ---------------------------------------------------------------------------

  private onData(d: Buffer): void {
    if (this.phase === 'closing' || this.phase === 'upgraded') return;
    if (this.phase === 'waiting') {
      this.buf = this.buf ? Buffer.concat([this.buf, d]) : d;
      if (this.buf.length > PIPELINE_BUFFER) this.hold('pipeline', true);
      return;
    }
    this.parse(this.buf ? Buffer.concat([this.buf, d]) : d);
  }

  /** Reads as much as `d` holds: heads, then body pieces; stops while a request is answered. */
  private parse(input: Buffer): void {
    let d = input;
    this.buf = undefined;
    while (d.length > 0) {
      if (this.phase === 'idle') {
        this.phase = 'head';
        this.since = performance.now();
      }
      if (this.phase === 'head') {
        // Empty lines before a request line are skipped (RFC 9112 §2.2); the headers timeout still runs.
        while (d.length >= 2 && d[0] === 0x0d && d[1] === 0x0a) d = d.subarray(2);
        if (d.length === 0) return;
        const end = d.indexOf(CRLFCRLF);
        if (end < 0) {
          if (d.length > this.limits.maxHeaderSize) {
            this.refuse({ code: 'header-overflow', status: 431 });
            return;
          }
          if (hasBareLf(d)) {
            this.refuse({ code: 'bare-lf', status: 400 });
            return;
          }
          this.buf = d;
          return;
        }
        if (end > this.limits.maxHeaderSize) {
          this.refuse({ code: 'header-overflow', status: 431 });
          return;
        }
        const req = readHead(d.toString('latin1', 0, end));
        if (!(req instanceof Http1Request)) {
          this.refuse(req);
          return;
        }
        d = d.subarray(end + 4);
        this.begin(req, d);
      } else if (this.phase === 'body') {
        d = this.readBody(d);
      }
      // After a head or a body: `idle` when the answer was already given (read on), `waiting` while
      // it is being given (what follows is a pipelined request, read after it), or the connection left.
      if (this.phase === 'waiting') {
        if (d.length > 0) {
          this.buf = d;
          if (d.length > PIPELINE_BUFFER) this.hold('pipeline', true);
        }
        return;
      }
      // begin() and readBody() move the phase on.
      const phase = this.phase as Phase;
      if (phase !== 'idle' && phase !== 'body') return;
    }
    // A client that ended its side: nothing more will come after what was read.
    if (this.clientEnded) {
      if (this.phase === 'idle') this.endQuietly();
      else if (this.phase === 'head') this.refuse({ code: 'incomplete-request', status: 400 });
      else if (this.phase === 'body') this.abortRequest();
    }
  }

  private endQuietly(): void {
    this.phase = 'closing';
    this.since = performance.now();
    this.buf = undefined;
    this.socket.end();
    this.closeWhenWritten();
  }

  /** Starts serving a request whose head was read (`rest` follows it on the connection). */
  private begin(req: Http1Request, rest: Buffer): void {
    this.req = req;
    this.requestComplete = req.body === 'none';
    if (req.upgrade !== undefined && req.connection !== undefined && hasToken(req.connection, 'upgrade')) {
      if (req.body !== 'none') {
        this.refuse({ code: 'upgrade-with-body', status: 400 });
        return;
      }
      this.phase = 'upgraded';
      this.server.connections.delete(this);
      // Bytes that follow wait in the socket until the new protocol's reader takes them.
      this.socket.pause();
      this.socket.off('data', this.onDataBound);
      this.socket.off('end', this.onEndBound);
      this.socket.off('drain', this.onDrainBound);
      this.socket.off('close', this.onCloseBound);
      this.handlers.onUpgrade(req, this.socket, rest);
      return;
    }
    if (req.body !== 'none') {
      req.source = new RequestBody(this);
      this.remaining = req.body === 'length' ? Number(req.contentLength) : 0;
      this.chunkState = 'size';
      this.trailerBytes = 0;
      this.phase = 'body';
    } else this.phase = 'waiting';
    const res = new Http1Response(this, req);
    this.res = res;
    this.handlers.onRequest(req, res);
  }

  /** Sends `100 Continue` to a client that asked for it (its request is going to be forwarded). */
  sendContinue(): void {
    if (this.phase === 'body' && this.res && !this.res.headersSent) this.socket.write('HTTP/1.1 100 Continue\r\n\r\n');
  }

  /** Decodes body bytes; returns what follows the body (a pipelined request) once it ended. */
  private readBody(input: Buffer): Buffer {
    let d = input;
    const req = this.req as Http1Request;
    const body = req.source as RequestBody;
    if (req.body === 'length') {
      if (d.length < this.remaining) {
        this.remaining -= d.length;
        body.push(d);
        return Buffer.alloc(0);
      }
      if (this.remaining > 0) body.push(d.subarray(0, this.remaining));
      d = d.subarray(this.remaining);
      this.remaining = 0;
      this.bodyEnded(body);
      return d;
    }
    while (d.length > 0) {
      if (this.chunkState === 'data') {
        const n = Math.min(d.length, this.remaining);
        body.push(d.subarray(0, n));
        this.remaining -= n;
        d = d.subarray(n);
        if (this.remaining === 0) this.chunkState = 'crlf';
        continue;
      }
      if (this.chunkState === 'crlf') {
        if (d.length < 2) {
          if (d[0] !== 0x0d) return this.badChunk('bad-chunk');
          this.buf = d;
          return Buffer.alloc(0);
        }
        if (d[0] !== 0x0d || d[1] !== 0x0a) return this.badChunk('bad-chunk');
        d = d.subarray(2);
        this.chunkState = 'size';
        continue;
      }
      const eol = d.indexOf(CRLF);
      if (eol < 0) {
        const limit = this.chunkState === 'size' ? MAX_CHUNK_LINE : this.limits.maxHeaderSize - this.trailerBytes;
        if (d.length > limit || hasBareLf(d))
          return this.badChunk(this.chunkState === 'size' ? 'bad-chunk' : 'bad-trailer');
        this.buf = d;
        return Buffer.alloc(0);
      }
      const line = d.toString('latin1', 0, eol);
      d = d.subarray(eol + 2);
      if (this.chunkState === 'size') {
        const m = CHUNK_SIZE.exec(line);
        if (!m) return this.badChunk('bad-chunk');
        this.remaining = parseInt(m[1] as string, 16);
        this.chunkState = this.remaining === 0 ? 'trailers' : 'data';
        continue;
      }
      // Trailer fields: checked like header fields, bounded like a head, and dropped.
      if (line === '') {
        this.bodyEnded(body);
        return d;
      }
      this.trailerBytes += line.length + 2;
      if (this.trailerBytes > this.limits.maxHeaderSize || !validField(line)) return this.badChunk('bad-trailer');
    }
    return d;
  }

  /** The body arrived whole: the connection now waits for the answer (unless it was given and closed). */
  private bodyEnded(body: RequestBody): void {
    this.requestComplete = true;
    if (this.phase === 'body') this.phase = 'waiting';
    body.end();
  }

  private badChunk(code: string): Buffer {
    const res = this.res;
    const body = this.req?.source;
    this.phase = 'closing';
    body?.fail(new Error(code));
    this.handlers.onRefused({ code, status: 400 }, this.socket);
    if (res && !res.headersSent) {
      res.finished = true;
      this.answerAndClose(400);
    } else this.socket.destroy();
    return Buffer.alloc(0);
  }

  /** The client ended its side in the middle of a body. */
  private abortRequest(): void {
    this.req?.source?.fail(new Error('client ended the connection in the body'));
    this.phase = 'closing';
    this.socket.destroy();
  }

  /** Answers a refused request and closes; nothing more is read. */
  private refuse(r: Http1Refusal): void {
    this.phase = 'closing';
    this.buf = undefined;
    this.handlers.onRefused(r, this.socket);
    this.answerAndClose(r.status);
  }

  private answerAndClose(status: number): void {
    const body = '{"error":{"code":"ERR_GATEWAY_BAD_REQUEST"}}';
    if (!this.socket.writable) {
      this.socket.destroy();
      return;
    }
    this.socket.end(
      `HTTP/1.1 ${status} ${REASON[status] ?? ''}\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\ndate: ${httpDate()}\r\nconnection: close\r\n\r\n${body}`,
    );
    this.closeWhenWritten();
  }

  private closeWhenWritten(): void {
    this.phase = 'closing';
    this.since = performance.now();
    if (this.socket.writableFinished) this.socket.destroy();
    else this.socket.once('finish', () => this.socket.destroy());
  }

  // ---- writing ---------------------------------------------------------------------------

  /** @internal Http1Response's head. */
  startResponse(head: string): void {
    this.cork();
    this.socket.write(head, 'latin1');
  }

  /** @internal */
  send(chunk: Buffer, before: string | undefined, after: string | undefined): boolean {
    if (this.socket.destroyed) return true;
    this.cork();
    if (before !== undefined) this.socket.write(before, 'latin1');
    if (after === undefined) return this.socket.write(chunk);
    this.socket.write(chunk);
    return this.socket.write(after, 'latin1');
  }

  /** @internal */
  waitDrain(): void {
    if (!this.socket.writableNeedDrain) queueMicrotask(() => this.res?.drained());
  }

  private cork(): void {
    if (this.corked) return;
    this.corked = true;
    this.socket.cork();
    process.nextTick(this.uncork);
  }

  /** @internal The response ended: read the next request, or close. */
  endResponse(last: string | undefined): void {
    const req = this.req as Http1Request;
    if (last !== undefined && !this.socket.destroyed) {
      this.cork();
      this.socket.write(last, 'latin1');
    }
    this.res = undefined;
    if (!req.keepAlive || (this.clientEnded && this.buf === undefined)) {
      this.phase = 'closing';
      this.buf = undefined;
      this.socket.end();
      this.closeWhenWritten();
      return;
    }
    const rest = this.buf;
    this.buf = undefined;
    this.next(rest);
  }

  private next(rest: Buffer | undefined): void {
    this.req = undefined;
    this.phase = 'idle';
    this.since = performance.now();
    this.hold('pipeline', false);
    if (rest && rest.length > 0) {
      // A pipelined request: read it after this turn (the handler that ended the response returns first).
      this.buf = rest;
      queueMicrotask(() => {
        if (this.phase === 'idle' && this.buf) this.parse(this.buf);
      });
    }
    // When ended inside parse() (an answer given at once), parse() reads on from where it is.
  }

  // ---- flow control and timeouts ---------------------------------------------------------

  /** @internal Reading stops while any of the body reader, the body queue or the pipeline buffer asks. */
  hold(who: 'body' | 'queue' | 'pipeline', on: boolean): void {
    const before = this.holds;
    if (who === 'body') this.holdBody = on;
    else if (who === 'queue') this.holdQueue = on;
    else this.holdPipeline = on;
    this.holds = (this.holdBody ? 1 : 0) + (this.holdQueue ? 1 : 0) + (this.holdPipeline ? 1 : 0);
    if (before === 0 && this.holds > 0) this.socket.pause();
    else if (before > 0 && this.holds === 0) this.socket.resume();
  }

  /** The server is closing: idle connections end now, busy ones after their current response. */
  drain(): void {
    this.draining = true;
    if (this.phase === 'idle' || (this.phase === 'head' && this.buf === undefined)) {
      this.phase = 'closing';
      this.socket.end();
      this.closeWhenWritten();
    }
  }

  /** Checks this connection's deadlines at `now` (performance.now()). */
  check(now: number): void {
    const elapsed = now - this.since;
    const l = this.limits;
    if (this.phase === 'idle') {
      if (elapsed >= l.keepAliveTimeout) {
        this.phase = 'closing';
        this.socket.end();
        this.closeWhenWritten();
      }
    } else if (this.phase === 'head') {
      if (elapsed < l.headersTimeout) return;
      // A connection that never sent a byte is closed quietly; a slow head is answered 408.
      if (this.buf === undefined) {
        this.phase = 'closing';
        this.since = now;
        this.socket.end();
        this.closeWhenWritten();
      } else this.refuse({ code: 'headers-timeout', status: 408 });
    } else if (this.phase === 'body') {
      if (elapsed >= l.requestTimeout) {
        const res = this.res;
        this.req?.source?.fail(new Error('request-timeout'));
        this.phase = 'closing';
        this.handlers.onRefused({ code: 'request-timeout', status: 408 }, this.socket);
        if (res && !res.headersSent) {
          res.finished = true;
          this.answerAndClose(408);
        } else this.socket.destroy();
      }
    } else if (this.phase === 'closing') {
      // A client that does not close after our close_notify is cut.
      if (elapsed >= Math.max(2_000, l.headersTimeout)) this.socket.destroy();
    }
  }
}

/** The HTTP/1.1 side of one listener: its connections and the sweep that enforces their timeouts. */
export class Http1Server {
  readonly connections = new Set<Http1Connection>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    readonly limits: Http1Limits,
    private readonly handlers: Http1Handlers,
    /** How often deadlines are checked (ms); a timeout fires at most this late. */
    checkEvery: number,
  ) {
    this.timer = setInterval(() => {
      this.sweep(performance.now());
    }, checkEvery);
    this.timer.unref();
  }

  /** Starts reading requests on an accepted, authenticated TLS connection. */
  serve(socket: Socket): Http1Connection {
    const c = new Http1Connection(socket, this.limits, this.handlers, this);
    this.connections.add(c);
    return c;
  }

  sweep(now: number): void {
    for (const c of this.connections) c.check(now);
  }

  /** Stops the sweep; idle connections close now and busy ones after their response. */
  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    for (const c of this.connections) c.drain();
  }
}

function hasBareLf(d: Buffer): boolean {
  let i = d.indexOf(0x0a);
  while (i >= 0) {
    if (i === 0 || d[i - 1] !== 0x0d) return true;
    i = d.indexOf(0x0a, i + 1);
  }
  return false;
}

function hasToken(list: string, token: string): boolean {
  for (const t of list.split(',')) if (t.trim() === token) return true;
  return false;
}

function validField(line: string): boolean {
  const colon = line.indexOf(':');
  if (colon <= 0) return false;
  return HEADER_NAME.test(line.slice(0, colon)) && !BAD_VALUE.test(line.slice(colon + 1));
}

/** Parses a request head (without its final CRLFCRLF); every ambiguity is a refusal. */
export function readHead(head: string): Http1Request | Http1Refusal {
  // Empty lines before the request line are ignored (RFC 9112 §2.2).
  let start = 0;
  while (head.startsWith('\r\n', start)) start += 2;
  let eol = head.indexOf('\r\n', start);
  if (eol < 0) eol = head.length;
  const line = head.slice(start, eol);
  const m = REQUEST_LINE.exec(line);
  if (!m) {
    const v = /^\S+ \S+ HTTP\/(\d+)\.(\d+)$/.exec(line);
    if (v && !(v[1] === '1' && (v[2] === '0' || v[2] === '1'))) return { code: 'unsupported-version', status: 505 };
    return { code: 'bad-request-line', status: 400 };
  }
  if (m[3] !== '1' || (m[4] !== '0' && m[4] !== '1')) return { code: 'unsupported-version', status: 505 };
  const method = m[1] as string;
  if (method === 'CONNECT') return { code: 'connect-method', status: 400 };
  const req = new Http1Request(method, m[2] as string, m[4] === '1' ? 1 : 0, []);
  const raw = req.rawHeaders;
  let connection: string | undefined;
  let keepAliveToken = false;
  let closeToken = false;
  let hosts = 0;
  let te = 0;
  let cl = 0;
  let expect: string | undefined;
  let pos = eol + 2;
  while (pos < head.length) {
    let next = head.indexOf('\r\n', pos);
    if (next < 0) next = head.length;
    const field = head.slice(pos, next);
    pos = next + 2;
    if (raw.length >= MAX_HEADER_FIELDS * 2) return { code: 'too-many-headers', status: 431 };
    const c0 = field.charCodeAt(0);
    if (c0 === 0x20 || c0 === 0x09) return { code: 'obs-fold', status: 400 };
    const colon = field.indexOf(':');
    if (colon <= 0) return { code: 'bad-header', status: 400 };
    const name = field.slice(0, colon);
    if (!HEADER_NAME.test(name)) return { code: 'bad-header', status: 400 };
    let vs = colon + 1;
    let ve = field.length;
    while (vs < ve && (field.charCodeAt(vs) === 0x20 || field.charCodeAt(vs) === 0x09)) vs++;
    while (ve > vs && (field.charCodeAt(ve - 1) === 0x20 || field.charCodeAt(ve - 1) === 0x09)) ve--;
    const value = field.slice(vs, ve);
    if (BAD_VALUE.test(value)) return { code: 'bad-header', status: 400 };
    raw.push(name, value);
    const lower = name.length >= 4 && name.length <= 17 ? name.toLowerCase() : '';
    switch (lower) {
      case 'host':
        hosts++;
        req.host = value;
        break;
      case 'connection': {
        const v = value.toLowerCase();
        connection = connection === undefined ? v : `${connection}, ${v}`;
        for (const t of v.split(',')) {
          const tok = t.trim();
          if (tok === 'close') closeToken = true;
          else if (tok === 'keep-alive') keepAliveToken = true;
        }
        break;
      }
      case 'upgrade':
        req.upgrade = value;
        break;
      case 'expect':
        expect = expect === undefined ? value : `${expect}, ${value}`;
        break;
      case 'transfer-encoding':
        te++;
        req.transferEncoding = value;
        break;
      case 'content-length':
        cl++;
        req.contentLength = value;
        break;
      default:
    }
  }
  if (hosts > 1) return { code: 'duplicate-host', status: 400 };
  if (hosts === 0 && req.minor === 1) return { code: 'missing-host', status: 400 };
  if (te > 0) {
    // Chunked only, once, never beside a length, never from an HTTP/1.0 client (RFC 9112 §6.1, §6.3).
    if (te > 1 || cl > 0 || req.minor === 0 || (req.transferEncoding as string).toLowerCase() !== 'chunked')
      return { code: 'ambiguous-framing', status: 400 };
    req.body = 'chunked';
  } else if (cl > 0) {
    if (cl > 1) return { code: 'duplicate-content-length', status: 400 };
    if (!DIGITS.test(req.contentLength as string)) return { code: 'bad-content-length', status: 400 };
    if (Number(req.contentLength) > 0) req.body = 'length';
  }
  if (expect !== undefined) {
    if (expect.toLowerCase() !== '100-continue') return { code: 'unsupported-expect', status: 417 };
    req.expectContinue = true;
  }
  req.connection = connection;
  req.keepAlive = req.minor === 1 ? !closeToken : keepAliveToken && !closeToken;
  return req;
}
