/**
 * An upstream that dies in the middle of its response body: the gateway must not pass the truncated
 * body off as complete. The client connection is closed before the announced length arrives and the
 * request is audited as `upstream-aborted`; a whole response on the same upstream is forwarded intact.
 */
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WEB, makePki, raw, startHarness, type Client, type Harness } from './gateway-harness.js';

describe('gateway: an upstream that aborts its response', () => {
  let upstream: Server;
  let h: Harness;
  let web: Client;

  beforeAll(async () => {
    upstream = createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '100' });
      if (req.url === '/whole') {
        res.end('y'.repeat(100));
        return;
      }
      // Ten bytes of the hundred announced, then the connection is gone.
      res.write('x'.repeat(10), () => {
        res.socket?.destroy();
      });
    });
    upstream.listen(0, '127.0.0.1');
    await once(upstream, 'listening');
    const pki = makePki();
    h = await startHarness(
      {
        routes: [{ name: 'api', path: { prefix: '/' }, allow: [{ spiffeId: WEB }], upstream: 'app' }],
        upstreams: { app: { url: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}` } },
      },
      { pki },
    );
    web = pki.client('web', { profile: 'client', names: { uri: [WEB] } });
  });

  afterAll(async () => {
    await h.close();
    upstream.closeAllConnections();
    upstream.close();
  });

  it('closes the client connection before the announced length and audits upstream-aborted', async () => {
    const out = await raw(h, web, 'GET /cut HTTP/1.1\r\nHost: localhost\r\n\r\n');
    expect(out).toMatch(/^HTTP\/1\.1 200/);
    const body = out.slice(out.indexOf('\r\n\r\n') + 4);
    expect(body.length).toBeLessThan(100);
    const rec = await h.audit((a) => a.type === 'request' && a.path === '/cut');
    expect(rec.reason).toMatch(/;upstream-aborted$/);
    expect(rec.status).toBe(502);
  });

  it('forwards a whole response intact and audits it as allowed', async () => {
    const out = await raw(h, web, 'GET /whole HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
    expect(out.slice(out.indexOf('\r\n\r\n') + 4)).toBe('y'.repeat(100));
    const rec = await h.audit((a) => a.type === 'request' && a.path === '/whole');
    expect(rec).toMatchObject({ decision: 'allow', status: 200 });
  });
});
