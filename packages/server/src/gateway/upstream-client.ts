/**
 * The gateway's HTTP/1.1 client for upstreams: a keep-alive pool of plain TCP connections per
 * upstream, one exchange at a time on each, and a strict response parser (status line, header
 * names and values, framing by RFC 9112 §6.3). A connection goes back to the pool only after a
 * response whose end was unambiguous and a request that was sent whole (ADR 0020).
 */
import { connect, type Socket } from 'node:net';

export interface UpstreamPoolOptions {
  readonly host: string;
  readonly port: number;
  readonly maxSockets: number;
  /** Idle pooled connections are closed after this many milliseconds. */
  readonly idleTimeout: number;
  /** A new connection must be established within this many milliseconds. */
  readonly connectTimeout: number;
  /** The response head must arrive within this many milliseconds of the exchange's start. */
  readonly responseTimeout: number;
}

/** Why an exchange failed; `code` is what the audit appends (`upstream-error:<code>`, …). */
export class UpstreamFailure extends Error {
  constructor(
    readonly kind: 'connect-timeout' | 'response-timeout' | 'error' | 'bad-response' | 'closed',
    readonly code: string,
  ) {
    super(`upstream ${kind}: ${code}`);
  }
}

/** Largest response head (status line + headers) and chunk-size or trailer line accepted. */
export const MAX_RESPONSE_HEAD = 64 * 1024;
const MAX_CHUNK_LINE = 4096;
const CRLFCRLF = Buffer.from('\r\n\r\n');
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const HEADER_LINE = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[ \t]*(.*?)[ \t]*$/;
const STATUS_LINE = /^HTTP\/1\.([01]) ([1-9]\d\d)(?: (.*))?$/;
// Field values and reason phrases: VCHAR, SP, HTAB and obs-text; no other control character.
// eslint-disable-next-line no-control-regex -- control characters are what it finds
const BAD_VALUE = /[\x00-\x08\x0a-\x1f\x7f]/;
// eslint-disable-next-line no-control-regex -- chunk extensions may not hold control characters
const CHUNK_SIZE = /^([0-9A-Fa-f]{1,15})(?:[ \t]*;[^\x00-\x08\x0a-\x1f\x7f]*)?$/;
// eslint-disable-next-line no-control-regex -- a request target has no space or control character
const BAD_TARGET = /[\x00-\x20\x7f]/;
// Methods whose requests are sent with `Content-Length: 0` when they carry no body (as node:http does).
const BODYLESS_BY_DEFAULT = new Set(['GET', 'HEAD', 'DELETE', 'OPTIONS', 'TRACE', 'CONNECT']);
// Requests that may be sent again on a fresh connection when a reused one closed before answering.
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

interface Handler {
  onData(chunk: Buffer): void;
  onDrain(): void;
  onEnd(): void;
  onClose(err: Error | undefined): void;
}

/** One TCP connection of a pool; its listeners stay for its life and call the current exchange. */
class Connection {
  handler: Handler | null = null;
  error: Error | undefined;
  closed = false;
  /** Set once a response ended on it: a later close before any answer may be a stale keep-alive. */
  reused = false;

  constructor(
    readonly socket: Socket,
    private readonly pool: UpstreamPool,
  ) {
    socket.setNoDelay(true);
    socket.on('data', (d: Buffer) => {
      if (this.handler) this.handler.onData(d);
      else socket.destroy(); // bytes nobody asked for: this connection is not trustworthy any more
    });
    socket.on('drain', () => this.handler?.onDrain());
    socket.on('end', () => this.handler?.onEnd());
    socket.on('timeout', () => {
      // Only idle sockets have a timeout set.
      if (!this.handler) socket.destroy();
    });
    socket.on('error', (err) => {
      this.error = err;
    });
    socket.on('close', () => {
      this.closed = true;
      this.pool.forget(this);
      const h = this.handler;
      this.handler = null;
      h?.onClose(this.error);
    });
  }
}

type Waiter = (err: UpstreamFailure | null, conn?: Connection) => void;

/** An exchange waiting for its response head, as a node of its pool's deadline list. */
interface Deadline {
  at: number;
  watched: boolean;
  prev: Deadline | undefined;
  next: Deadline | undefined;
  onExpired(): void;
}

/** Keep-alive connections to one upstream: LIFO reuse, at most `maxSockets` at once, FIFO waiters. */
export class UpstreamPool {
  private readonly idle: Connection[] = [];
  private readonly all = new Set<Connection>();
  private readonly waiting: Waiter[] = [];
  /**
   * Exchanges still waiting for their response head, oldest first (on the monotonic clock deadlines only
   * grow, since every exchange of a pool has the same timeout): an intrusive list, so watching and unwatching allocate
   * nothing and touch only neighbours. One sweep timer per pool checks the oldest (every eighth of
   * responseTimeout, 10 ms to 1 s); a timeout fires at most one sweep late, never early. (A Map here
   * made every young-generation collection slow under load: 1 ms → 11 ms, measured.)
   */
  private oldest: Deadline | undefined;
  private newest: Deadline | undefined;
  private sweep: NodeJS.Timeout | undefined;
  /** Retired: connections are no longer kept for reuse (a reload replaced this upstream). */
  private retired = false;
  /** Destroyed: the gateway is stopping; every exchange is refused. */
  private destroyed = false;

  constructor(readonly options: UpstreamPoolOptions) {}

  /** Connections open now (idle and busy); for tests and metrics. */
  get size(): number {
    return this.all.size;
  }

  get idleCount(): number {
    return this.idle.length;
  }

  /** A connection for one exchange: an idle one (unless `fresh`), a new one, or the next released. */
  acquire(fresh: boolean, cb: Waiter): () => void {
    if (this.destroyed) {
      cb(new UpstreamFailure('error', 'pool-closed'));
      return () => undefined;
    }
    if (!fresh) {
      const conn = this.idle.pop();
      if (conn) {
        conn.socket.setTimeout(0);
        cb(null, conn);
        return () => undefined;
      }
    }
    if (this.all.size < this.options.maxSockets) {
      this.open(cb);
      return () => undefined;
    }
    if (fresh && this.idle.length > 0) {
      // At the cap with an idle connection we may not reuse: make room for a fresh one.
      this.idle.shift()?.socket.destroy();
      this.open(cb);
      return () => undefined;
    }
    this.waiting.push(cb);
    return () => {
      const i = this.waiting.indexOf(cb);
      if (i >= 0) this.waiting.splice(i, 1);
    };
  }

  private open(cb: Waiter): void {
    const socket = connect({ host: this.options.host, port: this.options.port });
    const conn = new Connection(socket, this);
    this.all.add(conn);
    let settled = false;
    const timer = setTimeout(() => {
      if (settled) return;
      settled = true;
      socket.destroy();
      cb(new UpstreamFailure('connect-timeout', 'connect-timeout'));
    }, this.options.connectTimeout);
    socket.once('connect', () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      cb(null, conn);
    });
    conn.handler = {
      onData: () => undefined,
      onDrain: () => undefined,
      onEnd: () => undefined,
      onClose: (err) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        cb(new UpstreamFailure('error', (err as NodeJS.ErrnoException | undefined)?.code ?? 'closed'));
      },
    };
  }

  /** Hands a connection back: kept (or given to a waiter) when `reusable`, closed otherwise. */
  release(conn: Connection, reusable: boolean): void {
    conn.handler = null;
    if (!reusable || conn.closed || this.retired || conn.socket.destroyed) {
      conn.socket.destroy();
      this.wakeWaiter();
      return;
    }
    conn.reused = true;
    // An exchange may end while its reader had paused the socket: the next one must read it.
    conn.socket.resume();
    const next = this.waiting.shift();
    if (next) {
      next(null, conn);
      return;
    }
    conn.socket.setTimeout(this.options.idleTimeout);
    this.idle.push(conn);
  }

  /** Called by a connection when it closes. */
  forget(conn: Connection): void {
    this.all.delete(conn);
    const i = this.idle.indexOf(conn);
    if (i >= 0) this.idle.splice(i, 1);
    this.wakeWaiter();
  }

  private wakeWaiter(): void {
    if (this.waiting.length === 0 || this.all.size >= this.options.maxSockets || this.destroyed) return;
    const next = this.waiting.shift();
    if (next) this.open(next);
  }

  /** `d.onExpired` runs once unless `unwatch(d)` comes within responseTimeout. */
  watch(d: Deadline): void {
    d.at = performance.now() + this.options.responseTimeout;
    d.watched = true;
    d.prev = this.newest;
    d.next = undefined;
    if (this.newest) this.newest.next = d;
    else this.oldest = d;
    this.newest = d;
    if (this.sweep === undefined) this.armSweep();
  }

  unwatch(d: Deadline): void {
    if (!d.watched) return;
    d.watched = false;
    if (d.prev) d.prev.next = d.next;
    else this.oldest = d.next;
    if (d.next) d.next.prev = d.prev;
    else this.newest = d.prev;
    d.prev = undefined;
    d.next = undefined;
  }

  private armSweep(): void {
    const every = Math.min(1_000, Math.max(10, Math.floor(this.options.responseTimeout / 8)));
    this.sweep = setTimeout(() => {
      this.sweep = undefined;
      const now = performance.now();
      while (this.oldest && this.oldest.at <= now) {
        const d = this.oldest;
        this.unwatch(d);
        d.onExpired();
      }
      if (this.oldest) this.armSweep();
    }, every);
    this.sweep.unref();
  }

  /** Keeps no connection for reuse any more: idle ones close now, busy ones when their exchange ends. */
  close(): void {
    this.retired = true;
    for (const conn of this.idle.splice(0)) conn.socket.destroy();
  }

  /** Refuses every waiting and later exchange and closes every connection, busy ones included. */
  destroy(): void {
    this.destroyed = true;
    this.close();
    clearTimeout(this.sweep);
    this.sweep = undefined;
    while (this.oldest) this.unwatch(this.oldest);
    for (const w of this.waiting.splice(0)) w(new UpstreamFailure('error', 'pool-closed'));
    for (const conn of this.all) conn.socket.destroy();
  }
}

export interface UpstreamRequest {
  readonly method: string;
  /** Origin-form target (path and query) exactly as the upstream must receive it. */
  readonly target: string;
  /** Header values as sent; `host` is added when missing. Never hop-by-hop framing headers. */
  readonly headers: Readonly<Record<string, string | number | readonly string[] | undefined>>;
  /**
   * `none`: no body; `length`: the body is streamed as is and `content-length` is among the headers;
   * `chunked`: the body is streamed in chunked framing made here.
   */
  readonly body: 'none' | 'length' | 'chunked';
}

/** The request body's source: pushes chunks, can be paused (an IncomingMessage). */
export interface BodySource {
  on(event: 'data', listener: (chunk: Buffer) => void): unknown;
  on(event: 'end', listener: () => void): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
  removeListener(event: string, listener: (...args: never[]) => void): unknown;
  pause(): unknown;
  resume(): unknown;
}

export interface ResponseHead {
  readonly status: number;
  readonly statusMessage: string;
  /** Name/value pairs as received, without `content-length` unless the body is framed by it. */
  readonly rawHeaders: readonly string[];
}

export interface ExchangeCallbacks {
  /** The final response head (1xx interim responses are consumed here). */
  onHead(head: ResponseHead): void;
  /** A piece of the decoded body; return false to pause the upstream until `resume()`. */
  onBody(chunk: Buffer): boolean;
  /** The response ended where its framing said. */
  onEnd(): void;
  /** The exchange failed; `afterHead` tells whether `onHead` was already called. */
  onError(err: UpstreamFailure, afterHead: boolean): void;
}

export interface Exchange {
  /** Continue reading the upstream after `onBody` returned false. */
  resume(): void;
  /** Abandon the exchange (the client went away): its connection is closed, never reused. */
  abort(): void;
}

function serializeHead(req: UpstreamRequest, hostHeader: string): string {
  if (!TOKEN.test(req.method)) throw new UpstreamFailure('error', 'bad-method');
  if (req.target === '' || BAD_TARGET.test(req.target)) throw new UpstreamFailure('error', 'bad-target');
  let head = `${req.method} ${req.target} HTTP/1.1\r\n`;
  let hasHost = false;
  let hasLength = false;
  for (const name in req.headers) {
    const value = req.headers[name];
    if (value === undefined) continue;
    if (!TOKEN.test(name)) throw new UpstreamFailure('error', 'bad-header-name');
    const lower = name.toLowerCase();
    if (lower === 'host') hasHost = true;
    else if (lower === 'content-length') hasLength = true;
    if (typeof value === 'object') {
      for (const v of value) {
        if (BAD_VALUE.test(v)) throw new UpstreamFailure('error', 'bad-header-value');
        head += `${name}: ${v}\r\n`;
      }
    } else {
      const v = String(value);
      if (BAD_VALUE.test(v)) throw new UpstreamFailure('error', 'bad-header-value');
      head += `${name}: ${v}\r\n`;
    }
  }
  if (!hasHost) head += `host: ${hostHeader}\r\n`;
  if (req.body === 'none' && !hasLength && !BODYLESS_BY_DEFAULT.has(req.method)) head += 'content-length: 0\r\n';
  return `${head}\r\n`;
}

type Framing = { kind: 'none' } | { kind: 'length'; remaining: number } | { kind: 'chunked' } | { kind: 'close' };

interface ParsedHead {
  readonly version: 0 | 1;
  readonly status: number;
  readonly statusMessage: string;
  readonly rawHeaders: string[];
}

function parseHead(text: string): ParsedHead | UpstreamFailure {
  const lines = text.split('\r\n');
  const status = STATUS_LINE.exec(lines[0] ?? '');
  if (!status) return new UpstreamFailure('bad-response', 'bad-status-line');
  const statusMessage = status[3] ?? '';
  if (BAD_VALUE.test(statusMessage)) return new UpstreamFailure('bad-response', 'bad-status-line');
  const rawHeaders: string[] = [];
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i] as string;
    const m = HEADER_LINE.exec(line);
    // No obs-fold, no whitespace before the colon, no bare CR or LF, no control characters.
    if (!m || BAD_VALUE.test(m[2] as string)) return new UpstreamFailure('bad-response', 'bad-header');
    rawHeaders.push(m[1] as string, m[2] as string);
  }
  return { version: status[1] === '1' ? 1 : 0, status: Number(status[2]), statusMessage, rawHeaders };
}

/** Framing of a response body (RFC 9112 §6.3) and whether the connection may carry another request. */
function framingOf(
  method: string,
  head: ParsedHead,
): { framing: Framing; reusable: boolean; rawHeaders: string[] } | UpstreamFailure {
  const h = head.rawHeaders;
  let te: string[] | undefined;
  let lengths: string[] | undefined;
  const connection: string[] = [];
  for (let i = 0; i < h.length; i += 2) {
    const name = (h[i] as string).toLowerCase();
    const value = h[i + 1] as string;
    if (name === 'transfer-encoding') (te ??= []).push(...value.split(',').map((t) => t.trim().toLowerCase()));
    else if (name === 'content-length') (lengths ??= []).push(...value.split(',').map((t) => t.trim()));
    else if (name === 'connection') connection.push(...value.split(',').map((t) => t.trim().toLowerCase()));
  }
  // HTTP/1.1 connections persist unless closed; HTTP/1.0 ones only when the upstream says keep-alive.
  const keepAlive = !connection.includes('close') && (head.version === 1 || connection.includes('keep-alive'));
  const withoutLength = (): string[] => {
    const out: string[] = [];
    for (let i = 0; i < h.length; i += 2)
      if ((h[i] as string).toLowerCase() !== 'content-length') out.push(h[i] as string, h[i + 1] as string);
    return out;
  };
  if (method === 'HEAD' || head.status === 204 || head.status === 304) {
    return { framing: { kind: 'none' }, reusable: keepAlive, rawHeaders: head.status === 204 ? withoutLength() : h };
  }
  if (te !== undefined) {
    const chunkedAt = te.indexOf('chunked');
    // chunked must be the last coding, and only once; an empty coding is malformed.
    if (te.includes('') || (chunkedAt >= 0 && chunkedAt !== te.length - 1))
      return new UpstreamFailure('bad-response', 'bad-transfer-encoding');
    // TE with Content-Length is a smuggling signal: TE wins and the connection is not reused.
    if (chunkedAt >= 0)
      return { framing: { kind: 'chunked' }, reusable: keepAlive && !lengths, rawHeaders: withoutLength() };
    return { framing: { kind: 'close' }, reusable: false, rawHeaders: withoutLength() };
  }
  if (lengths !== undefined) {
    const first = lengths[0] as string;
    if (!/^\d{1,15}$/.test(first) || lengths.some((l) => l !== first))
      return new UpstreamFailure('bad-response', 'bad-content-length');
    const n = Number(first);
    const out: string[] = [];
    let kept = false;
    for (let i = 0; i < h.length; i += 2) {
      if ((h[i] as string).toLowerCase() === 'content-length') {
        if (kept) continue;
        kept = true;
        out.push(h[i] as string, String(n));
      } else out.push(h[i] as string, h[i + 1] as string);
    }
    return {
      framing: n === 0 ? { kind: 'none' } : { kind: 'length', remaining: n },
      reusable: keepAlive,
      rawHeaders: out,
    };
  }
  return { framing: { kind: 'close' }, reusable: false, rawHeaders: h };
}

/**
 * Sends one request on a pooled connection and parses its response. The request body, if any, is
 * read from `body` with backpressure. Exactly one of `onEnd` / `onError` is called, once.
 */
export function exchange(
  pool: UpstreamPool,
  req: UpstreamRequest,
  body: BodySource | undefined,
  cb: ExchangeCallbacks,
): Exchange {
  const { host, port } = pool.options;
  const hostHeader = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  let head: string;
  let finished = false;
  let headSeen = false;
  let conn: Connection | undefined;
  let cancelWait: () => void = () => undefined;
  let retried = false;

  // Response parser state.
  let buf: Buffer | undefined; // unparsed bytes (head, chunk lines, trailers)
  let framing: Framing = { kind: 'none' };
  let reusable = false;
  let chunkState: 'size' | 'data' | 'crlf' | 'trailers' = 'size';
  let chunkRemaining = 0;
  let paused = false;
  let receivedAny = false;

  // Request body state.
  let bodyDone = req.body === 'none';
  let bodyListening = false;

  const deadline: Deadline = {
    at: 0,
    watched: false,
    prev: undefined,
    next: undefined,
    onExpired() {
      if (finished || headSeen) return;
      fail(new UpstreamFailure('response-timeout', 'response-timeout'));
    },
  };
  /** Ends the exchange and closes its connection; false when it had already ended. */
  const discard = (): boolean => {
    if (finished) return false;
    finished = true;
    pool.unwatch(deadline);
    detachBody();
    cancelWait();
    if (conn) pool.release(conn, false);
    conn = undefined;
    return true;
  };
  const fail = (err: UpstreamFailure): void => {
    if (discard()) cb.onError(err, headSeen);
  };

  const complete = (leftover: boolean): void => {
    if (finished) return;
    finished = true;
    pool.unwatch(deadline);
    // A connection is reused only when the request went out whole and nothing followed the response.
    const keep = reusable && bodyDone && !leftover;
    if (!bodyDone) detachBody();
    if (conn) pool.release(conn, keep);
    conn = undefined;
    cb.onEnd();
  };

  const onBodyData = (chunk: Buffer): void => {
    if (!conn || finished) return;
    if (chunk.length === 0) return;
    let ok: boolean;
    if (req.body === 'chunked') {
      conn.socket.write(`${chunk.length.toString(16)}\r\n`);
      conn.socket.write(chunk);
      ok = conn.socket.write('\r\n');
    } else ok = conn.socket.write(chunk);
    if (!ok) body?.pause();
  };
  const onBodyEnd = (): void => {
    if (!conn || finished) return;
    if (req.body === 'chunked') conn.socket.write('0\r\n\r\n');
    bodyDone = true;
    detachBody();
  };
  const onBodyError = (): void => {
    // The client's body broke off: the upstream got an incomplete request; this connection is done.
    fail(new UpstreamFailure('error', 'client-body-aborted'));
  };
  function detachBody(): void {
    if (!bodyListening || !body) return;
    bodyListening = false;
    body.removeListener('data', onBodyData);
    body.removeListener('end', onBodyEnd);
    body.removeListener('error', onBodyError);
  }

  const emitBody = (chunk: Buffer): void => {
    if (chunk.length === 0) return;
    if (!cb.onBody(chunk) && !paused) {
      paused = true;
      conn?.socket.pause();
    }
  };

  /** Parses what arrived: delivers head and body pieces, and ends (or fails) the exchange where its framing says. */
  const parse = (data: Buffer): void => {
    let d: Buffer = buf ? Buffer.concat([buf, data]) : data;
    buf = undefined;
    while (!finished) {
      if (!headSeen) {
        const end = d.indexOf(CRLFCRLF);
        if (end < 0) {
          if (d.length > MAX_RESPONSE_HEAD) {
            fail(new UpstreamFailure('bad-response', 'head-too-large'));
            return;
          }
          buf = d;
          return;
        }
        if (end > MAX_RESPONSE_HEAD) {
          fail(new UpstreamFailure('bad-response', 'head-too-large'));
          return;
        }
        const parsed = parseHead(d.toString('latin1', 0, end));
        if (parsed instanceof UpstreamFailure) {
          fail(parsed);
          return;
        }
        d = d.subarray(end + 4);
        if (parsed.status < 200) {
          // 1xx interim answers (100 Continue, 103 Early Hints) are consumed; 101 was never asked for.
          if (parsed.status === 101) {
            fail(new UpstreamFailure('bad-response', 'unexpected-101'));
            return;
          }
          continue;
        }
        const f = framingOf(req.method, parsed);
        if (f instanceof UpstreamFailure) {
          fail(f);
          return;
        }
        framing = f.framing;
        reusable = f.reusable;
        pool.unwatch(deadline);
        try {
          cb.onHead({ status: parsed.status, statusMessage: parsed.statusMessage, rawHeaders: f.rawHeaders });
        } catch {
          // The receiver could not use this head (its HTTP server refused a header): nothing was sent on.
          fail(new UpstreamFailure('bad-response', 'unforwardable-head'));
          return;
        }
        headSeen = true;
        // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- onHead may abort the exchange
        if (finished) return;
        if (framing.kind === 'none') {
          complete(d.length > 0);
          return;
        }
        continue;
      }
      if (framing.kind === 'length') {
        if (d.length === 0) return;
        if (d.length < framing.remaining) {
          framing.remaining -= d.length;
          emitBody(d);
          return;
        }
        const rest = d.subarray(framing.remaining);
        emitBody(d.subarray(0, framing.remaining));
        framing.remaining = 0;
        complete(rest.length > 0);
        return;
      }
      if (framing.kind === 'close') {
        emitBody(d);
        return;
      }
      if (framing.kind === 'chunked') {
        if (chunkState === 'data') {
          if (d.length === 0) return;
          const n = Math.min(d.length, chunkRemaining);
          emitBody(d.subarray(0, n));
          chunkRemaining -= n;
          d = d.subarray(n);
          if (chunkRemaining === 0) chunkState = 'crlf';
          continue;
        }
        if (chunkState === 'crlf') {
          if (d.length < 2) {
            if (d.length === 1 && d[0] !== 0x0d) {
              fail(new UpstreamFailure('bad-response', 'bad-chunk'));
              return;
            }
            buf = d;
            return;
          }
          if (d[0] !== 0x0d || d[1] !== 0x0a) {
            fail(new UpstreamFailure('bad-response', 'bad-chunk'));
            return;
          }
          d = d.subarray(2);
          chunkState = 'size';
          continue;
        }
        const eol = d.indexOf('\r\n');
        if (eol < 0) {
          if (d.length > MAX_CHUNK_LINE) {
            fail(new UpstreamFailure('bad-response', 'bad-chunk'));
            return;
          }
          buf = d;
          return;
        }
        const line = d.toString('latin1', 0, eol);
        d = d.subarray(eol + 2);
        if (chunkState === 'size') {
          const m = CHUNK_SIZE.exec(line);
          if (!m) {
            fail(new UpstreamFailure('bad-response', 'bad-chunk'));
            return;
          }
          chunkRemaining = parseInt(m[1] as string, 16);
          chunkState = chunkRemaining === 0 ? 'trailers' : 'data';
          continue;
        }
        // Trailers: validated like header lines and dropped; an empty line ends the message.
        if (line === '') {
          complete(d.length > 0);
          return;
        }
        if (!HEADER_LINE.test(line) || BAD_VALUE.test(line)) {
          fail(new UpstreamFailure('bad-response', 'bad-trailer'));
          return;
        }
        continue;
      }
      return;
    }
  };

  const handler: Handler = {
    onData(chunk) {
      receivedAny = true;
      parse(chunk);
    },
    onDrain() {
      body?.resume();
    },
    onEnd() {
      if (framing.kind === 'close' && headSeen && !finished) complete(false);
    },
    onClose(err) {
      if (finished) return;
      const c = conn;
      conn = undefined;
      if (headSeen && framing.kind === 'close' && !err) {
        complete(false);
        return;
      }
      // A reused keep-alive connection the upstream closed before answering: try once more on a new
      // one when the request can be sent again (idempotent, no body).
      if (!receivedAny && c?.reused && !retried && req.body === 'none' && IDEMPOTENT.has(req.method)) {
        retried = true;
        start(true);
        return;
      }
      const code = (err as NodeJS.ErrnoException | undefined)?.code;
      fail(
        headSeen ? new UpstreamFailure('closed', code ?? 'closed') : new UpstreamFailure('error', code ?? 'ECONNRESET'),
      );
    },
  };

  function send(c: Connection): void {
    conn = c;
    c.handler = handler;
    c.socket.write(head);
    if (req.body !== 'none' && body && !bodyListening && !bodyDone) {
      bodyListening = true;
      body.on('data', onBodyData);
      body.on('end', onBodyEnd);
      body.on('error', onBodyError);
    }
  }

  function start(fresh: boolean): void {
    cancelWait = pool.acquire(fresh, (err, c) => {
      cancelWait = () => undefined;
      if (err || !c) {
        fail(err ?? new UpstreamFailure('error', 'closed'));
        return;
      }
      if (finished) {
        pool.release(c, true);
        return;
      }
      send(c);
    });
  }

  try {
    head = serializeHead(req, hostHeader);
  } catch (err) {
    queueMicrotask(() => {
      fail(err instanceof UpstreamFailure ? err : new UpstreamFailure('error', 'bad-request'));
    });
    return { resume: () => undefined, abort: () => undefined };
  }
  pool.watch(deadline);
  start(false);

  return {
    resume() {
      if (!paused) return;
      paused = false;
      conn?.socket.resume();
    },
    abort() {
      discard();
    },
  };
}
