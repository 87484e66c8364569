import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { Agent } from 'node:https';
import { connect } from 'node:tls';
import { parse, stringify } from 'yaml';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestCa } from '../../src/pki/test-support.js';
import type { GatewayReloadResult } from '../../src/index.js';
import { BATCH, WEB, get, startHarness, writeAtomic, type Client, type Harness } from './gateway-harness.js';

const sha = (der: Uint8Array): string => createHash('sha256').update(der).digest('hex');

describe('gateway hot reload', () => {
  let h: Harness;
  let web: Client;
  let batch: Client;

  beforeAll(async () => {
    h = await startHarness(
      { routes: [{ name: 'api', path: { prefix: '/' }, allow: [{ spiffeId: WEB }], upstream: 'app' }] },
      { sighup: true },
    );
    web = h.pki.client('web', { profile: 'client', names: { uri: [WEB] } });
    batch = h.pki.client('batch', { profile: 'client', names: { uri: [BATCH] } });
  });
  afterAll(async () => {
    await h.close();
  });

  /** Waits for reloads until one succeeds. */
  const reloaded = async (): Promise<void> => {
    for (;;) {
      const r = await h.nextReload();
      if (r.ok) return;
    }
  };

  it('rotates the server certificate under continuous load with zero failed requests', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 4 });
    let stop = false;
    let ok = 0;
    let failed = 0;
    const errors: string[] = [];
    const seen = new Set<string>();
    const rotation: { fingerprint?: string } = {};
    let okAfterRotation = 0;
    let onProgress: (() => void) | undefined;
    const loop = async (keepAlive: boolean): Promise<void> => {
      while (!stop) {
        try {
          const r = await get(h, '/load', {
            client: web,
            ...(keepAlive ? { agent } : {}),
            onServerCert: (fp) => seen.add(fp),
          });
          if (r.status === 200) {
            ok++;
            if (rotation.fingerprint !== undefined && seen.has(rotation.fingerprint)) okAfterRotation++;
          } else {
            failed++;
            errors.push(String(r.status));
          }
        } catch (err) {
          failed++;
          errors.push((err as Error).message);
        }
        onProgress?.();
      }
    };
    const loops = [loop(false), loop(false), loop(true), loop(true)];
    const reload = reloaded();
    const fresh = h.pki.rotateServer();
    const rotated = sha(fresh.der);
    rotation.fingerprint = rotated;
    await reload;
    // Keep the load running until new connections have been served the new certificate many times.
    await new Promise<void>((resolve) => {
      onProgress = () => {
        if (okAfterRotation >= 50) resolve();
      };
    });
    stop = true;
    await Promise.all(loops);
    agent.destroy();
    expect(errors).toEqual([]);
    expect(failed).toBe(0);
    expect(ok).toBeGreaterThan(50);
    expect(seen.has(rotated)).toBe(true);
    expect(seen.size).toBeGreaterThanOrEqual(2);
  });

  it('refuses invalid new material, keeps serving with the old and logs why', async () => {
    const certBefore = readFileSync(h.pki.serverCertFile, 'utf8');
    const next = h.gw.gateway.events;
    const result = new Promise<GatewayReloadResult>((resolve) => next.once('reload', resolve));
    // A certificate whose key is not the one in server.key.
    const other = h.pki.ca.issue({ profile: 'server', names: { dns: ['localhost'] } });
    writeAtomic(h.pki.serverCertFile, `${other.pem}\n`);
    const r = await result;
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.code).toBe('ERR_GATEWAY_MATERIAL_INVALID');
    expect(h.logs.some((l) => l.includes('reload refused') && l.includes('ERR_GATEWAY_MATERIAL_INVALID'))).toBe(true);
    let served = '';
    expect((await get(h, '/still', { client: web, onServerCert: (fp) => (served = fp) })).status).toBe(200);
    expect(served).not.toBe(sha(other.der));
    const restored = reloaded();
    writeAtomic(h.pki.serverCertFile, certBefore);
    await restored;
  });

  it('applies a changed policy to the next request on an already open connection', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    expect((await get(h, '/p', { client: batch, agent })).status).toBe(403);
    const cfg = parse(readFileSync(h.configFile, 'utf8')) as { listeners: { routes: { allow: unknown[] }[] }[] };
    cfg.listeners[0]!.routes[0]!.allow = [{ spiffeId: WEB }, { spiffeId: BATCH }];
    const reload = reloaded();
    writeAtomic(h.configFile, stringify(cfg));
    await reload;
    expect((await get(h, '/p', { client: batch, agent })).status).toBe(200);
    agent.destroy();
  });

  it('refuses a reload that changes a listener address, keeping the running one', async () => {
    const text = readFileSync(h.configFile, 'utf8');
    const cfg = parse(text) as { listeners: { listen: { port: number } }[] };
    cfg.listeners[0]!.listen.port = 1;
    writeFileSync(h.configFile, stringify(cfg));
    const r = await h.gw.reload();
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.code).toBe('ERR_GATEWAY_RELOAD_REFUSED');
    expect((await get(h, '/p', { client: web })).status).toBe(200);
    const restored = reloaded();
    writeAtomic(h.configFile, text);
    await restored;
  });

  it('applies a changed http.maxHeaderSize to the next request on an already open connection', async () => {
    const text = readFileSync(h.configFile, 'utf8');
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const big = { 'x-large': 'a'.repeat(6000) };
    expect((await get(h, '/h', { client: web, agent, headers: big })).status).toBe(200);
    const cfg = parse(text) as { http?: Record<string, unknown> };
    cfg.http = { ...cfg.http, maxHeaderSize: 4096 };
    const smaller = reloaded();
    writeAtomic(h.configFile, stringify(cfg));
    await smaller;
    expect((await get(h, '/h', { client: web, agent })).status).toBe(200);
    expect((await get(h, '/h', { client: web, agent, headers: big })).status).toBe(431);
    const restored = reloaded();
    writeAtomic(h.configFile, text);
    await restored;
    expect((await get(h, '/h', { client: web, headers: big })).status).toBe(200);
    agent.destroy();
  });

  it('reloads on SIGHUP', async () => {
    const reload = h.nextReload();
    process.emit('SIGHUP', 'SIGHUP');
    expect((await reload).ok).toBe(true);
  });

  it('closes open connections whose chain the new trust bundle no longer accepts', async () => {
    const socket = connect({
      host: '127.0.0.1',
      port: h.port,
      servername: 'localhost',
      ca: h.pki.ca.root.pem,
      cert: web.chainPem,
      key: web.keyPem,
    });
    await once(socket, 'secureConnect');
    socket.on('error', () => undefined);
    const closed = once(socket, 'close');
    const trustBefore = readFileSync(h.pki.trustFile, 'utf8');
    const reload = reloaded();
    // Trust only the root of another CA, plus the current root's successor would go here in a real rollover.
    writeAtomic(h.pki.trustFile, createTestCa({ now: new Date(), organization: 'next' }).root.pem + '\n');
    await reload;
    await closed;
    const rec = await h.audit((a) => a.type === 'handshake' && (a.detail ?? '').startsWith('open connection closed'));
    expect(rec).toMatchObject({ reason: 'UNKNOWN_ISSUER', identity: null });
    const back = reloaded();
    writeAtomic(h.pki.trustFile, trustBefore);
    await back;
  });
});
