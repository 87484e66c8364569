// Pins with `until`: an operator pins the next certificate beside the current one and gives the
// current pin an end; the gateway stops accepting it at that time without a reload, and closes
// the open connections that relied on it.
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { Agent } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { describe, expect, it } from 'vitest';
import { WEB, get, makePki, startHarness } from './gateway-harness.js';

const sha = (der: Uint8Array): string => createHash('sha256').update(der).digest('hex');
const HOUR = 3_600_000;
const routes = [{ name: 'all', path: { prefix: '/' }, allow: [{ spiffeId: WEB }], upstream: 'app' }];

describe('gateway: pins with an end', () => {
  it('a pin past its until no longer admits; the next pin does; a route pin ends the same way', async () => {
    const pki = makePki();
    const current = pki.client('current', { profile: 'client', names: { uri: [WEB] } });
    const next = pki.client('next', { profile: 'client', names: { uri: [WEB] } });
    const t0 = Date.now();
    let now = t0;
    const until = new Date(t0 + HOUR).toISOString();
    const h = await startHarness(
      {
        routes: [
          ...routes
            .map((r) => ({ ...r, name: 'pinned', path: { prefix: '/pinned' } }))
            .map((r) => ({
              ...r,
              pins: [{ certificate: sha(current.cert.der), until }, { certificate: sha(next.cert.der) }],
            })),
          ...routes,
        ],
        listener: {
          clientAuth: { pins: [{ certificate: sha(current.cert.der), until }, { certificate: sha(next.cert.der) }] },
        },
      },
      { pki, now: () => new Date(now) },
    );
    try {
      expect((await get(h, '/hello', { client: current })).status).toBe(200);
      expect((await get(h, '/pinned/a', { client: current })).status).toBe(200);
      expect((await get(h, '/hello', { client: next })).status).toBe(200);

      now = t0 + 2 * HOUR; // the gateway's clock passes the current pin's end
      expect((await get(h, '/hello', { client: current })).status).toBe(403);
      expect(
        await h.audit((a) => a.type === 'handshake' && a.reason === 'PIN_MISMATCH' && a.decision === 'refused'),
      ).toMatchObject({ listener: 'main' });
      expect((await get(h, '/hello', { client: next })).status).toBe(200);
      expect((await get(h, '/pinned/b', { client: next })).status).toBe(200);
    } finally {
      await h.close();
    }
  });

  it('closes an open connection that relied on a pin when the pin ends, without a reload', async () => {
    const pki = makePki();
    const current = pki.client('current', { profile: 'client', names: { uri: [WEB] } });
    const next = pki.client('next', { profile: 'client', names: { uri: [WEB] } });
    // A real clock here: the gateway's timer fires at the pin's end, 1.5 s from now.
    const until = new Date(Date.now() + 1500).toISOString();
    const h = await startHarness(
      {
        routes,
        listener: {
          clientAuth: { pins: [{ certificate: sha(current.cert.der), until }, { certificate: sha(next.cert.der) }] },
        },
      },
      { pki },
    );
    try {
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      const nextAgent = new Agent({ keepAlive: true, maxSockets: 1 });
      let socket: TLSSocket | undefined;
      const first = await get(h, '/hello', { client: current, agent });
      expect(first.status).toBe(200);
      expect((await get(h, '/hello', { client: next, agent: nextAgent })).status).toBe(200);
      socket = Object.values(agent.sockets).flat()[0] as TLSSocket | undefined;
      socket ??= Object.values(agent.freeSockets).flat()[0] as TLSSocket | undefined;
      expect(socket).toBeDefined();
      const closedRecord = h.audit(
        (a) =>
          a.type === 'handshake' &&
          a.reason === 'PIN_MISMATCH' &&
          (a.detail ?? '').startsWith('open connection closed'),
      );
      await once(socket as TLSSocket, 'close');
      expect(await closedRecord).toMatchObject({ listener: 'main' });
      // The other client's connection stays, and its pin keeps admitting it.
      expect((await get(h, '/hello', { client: next, agent: nextAgent })).status).toBe(200);
      agent.destroy();
      nextAgent.destroy();
    } finally {
      await h.close();
    }
  });
});
