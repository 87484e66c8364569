import { once } from 'node:events';
import { connect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WEB, raw, startHarness, type Client, type Harness } from './gateway-harness.js';

/** Smuggling, oversized and slow requests cost bounded time and memory and never reach the upstream. */
describe('gateway refuses request smuggling, huge headers and slow requests', () => {
  let h: Harness;
  let web: Client;

  beforeAll(async () => {
    h = await startHarness({
      routes: [
        { name: 'admin', path: { prefix: '/admin' }, allow: [], upstream: 'app' },
        { name: 'api', path: { prefix: '/api' }, allow: [{ spiffeId: WEB }], upstream: 'app' },
      ],
      http: { headersTimeout: '1s', requestTimeout: '5s', maxHeaderSize: 4096 },
    });
    web = h.pki.client('web', { profile: 'client', names: { uri: [WEB] } });
  });
  afterAll(async () => {
    await h.close();
  });

  const statusOf = (res: string): number => Number(/^HTTP\/1\.1 (\d{3})/.exec(res)?.[1] ?? 0);
  const statuses = (res: string): number[] => [...res.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));

  it.each([
    ['CL + TE', 'Content-Length: 4\r\nTransfer-Encoding: chunked\r\n', 'ambiguous-framing'],
    ['TE + CL', 'Transfer-Encoding: chunked\r\nContent-Length: 4\r\n', 'ambiguous-framing'],
    ['TE obfuscated', 'Transfer-Encoding: xchunked\r\n', 'ambiguous-framing'],
    ['TE list', 'Transfer-Encoding: gzip, chunked\r\n', 'ambiguous-framing'],
    ['two TE fields', 'Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n', 'ambiguous-framing'],
    ['two CLs', 'Content-Length: 4\r\nContent-Length: 5\r\n', 'duplicate-content-length'],
    ['a CL list', 'Content-Length: 4, 4\r\n', 'bad-content-length'],
    ['TE with space before colon', 'Transfer-Encoding : chunked\r\n', 'bad-header'],
    ['an obs-folded TE', 'X-A: 1\r\n Transfer-Encoding: chunked\r\n', 'obs-fold'],
    ['a second Host', 'Host: other\r\n', 'duplicate-host'],
  ])('%s is refused with 400, audited, and nothing reaches the upstream', async (_name, framing, code) => {
    const before = h.upstream.requests.length;
    const res = await raw(
      h,
      web,
      `POST /api/x HTTP/1.1\r\nHost: localhost\r\n${framing}\r\n0\r\n\r\nGET /admin HTTP/1.1\r\nHost: localhost\r\n\r\n`,
    );
    expect(statuses(res)).toEqual([400]);
    expect(h.upstream.requests.length).toBe(before);
    expect(h.audits.at(-1)).toMatchObject({
      type: 'request',
      identity: WEB,
      decision: 'deny',
      reason: `parse-error:${code}`,
      status: 400,
    });
  });

  it('pipelined requests are each authorized: the second, to a denied route, gets 403', async () => {
    const before = h.upstream.requests.length;
    const res = await raw(
      h,
      web,
      'POST /api/x HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\r\nhelloGET /admin HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n',
    );
    expect(res).toMatch(/^HTTP\/1\.1 200[\s\S]*HTTP\/1\.1 403/);
    const reached = h.upstream.requests.slice(before);
    expect(reached.map((r) => [r.url, r.body])).toEqual([['/api/x', 'hello']]);
  });

  it('forwards a chunked body re-framed by the gateway', async () => {
    const res = await raw(
      h,
      web,
      'POST /api/chunked HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n',
    );
    expect(statusOf(res)).toBe(200);
    expect(h.upstream.requests.at(-1)).toMatchObject({ url: '/api/chunked', body: 'hello world' });
  });

  it('answers headers larger than maxHeaderSize with 431', async () => {
    const res = await raw(h, web, `GET /api/x HTTP/1.1\r\nHost: localhost\r\nX-Big: ${'a'.repeat(8000)}\r\n\r\n`);
    expect(statusOf(res)).toBe(431);
  });

  it('closes a slowloris connection once headersTimeout passes (waits for the close, not a timer)', async () => {
    const socket = connect({
      host: '127.0.0.1',
      port: h.port,
      servername: 'localhost',
      ca: h.pki.ca.root.pem,
      cert: web.chainPem,
      key: web.keyPem,
    });
    await once(socket, 'secureConnect');
    const started = performance.now();
    socket.write('GET /api/x HTTP/1.1\r\nHost: localhost\r\nX-Slow: ');
    let got = '';
    socket.on('data', (c: Buffer) => (got += c.toString('latin1')));
    socket.on('error', () => undefined);
    await once(socket, 'close');
    expect(got === '' || /^HTTP\/1\.1 408/.test(got)).toBe(true);
    // Bounded: closed by the server well before the test's own timeout.
    expect(performance.now() - started).toBeLessThan(30_000);
  });
});
