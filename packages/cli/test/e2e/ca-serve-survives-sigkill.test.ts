import 'reflect-metadata';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CaClient } from '@mutual/sdk';
import type { CertificateResponse } from '@mutual/sdk/contract';
import { openSqliteStore } from '@mutual/server';
import { createKeyAndCsr } from '../../src/csr.js';
import { BIN, mutual, startUntil, tempDir, waitExit } from '../support.js';

// The CA is SIGKILLed while 40 enrollments are in flight, four times over. Whatever a client
// received must be recorded as issued, no serial may appear twice, a used token never works again,
// and the audit chain must still verify.
describe('ca serve under SIGKILL during issuance', () => {
  it('never delivers a certificate without a record and never reuses a serial or a token', async () => {
    const work = tempDir();
    const ca = path.join(work, 'ca');
    expect((await mutual(['ca', 'init', '--dir', ca])).code).toBe(0);
    const root = readFileSync(path.join(ca, 'root.crt'));
    const admin = {
      cert: readFileSync(path.join(ca, 'admin', 'admin.crt')),
      key: readFileSync(path.join(ca, 'admin', 'admin.key')),
    };
    const delivered: { res: CertificateResponse; token: string }[] = [];
    // Tokens are bound to the CA's URL (their audience): restart on the same port, as a real CA would.
    let listen = '127.0.0.1:0';
    const start = async (): Promise<{ stop: () => Promise<number | null>; url: string; kill: () => void }> => {
      const s = await startUntil(
        process.execPath,
        [BIN, 'ca', 'serve', '--dir', ca, '--listen', listen],
        /listening on (https:\/\/\S+)/,
      );
      listen = new URL(s.match[1] ?? '').host;
      return {
        url: s.match[1] ?? '',
        kill: () => s.child.kill('SIGKILL'),
        stop: async () => {
          s.child.kill('SIGTERM');
          return waitExit(s.child);
        },
      };
    };

    for (let round = 0; round < 4; round++) {
      const server = await start();
      const adminClient = new CaClient({ url: server.url, ca: root, ...admin });
      const tokens = await Promise.all(
        Array.from({ length: 40 }, (_, i) =>
          adminClient.createToken({
            names: { dns: [`r${round}-w${i}.internal`], ip: [], uri: [], email: [] },
            profile: 'client',
            ttl: '10m',
          }),
        ),
      );
      const csrs = await Promise.all(
        tokens.map((_, i) =>
          createKeyAndCsr('p256', { dns: [`r${round}-w${i}.internal`], ip: [], uri: [], email: [] }),
        ),
      );
      const client = new CaClient({ url: server.url, ca: root });
      let received = 0;
      const killAfter = 5 + round * 7; // a different point of the load each round
      await Promise.allSettled(
        tokens.map(async (t, i) => {
          const res = await client.sign({ token: t.token, csr: csrs[i]?.csrPem ?? '' });
          delivered.push({ res, token: t.token });
          if (++received === killAfter) server.kill();
        }),
      );
      if (received < killAfter) server.kill(); // all finished before the kill point: still crash it
    }

    // Restart: every delivered certificate is on record as issued, with the same fingerprint.
    const store = await openSqliteStore({ file: path.join(ca, 'mutual.db') });
    try {
      for (const { res } of delivered) {
        const der = new X509Certificate(res.certificate);
        const rec = await store.findByFingerprint(der.fingerprint256.replace(/:/g, '').toLowerCase());
        expect(rec?.status, `record of ${res.serial}`).toBe('issued');
        expect(rec?.serial).toBe(res.serial);
      }
      const all = await store.listCertificates({ now: new Date(), limit: 1000 });
      const serials = all.items.map((c) => c.serial);
      expect(new Set(serials).size).toBe(serials.length);
      expect(await store.verifyAuditChain()).toMatchObject({ ok: true });
    } finally {
      await store.close();
    }
    expect(delivered.length).toBeGreaterThan(0);
    expect(delivered.length).toBeLessThan(160); // the kills really cut requests off

    // A token whose certificate was delivered never works again, even after the crashes.
    const server = await start();
    try {
      const client = new CaClient({ url: server.url, ca: root });
      const first = delivered[0];
      if (first === undefined) throw new Error('nothing delivered');
      const name = new X509Certificate(first.res.certificate).subjectAltName?.replace('DNS:', '') ?? '';
      const { csrPem } = await createKeyAndCsr('p256', { dns: [name], ip: [], uri: [], email: [] });
      await expect(client.sign({ token: first.token, csr: csrPem })).rejects.toMatchObject({
        code: 'ERR_TOKEN_REPLAYED',
      });
    } finally {
      expect(await server.stop()).toBe(0);
    }
  }, 180_000);
});
