/**
 * The gateway's request reader beside Node's own HTTP server (llhttp, strict mode) on the same bytes: a corpus of
 * request lines, header fields, lengths, transfer codings and chunked bodies, each sent over real TCP to both.
 * Whatever Node refuses, the gateway must refuse too; where both accept, they must agree on method, target and
 * the body they read. The requests the gateway alone refuses are listed, so a change in either shows up here.
 */
import { once } from 'node:events';
import { createServer as createHttpServer, type IncomingMessage } from 'node:http';
import { connect, createServer, type AddressInfo, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Http1Server, type Http1Request } from './http1.js';

interface Outcome {
  readonly accepted: boolean;
  /** `METHOD target body` of each request handed on, in order. */
  readonly requests: string[];
}

const CRLF = '\r\n';
const base = (head: string, body = ''): string => `${head}${CRLF}${CRLF}${body}`;

/** Every case: a name and the bytes sent. */
function corpus(): [string, string][] {
  const cases: [string, string][] = [];
  const add = (name: string, bytes: string): void => {
    cases.push([name, bytes]);
  };
  // Request lines.
  for (const line of [
    'GET / HTTP/1.1',
    'GET  / HTTP/1.1',
    'GET / HTTP/1.1 ',
    'GET /\tHTTP/1.1',
    ' GET / HTTP/1.1',
    'get / HTTP/1.1',
    'GET / HTTP/1.10',
    'GET / HTTP/01.1',
    'GET / HTTP/1',
    'GET / HTTP/2.0',
    'GET / HTTP/0.9',
    'GET /a?b#c HTTP/1.1',
    'GET /caf\xe9 HTTP/1.1',
    'GET /a\x7fb HTTP/1.1',
    'GET /a\x00b HTTP/1.1',
    'GET * HTTP/1.1',
    'G@T / HTTP/1.1',
    'GET / http/1.1',
    'GET',
  ])
    add(`request line ${JSON.stringify(line)}`, base(`${line}${CRLF}Host: a`));
  // Header field syntax.
  for (const field of [
    'X-A: 1',
    'X-A:1',
    'X-A:\t1\t',
    'X-A : 1',
    'X-A\t: 1',
    ' X-A: 1',
    'X A: 1',
    'X-A',
    ': 1',
    'X-A: 1\x00',
    'X-A: 1\x01',
    'X-A: 1\x7f',
    'X-A: 1\x0b',
    'X-A: caf\xe9',
    'X-A: a\rb',
    'X-A: a\nb',
    'X-\xe9: 1',
    'X-A: 1\r\n\t2',
  ])
    add(`field ${JSON.stringify(field)}`, base(`GET / HTTP/1.1${CRLF}Host: a${CRLF}${field}`));
  // Line ends.
  add('LF line ends', 'GET / HTTP/1.1\nHost: a\n\n');
  add('LF after the request line', 'GET / HTTP/1.1\nHost: a\r\n\r\n');
  add('CR CR LF', 'GET / HTTP/1.1\r\r\nHost: a\r\n\r\n');
  add('empty lines before the request line', '\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n');
  // Host.
  add('no Host in 1.1', base('GET / HTTP/1.1'));
  add('no Host in 1.0', base('GET / HTTP/1.0'));
  add('two Hosts', base(`GET / HTTP/1.1${CRLF}Host: a${CRLF}Host: b`));
  add('empty Host', base(`GET / HTTP/1.1${CRLF}Host:`));
  // Content-Length.
  for (const cl of [
    '5',
    '05',
    ' 5',
    '5 ',
    '+5',
    '-5',
    '5,5',
    '5, 5',
    '0x5',
    '',
    '1e1',
    '5\x0b',
    '99999999999999999999',
  ])
    add(
      `Content-Length ${JSON.stringify(cl)}`,
      base(`POST / HTTP/1.1${CRLF}Host: a${CRLF}Content-Length: ${cl}`, 'hello'),
    );
  add(
    'two equal Content-Lengths',
    base(`POST / HTTP/1.1${CRLF}Host: a${CRLF}Content-Length: 5${CRLF}Content-Length: 5`, 'hello'),
  );
  add(
    'two Content-Lengths',
    base(`POST / HTTP/1.1${CRLF}Host: a${CRLF}Content-Length: 5${CRLF}Content-Length: 6`, 'hello!'),
  );
  add('Content_Length', base(`POST / HTTP/1.1${CRLF}Host: a${CRLF}Content_Length: 5`, 'hello'));
  // Transfer-Encoding.
  const chunked = `5${CRLF}hello${CRLF}0${CRLF}${CRLF}`;
  for (const te of [
    'chunked',
    'Chunked',
    ' chunked',
    'chunked ',
    'chunked,',
    ',chunked',
    'gzip, chunked',
    'chunked, gzip',
    'identity',
    'x',
    'chunked\x0b',
    '"chunked"',
  ])
    add(
      `Transfer-Encoding ${JSON.stringify(te)}`,
      base(`POST / HTTP/1.1${CRLF}Host: a${CRLF}Transfer-Encoding: ${te}`, chunked),
    );
  add(
    'TE and CL',
    base(`POST / HTTP/1.1${CRLF}Host: a${CRLF}Transfer-Encoding: chunked${CRLF}Content-Length: 3`, chunked),
  );
  add(
    'CL and TE',
    base(`POST / HTTP/1.1${CRLF}Host: a${CRLF}Content-Length: 3${CRLF}Transfer-Encoding: chunked`, chunked),
  );
  add(
    'two TEs',
    base(`POST / HTTP/1.1${CRLF}Host: a${CRLF}Transfer-Encoding: chunked${CRLF}Transfer-Encoding: chunked`, chunked),
  );
  add('TE from 1.0', base(`POST / HTTP/1.0${CRLF}Transfer-Encoding: chunked`, chunked));
  add('Transfer_Encoding', base(`POST / HTTP/1.1${CRLF}Host: a${CRLF}Transfer_Encoding: chunked`, chunked));
  // Chunked bodies.
  for (const [name, body] of [
    ['plain', chunked],
    ['size with leading zero', `05${CRLF}hello${CRLF}0${CRLF}${CRLF}`],
    ['upper-case hex', `A${CRLF}0123456789${CRLF}0${CRLF}${CRLF}`],
    ['extension', `5;a=b${CRLF}hello${CRLF}0${CRLF}${CRLF}`],
    ['extension after space', `5 ;a${CRLF}hello${CRLF}0${CRLF}${CRLF}`],
    ['space after size', `5 ${CRLF}hello${CRLF}0${CRLF}${CRLF}`],
    ['space before size', ` 5${CRLF}hello${CRLF}0${CRLF}${CRLF}`],
    ['0x size', `0x5${CRLF}hello${CRLF}0${CRLF}${CRLF}`],
    ['negative size', `-5${CRLF}hello${CRLF}0${CRLF}${CRLF}`],
    ['huge size', `ffffffffffffffffff${CRLF}hello${CRLF}0${CRLF}${CRLF}`],
    ['data longer than the size', `3${CRLF}hello${CRLF}0${CRLF}${CRLF}`],
    ['LF after data', `5${CRLF}hello\n0${CRLF}${CRLF}`],
    ['LF after size', `5\nhello${CRLF}0${CRLF}${CRLF}`],
    ['trailer', `5${CRLF}hello${CRLF}0${CRLF}X-T: 1${CRLF}${CRLF}`],
    ['bad trailer', `5${CRLF}hello${CRLF}0${CRLF}X T: 1${CRLF}${CRLF}`],
    ['obs-folded trailer', `5${CRLF}hello${CRLF}0${CRLF}X-T: 1${CRLF} 2${CRLF}${CRLF}`],
  ])
    add(`chunked body: ${name}`, base(`POST / HTTP/1.1${CRLF}Host: a${CRLF}Transfer-Encoding: chunked`, body));
  // Expect, upgrade, pipelining.
  add(
    'Expect 100-continue',
    base(`POST / HTTP/1.1${CRLF}Host: a${CRLF}Expect: 100-continue${CRLF}Content-Length: 5`, 'hello'),
  );
  add(
    'pipelined',
    `${base(`GET /1 HTTP/1.1${CRLF}Host: a`)}${base(`POST /2 HTTP/1.1${CRLF}Host: a${CRLF}Content-Length: 2`, 'hi')}${base(`GET /3 HTTP/1.1${CRLF}Host: a`)}`,
  );
  return cases;
}

/** Sends the bytes (with a final request asking to close) and collects what a server handed on. */
async function run(port: number, bytes: string, seen: string[]): Promise<Outcome> {
  const before = seen.length;
  const socket = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  socket.on('error', () => undefined);
  await once(socket, 'connect');
  let got = '';
  socket.on('data', (d: Buffer) => (got += d.toString('latin1')));
  socket.end(Buffer.from(bytes, 'latin1'));
  await new Promise<void>((resolve) => {
    socket.on('close', () => {
      resolve();
    });
    socket.on('end', () => {
      socket.end();
    });
  });
  const requests = seen.slice(before);
  // Refused: the server answered 4xx/5xx for the bytes (or handed on nothing at all).
  const refused = /HTTP\/1\.1 (4|5)\d\d /.test(got) || requests.length === 0;
  return { accepted: !refused, requests };
}

describe('gateway request reader beside node:http (llhttp)', () => {
  const nodeSeen: string[] = [];
  const oursSeen: string[] = [];
  let nodePort = 0;
  let oursPort = 0;
  const servers: Server[] = [];
  let h1: Http1Server;

  beforeAll(async () => {
    const node = createHttpServer(
      { insecureHTTPParser: false, requireHostHeader: true },
      (req: IncomingMessage, res) => {
        let body = '';
        req.setEncoding('latin1');
        req.on('data', (c: string) => (body += c));
        req.on('end', () => {
          nodeSeen.push(`${req.method ?? ''} ${req.url ?? ''} ${body}`);
          res.writeHead(200, { 'content-length': '0' });
          res.end();
        });
      },
    );
    h1 = new Http1Server(
      { maxHeaderSize: 16384, headersTimeout: 10_000, requestTimeout: 10_000, keepAliveTimeout: 10_000 },
      {
        onRequest(req: Http1Request, res) {
          const reply = (body: string): void => {
            oursSeen.push(`${req.method} ${req.target} ${body}`);
            res.sendContinue();
            res.writeHead(200, 'OK', { 'content-length': '0' });
            res.end();
          };
          if (!req.source) {
            reply('');
            return;
          }
          res.sendContinue();
          const chunks: Buffer[] = [];
          req.source.on('data', (c: Buffer) => chunks.push(c));
          req.source.on('end', () => {
            reply(Buffer.concat(chunks).toString('latin1'));
          });
          req.source.on('error', () => undefined);
        },
        onUpgrade(_req, socket) {
          socket.destroy();
        },
        onRefused() {
          // answered by the reader
        },
      },
      3_600_000,
    );
    const ours = createServer({ allowHalfOpen: true }, (socket) => {
      socket.on('error', () => undefined);
      h1.serve(socket);
    });
    for (const s of [node, ours]) {
      s.listen(0, '127.0.0.1');
      await once(s, 'listening');
      servers.push(s);
    }
    nodePort = (node.address() as AddressInfo).port;
    oursPort = (ours.address() as AddressInfo).port;
  });
  afterAll(() => {
    h1.close();
    for (const s of servers) s.close();
  });

  it('never hands on a request Node would not, or another one; refuses only the listed extras', async () => {
    const stricter: string[] = [];
    const disagreements: string[] = [];
    for (const [name, bytes] of corpus()) {
      const n = await run(nodePort, bytes, nodeSeen);
      const o = await run(oursPort, bytes, oursSeen);
      // What the gateway hands on must be what Node hands on, or the start of it (the gateway stopped earlier).
      const prefix = o.requests.every((r, i) => n.requests[i] === r);
      if (!prefix || o.requests.length > n.requests.length)
        disagreements.push(`${name}: node ${JSON.stringify(n.requests)} / gateway ${JSON.stringify(o.requests)}`);
      else if (o.requests.length < n.requests.length) stricter.push(name);
      if (!n.accepted && o.accepted) disagreements.push(`${name}: node answered with an error, the gateway did not`);
    }
    expect(disagreements).toEqual([]);
    // Stricter on purpose (ADR 0022): one space between request-line parts, HTTP/1.0 and 1.1 only, one Host
    // (RFC 9112 §3.2), Transfer-Encoding exactly `chunked` (no empty list elements, no other coding) and never from
    // an HTTP/1.0 client.
    expect(stricter).toEqual([
      'request line "GET  / HTTP/1.1"',
      'request line "GET / HTTP/2.0"',
      'request line "GET / HTTP/0.9"',
      'two Hosts',
      'Transfer-Encoding ",chunked"',
      'Transfer-Encoding "gzip, chunked"',
      'TE from 1.0',
    ]);
  });
});
