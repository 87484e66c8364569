import { createHash, randomBytes, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { openSqliteStore } from '@mutual/server';
import { createKeyAndCsr } from '../packages/cli/src/csr.js';
import { initBenchCa, percentile, startServer } from './ca.js';

interface Options {
  /** Revoked, unexpired certificates already in the inventory, one CA per figure. */
  revoked: number[];
  /** Revocations made and timed through the API for each figure. */
  revocations: number;
}

const DAY = 86_400_000;

/** Seeds `n` revoked, unexpired certificates of the intermediate straight into the inventory (as earlier revocations). */
async function seed(file: string, issuerFingerprint: string, n: number): Promise<void> {
  const store = await openSqliteStore({ file });
  try {
    const now = new Date();
    for (let done = 0; done < n;) {
      const batch = Math.min(1000, n - done);
      await store.transaction(async (tx) => {
        for (let i = 0; i < batch; i++) {
          const serial = `4${randomBytes(15).toString('hex')}`;
          await tx.reserveSerial({
            serial,
            issuerFingerprint,
            profile: 'client',
            subject: '',
            commonName: null,
            identityKind: 'dns',
            identity: `seed${String(done + i)}.internal`,
            sans: { dns: [`seed${String(done + i)}.internal`], ip: [], uri: [], email: [] },
            keyType: 'p256',
            notBefore: now,
            notAfter: new Date(now.getTime() + 30 * DAY),
            requester: 'bench',
            createdAt: now,
          });
          await tx.completeIssuance(serial, {
            pem: 'seeded by the benchmark',
            fingerprintSha256: randomBytes(32).toString('hex'),
            spkiSha256: randomBytes(32).toString('hex'),
            issuedAt: now,
          });
          await tx.markRevoked(serial, { reason: 'superseded', revokedAt: now });
        }
      });
      done += batch;
    }
  } finally {
    await store.close();
  }
}

/** One HTTPS request over `agent`: status, body and the milliseconds it took. */
export function call(
  agent: Agent,
  url: URL,
  method: 'GET' | 'POST',
  pathname: string,
  payload?: unknown,
): Promise<{ status: number; body: Buffer; ms: number }> {
  return new Promise((resolve, reject) => {
    const body = payload === undefined ? undefined : JSON.stringify(payload);
    const t0 = performance.now();
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        path: pathname,
        method,
        agent,
        headers:
          body === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (d: Buffer) => chunks.push(d));
        res.on('end', () => {
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), ms: performance.now() - t0 });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** The DER of a serial's INTEGER as it appears in a CRL entry. */
function serialInteger(hex: string): Buffer {
  let content = Buffer.from(hex.length % 2 === 0 ? hex : `0${hex}`, 'hex');
  if ((content[0] ?? 0) & 0x80) content = Buffer.concat([Buffer.of(0), content]);
  return Buffer.concat([Buffer.of(0x02, content.length), content]);
}

/** Opens GET /v1/revocations without Last-Event-ID and reads until the replay ends (`: live`). */
function readFeedUntilLive(agent: Agent, url: URL): Promise<{ events: number; ms: number }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const req = request(
      { host: url.hostname, port: url.port, path: '/v1/revocations', agent, headers: { accept: 'text/event-stream' } },
      (res) => {
        let events = 0;
        let tail = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          const text = tail + chunk;
          for (let i = text.indexOf('event: revoked', tail.length > 13 ? tail.length - 13 : 0); i >= 0;) {
            events++;
            i = text.indexOf('event: revoked', i + 1);
          }
          if (text.includes(': live\n')) {
            resolve({ events, ms: performance.now() - t0 });
            req.destroy();
            return;
          }
          tail = text.slice(-16);
        });
      },
    );
    req.on('error', (err) => {
      if (!req.destroyed) reject(err);
    });
    req.end();
  });
}

/**
 * Revocation at scale: a CA whose CRL already lists `revoked` certificates starts (timed), then
 * `revocations` leaves are revoked through POST /v1/revoke one after another; for each, the time
 * until the API answered (commit, audit, CRL rebuilt, feed pushed) and until GET /v1/crl lists it,
 * while a probe asks GET /healthz every 2 ms and records how long the CA kept it waiting; then a
 * subscriber opens the revocation feed without Last-Event-ID and reads the replay of every listed
 * revocation, timed, with the same probe running.
 */
export async function runCrlBench(opts: Options): Promise<void> {
  for (const n of opts.revoked) {
    const work = mkdtempSync(path.join(os.tmpdir(), 'mutual-bench-crl-'));
    const dir = path.join(work, 'ca');
    await initBenchCa(dir, {});
    const intermediate = new X509Certificate(readFileSync(path.join(dir, 'intermediate.crt')));
    const fingerprint = createHash('sha256').update(intermediate.raw).digest('hex');
    const seedStart = performance.now();
    await seed(path.join(dir, 'mutual.db'), fingerprint, n);
    const seedSeconds = (performance.now() - seedStart) / 1000;

    const started = performance.now();
    const server = await startServer(dir, {});
    const startMs = performance.now() - started;
    const url = new URL(server.url);
    try {
      const root = readFileSync(path.join(dir, 'root.crt'));
      const admin = new Agent({
        keepAlive: true,
        ca: root,
        cert: readFileSync(path.join(dir, 'admin', 'admin.crt')),
        key: readFileSync(path.join(dir, 'admin', 'admin.key')),
      });
      const anon = new Agent({ keepAlive: true, ca: root });
      const probeAgent = new Agent({ keepAlive: true, maxSockets: 1, ca: root });

      // Leaves to revoke, issued through the API like any other.
      const serials: string[] = [];
      for (let i = 0; i < opts.revocations; i++) {
        const names = { dns: [`revoke${String(i)}.internal`], ip: [], uri: [], email: [] };
        const minted = await call(admin, url, 'POST', '/v1/tokens', { names, profile: 'client', ttl: '1h' });
        const { token } = JSON.parse(minted.body.toString('utf8')) as { token: string };
        const { csrPem } = await createKeyAndCsr('p256', names);
        const signed = await call(anon, url, 'POST', '/v1/sign', { token, csr: csrPem });
        if (signed.status !== 201)
          throw new Error(`sign: HTTP ${String(signed.status)} ${signed.body.toString('utf8')}`);
        serials.push((JSON.parse(signed.body.toString('utf8')) as { serial: string }).serial);
      }
      const first = await call(anon, url, 'GET', '/v1/crl');

      const probing = { on: true };
      const waits: number[] = [];
      const replayWaits: number[] = [];
      let sink = waits;
      const probe = (async () => {
        while (probing.on) {
          const t0 = performance.now();
          await call(probeAgent, url, 'GET', '/healthz');
          sink.push(performance.now() - t0);
          await new Promise((r) => setTimeout(r, 2));
        }
      })();

      const answered: number[] = [];
      const listed: number[] = [];
      let crlBytes = first.body.length;
      for (const serial of serials) {
        const t0 = performance.now();
        const revoked = await call(admin, url, 'POST', '/v1/revoke', { serial, reason: 'keyCompromise' });
        if (revoked.status !== 200) throw new Error(`revoke: HTTP ${String(revoked.status)}`);
        answered.push(performance.now() - t0);
        const needle = serialInteger(serial);
        for (;;) {
          const crl = await call(anon, url, 'GET', '/v1/crl');
          crlBytes = crl.body.length;
          if (crl.body.includes(needle)) break;
        }
        listed.push(performance.now() - t0);
      }
      // A gateway subscribing to the feed without Last-Event-ID: every unexpired revocation is replayed.
      sink = replayWaits;
      const replay = await readFeedUntilLive(anon, url);
      probing.on = false;
      await probe;
      for (const a of [admin, anon, probeAgent]) a.destroy();
      answered.sort((a, b) => a - b);
      listed.sort((a, b) => a - b);
      waits.sort((a, b) => a - b);
      replayWaits.sort((a, b) => a - b);
      console.log(
        JSON.stringify({
          bench: 'ca-crl',
          revokedBefore: n,
          seedSeconds: Number(seedSeconds.toFixed(1)),
          startMs: Math.round(startMs),
          crlBytesBefore: first.body.length,
          crlBytesAfter: crlBytes,
          revocations: serials.length,
          revokeAnsweredP50ms: Number(percentile(answered, 50).toFixed(1)),
          revokeAnsweredMaxMs: Number((answered.at(-1) ?? NaN).toFixed(1)),
          revokeToCrlP50ms: Number(percentile(listed, 50).toFixed(1)),
          revokeToCrlMaxMs: Number((listed.at(-1) ?? NaN).toFixed(1)),
          healthzDuringP99ms: Number(percentile(waits, 99).toFixed(1)),
          healthzDuringMaxMs: Number((waits.at(-1) ?? NaN).toFixed(1)),
          feedReplayEvents: replay.events,
          feedReplayMs: Math.round(replay.ms),
          healthzDuringReplayP99ms: Number(percentile(replayWaits, 99).toFixed(1)),
          healthzDuringReplayMaxMs: Number((replayWaits.at(-1) ?? NaN).toFixed(1)),
          node: process.version,
          loadAverage: os.loadavg().map((l) => Number(l.toFixed(2))),
        }),
      );
    } finally {
      await server.stop();
      rmSync(work, { recursive: true, force: true });
    }
  }
}
