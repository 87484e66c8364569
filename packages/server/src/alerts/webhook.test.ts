import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deliverWebhook } from './index.js';

// A real HTTP receiver answering with the queued statuses (then 200); the backoff waits are recorded, not slept.
const statuses: number[] = [];
const bodies: unknown[] = [];
let server: Server;
let url = '';
beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      bodies.push({ json: JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown, auth: req.headers['x-auth'] });
      res.writeHead(statuses.shift() ?? 200).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
});
afterAll(async () => {
  await new Promise((r) => server.close(r));
});

describe('deliverWebhook', () => {
  it('POSTs JSON with the configured headers and retries with exponential backoff until a 2xx', async () => {
    statuses.push(500, 503);
    bodies.length = 0;
    const waits: number[] = [];
    const outcome = await deliverWebhook(
      { url, headers: { 'x-auth': 'k' }, timeoutMs: 5000, retries: 3 },
      { hello: 'world' },
      { retryBaseMs: 100, wait: (ms) => (waits.push(ms), Promise.resolve()) },
    );
    expect(outcome).toEqual({ delivered: true, attempts: 3, lastError: null });
    expect(waits).toEqual([100, 200]);
    expect(bodies).toEqual(Array.from({ length: 3 }, () => ({ json: { hello: 'world' }, auth: 'k' })));
  });

  it('gives up after 1 + retries attempts and says why; an unreachable URL is a failure, not a throw', async () => {
    statuses.push(500, 500, 500);
    const waits: number[] = [];
    const wait = (ms: number): Promise<void> => (waits.push(ms), Promise.resolve());
    expect(
      await deliverWebhook({ url, headers: {}, timeoutMs: 5000, retries: 2 }, {}, { retryBaseMs: 10, wait }),
    ).toEqual({ delivered: false, attempts: 3, lastError: 'HTTP 500' });
    expect(waits).toEqual([10, 20]);
    const closed = await deliverWebhook(
      { url: 'http://127.0.0.1:1/hook', headers: {}, timeoutMs: 5000, retries: 0 },
      {},
      { retryBaseMs: 10, wait },
    );
    expect([closed.delivered, closed.attempts]).toEqual([false, 1]);
    expect(closed.lastError).toMatch(/ECONNREFUSED/);
  });
});
