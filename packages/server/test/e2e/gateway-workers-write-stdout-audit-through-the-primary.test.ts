import { EventEmitter } from 'node:events';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { runGateway, type RunningGatewayProcesses } from '../../src/index.js';
import {
  WEB,
  gatewayConfig,
  get,
  makePki,
  startUpstream,
  writeConfig,
  type Pki,
  type Upstream,
} from './gateway-harness.js';

/**
 * runGateway (the composition root `mutual gateway` uses) with `audit.file: "-"`: one process writes
 * its records to stdout; with two workers they send their lines to the primary, which writes each
 * one whole to its stdout; reload() reaches every worker; close() ends them.
 */
describe('gateway workers with audit to stdout', () => {
  let running: RunningGatewayProcesses | undefined;
  let upstream: Upstream | undefined;
  afterEach(async () => {
    await running?.close();
    await upstream?.close();
  });

  const start = async (
    workers: number,
  ): Promise<{ chunks: string[]; until: (n: number) => Promise<void>; logs: string[]; port: number; pki: Pki }> => {
    const pki = makePki();
    upstream = await startUpstream();
    const configFile = writeConfig(
      pki,
      gatewayConfig(pki, upstream.url, {
        routes: [{ name: 'api', path: { prefix: '/' }, allow: [{ spiffeId: WEB }], upstream: 'app' }],
        audit: { file: '-' },
        workers,
        watch: false,
      }),
    );
    const chunks: string[] = [];
    const wrote = new EventEmitter();
    const stdout = new Writable({
      write(chunk: Buffer | string, _encoding, callback) {
        chunks.push(chunk.toString());
        wrote.emit('chunk');
        callback();
      },
    });
    const logs: string[] = [];
    running = await runGateway({
      configFile,
      env: {},
      stdout,
      sighup: false,
      log: (level, message) => logs.push(`${level} ${message}`),
    });
    const until = (n: number): Promise<void> =>
      new Promise<void>((resolve) => {
        const check = (): void => {
          if (chunks.length >= n) {
            wrote.off('chunk', check);
            resolve();
          }
        };
        wrote.on('chunk', check);
        check();
      });
    return { chunks, until, logs, port: running.listeners[0]?.port ?? 0, pki };
  };

  it('one process (workers: 1) writes audit records to stdout, not to a file named "-"', async () => {
    const { chunks, until, port, pki } = await start(1);
    expect(running?.workers).toBe(1);
    expect(running?.pids()).toEqual([process.pid]);
    const web = pki.client('web', { profile: 'client', names: { uri: [WEB] } });
    expect((await get({ port, pki }, '/one', { client: web })).status).toBe(200);
    await until(1);
    expect(JSON.parse(chunks[0] ?? '')).toMatchObject({ path: '/one', status: 200, identity: WEB });
    expect(existsSync(path.join(pki.dir, '-'))).toBe(false);
  });

  it('every audit line arrives whole at the primary, from both workers', async () => {
    const { chunks, until, logs, port, pki } = await start(2);
    const r = running as RunningGatewayProcesses;
    expect(r.workers).toBe(2);
    const pids = r.pids();
    expect(new Set(pids).size).toBe(2);
    expect(pids).not.toContain(process.pid);

    const web = pki.client('web', { profile: 'client', names: { uri: [WEB] } });
    for (let i = 0; i < 10; i++) expect((await get({ port, pki }, `/n${i}`, { client: web })).status).toBe(200);
    await until(10);
    // One chunk per record, each a whole JSON line.
    const records = chunks.map((c) => {
      expect(c.endsWith('\n')).toBe(true);
      expect(c.indexOf('\n')).toBe(c.length - 1);
      return JSON.parse(c) as { path: string; status: number };
    });
    expect(records.map((x) => x.path).sort()).toEqual(Array.from({ length: 10 }, (_, i) => `/n${i}`).sort());
    expect(existsSync(path.join(pki.dir, '-'))).toBe(false);

    expect(await r.reload()).toEqual({ ok: true });
    expect(logs).toContain('info gateway reloaded');

    await r.close();
    running = undefined;
    for (const pid of pids) expect(() => process.kill(pid, 0)).toThrow();
  });
});
