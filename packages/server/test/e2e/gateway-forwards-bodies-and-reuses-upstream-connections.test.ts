/**
 * The gateway's own HTTP/1.1 upstream client, judged by curl on the client side and node:http on the
 * upstream side: a chunked upload arrives whole and re-framed, a chunked answer reaches curl whole,
 * HEAD answers carry no body, one upstream connection serves many client connections, and an upstream
 * answer with ambiguous framing becomes a 502 that is audited with its reason.
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WEB, curlVia, makePki, startHarness, type Client, type Harness, type Run } from './gateway-harness.js';

describe('gateway: forwarding through its own upstream client', () => {
  let upstream: Server;
  let bad: NetServer;
  let h: Harness;
  let web: Client;
  let upstreamConnections = 0;
  const seen: { method: string; te: string | undefined; cl: string | undefined; sha: string; size: number }[] = [];

  beforeAll(async () => {
    upstream = createServer((req, res) => {
      const hash = createHash('sha256');
      let size = 0;
      req.on('data', (c: Buffer) => {
        hash.update(c);
        size += c.length;
      });
      req.on('end', () => {
        const sha = hash.digest('hex');
        seen.push({
          method: req.method ?? '',
          te: req.headers['transfer-encoding'],
          cl: req.headers['content-length'],
          sha,
          size,
        });
        if (req.method === 'HEAD') {
          res.writeHead(200, { 'content-length': '1000', 'x-head': 'yes' });
          res.end();
          return;
        }
        // A chunked answer in several writes: the size, then 100 KiB of a known pattern, then the hash.
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write(`${size}\n`);
        res.write('p'.repeat(100 * 1024));
        res.end(`\n${sha}\n`);
      });
    });
    upstream.on('connection', () => upstreamConnections++);
    upstream.keepAliveTimeout = 60_000;
    upstream.listen(0, '127.0.0.1');
    await once(upstream, 'listening');
    // An upstream whose answer announces two different lengths.
    bad = createNetServer((s) => {
      s.on('error', () => undefined);
      s.once('data', () => s.end('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!'));
    });
    bad.listen(0, '127.0.0.1');
    await once(bad, 'listening');
    const pki = makePki();
    h = await startHarness(
      {
        routes: [
          { name: 'bad', path: { prefix: '/bad' }, allow: [{ spiffeId: WEB }], upstream: 'bad' },
          { name: 'api', path: { prefix: '/' }, allow: [{ spiffeId: WEB }], upstream: 'app' },
        ],
        upstreams: {
          app: { url: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}` },
          bad: { url: `http://127.0.0.1:${(bad.address() as AddressInfo).port}` },
        },
      },
      { pki },
    );
    web = pki.client('web', { profile: 'client', names: { uri: [WEB] } });
  });

  afterAll(async () => {
    await h.close();
    upstream.closeAllConnections();
    upstream.close();
    bad.close();
  });

  const curl = (urlPath: string, extra: string[] = []): Promise<Run> => curlVia(h, web, urlPath, extra);

  it('carries a chunked upload whole to the upstream and a chunked answer whole to curl', async () => {
    const body = Buffer.alloc(300 * 1024);
    for (let i = 0; i < body.length; i++) body[i] = (i * 7 + 3) % 251;
    const file = path.join(h.pki.dir, 'upload.bin');
    writeFileSync(file, body);
    const sha = createHash('sha256').update(body).digest('hex');
    const r = await curl('/upload', ['-H', 'Transfer-Encoding: chunked', '--data-binary', `@${file}`]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`${body.length}\n${'p'.repeat(100 * 1024)}\n${sha}\n`);
    expect(seen.at(-1)).toMatchObject({ method: 'POST', te: 'chunked', cl: undefined, sha, size: body.length });
    const rec = await h.audit((a) => a.type === 'request' && a.path === '/upload');
    expect(rec).toMatchObject({ decision: 'allow', status: 200 });
  });

  it('sends a Content-Length upload as is, also after Expect: 100-continue (the upstream says 100 too)', async () => {
    const r = await curl('/fixed', ['--data-binary', 'twelve bytes', '-H', 'Expect: 100-continue']);
    expect(r.code).toBe(0);
    expect(r.stdout.startsWith('12\n')).toBe(true);
    expect(seen.at(-1)).toMatchObject({ method: 'POST', te: undefined, cl: '12', size: 12 });
  });

  it('answers HEAD with the upstream headers and no body', async () => {
    const r = await curl('/head', ['-I']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^HTTP\/1\.1 200/);
    expect(r.stdout.toLowerCase()).toContain('content-length: 1000');
    expect(r.stdout.toLowerCase()).toContain('x-head: yes');
  });

  it('serves many client connections over one kept upstream connection', async () => {
    const before = upstreamConnections;
    for (let i = 0; i < 5; i++) {
      const r = await curl(`/again/${i}`);
      expect(r.code).toBe(0);
    }
    expect(upstreamConnections - before).toBeLessThanOrEqual(1);
  });

  it('refuses an upstream answer with two lengths: 502 to the client, the reason in the audit', async () => {
    const r = await curl('/bad/x', ['-o', '/dev/null', '-w', '%{http_code}']);
    expect(r.stdout).toBe('502');
    const rec = await h.audit((a) => a.type === 'request' && a.path === '/bad/x');
    expect(rec.status).toBe(502);
    expect(rec.reason).toMatch(/;upstream-bad-response:bad-content-length$/);
  });
});
