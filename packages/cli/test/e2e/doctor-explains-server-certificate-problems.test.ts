import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { CLIENT, SERVER, doctor, ids, makeTestPki, sServer, type Files } from '../doctor-support.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const pki = makeTestPki();
const client = pki.write('client', CLIENT);
const stops: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const s of stops) await s();
});

/** s_server that asks for a client certificate from our CA and presents `server`. */
async function serve(server: Files, sendChain = true): Promise<number> {
  const s = await sServer(server, ['-Verify', '1', '-verify_return_error', '-CAfile', pki.root], sendChain);
  stops.push(s.stop);
  return s.port;
}
const clientFlags = ['--cert', client.cert, '--key', client.key];

describe("mutual doctor: the server's certificate", () => {
  it('names the anchor that is missing when the server chains to a CA you do not trust', async () => {
    const port = await serve(pki.write('server-ok', SERVER));
    const other = makeTestPki(new Date(), 'someone else');
    const r = await doctor([`https://localhost:${port}/`, '--ca', other.root, ...clientFlags]);
    expect(r.code).toBe(1);
    expect(ids(r.report)).toEqual(['server-cert-untrusted']);
    expect(r.report.findings[0]?.summary).toContain('CN=doctor test root');
    expect(r.report.findings[0]?.fix).toContain('--ca');
  });

  it('says the server left out its intermediate', async () => {
    const port = await serve(pki.write('server-nochain', SERVER, false), false);
    const r = await doctor([`https://localhost:${port}/`, '--ca', pki.root, ...clientFlags]);
    expect(r.code).toBe(1);
    expect(ids(r.report)).toEqual(['server-chain-incomplete']);
    expect(r.report.findings[0]?.summary).toContain('doctor test intermediate');
  });

  it("says the server's certificate expired, and when", async () => {
    const past = makeTestPki(new Date(Date.now() - 3 * DAY), 'past');
    const port = await serve(past.write('server-expired', { ...SERVER, lifetimeMs: DAY }));
    const r = await doctor([`https://localhost:${port}/`, '--ca', past.root, ...clientFlags]);
    expect(r.code).toBe(1);
    expect(ids(r.report)).toEqual(['server-cert-expired']);
    expect(r.report.findings[0]?.summary).toMatch(/expired 2d/);
  });

  it('says the server certificate is not yet valid, with an estimate of the clock skew', async () => {
    const future = makeTestPki(new Date(Date.now() + 2 * HOUR), 'future');
    const port = await serve(future.write('server-future', SERVER));
    const r = await doctor([`https://localhost:${port}/`, '--ca', future.root, ...clientFlags]);
    expect(r.code).toBe(1);
    expect(ids(r.report)).toContain('server-cert-not-yet-valid');
    // createTestCa backdates by a minute: about 119 minutes ahead of this machine's clock.
    expect(r.report.findings.find((f) => f.id === 'server-cert-not-yet-valid')?.explanation).toMatch(
      /at least 1(19|20) min/,
    );
  });

  it("measures the skew from the server's Date header when its clock runs ahead", async () => {
    // A server whose clock is two hours fast: its CA issued its certificate "now" by that clock,
    // and its HTTP Date header says the same time.
    const AHEAD = 2 * HOUR;
    const future = makeTestPki(new Date(Date.now() + AHEAD), 'fast clock');
    const cert = future.write('server-fast', SERVER);
    const server = createServer(
      {
        cert: readFileSync(cert.cert),
        key: readFileSync(cert.key),
        ca: readFileSync(pki.root),
        requestCert: true,
        rejectUnauthorized: true,
      },
      (_req, res) => {
        res.setHeader('Date', new Date(Date.now() + AHEAD).toUTCString());
        res.end('ok');
      },
    );
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    stops.push(
      () =>
        new Promise((resolve) => {
          server.closeAllConnections();
          server.close(() => {
            resolve();
          });
        }),
    );
    const { port } = server.address() as AddressInfo;
    const r = await doctor([`https://localhost:${port}/`, '--ca', future.root, ...clientFlags]);
    expect(r.code).toBe(1);
    const f = r.report.findings.find((x) => x.id === 'server-cert-not-yet-valid');
    expect(f?.explanation).toContain("is 120 min ahead of this machine's");
    expect(f?.fix).toContain("the server's is 120 min ahead");
  });

  it('says the certificate is for another name', async () => {
    const port = await serve(pki.write('server-other', { profile: 'server', names: { dns: ['api.internal'] } }));
    const r = await doctor([`https://localhost:${port}/`, '--ca', pki.root, ...clientFlags]);
    expect(r.code).toBe(1);
    expect(ids(r.report)).toEqual(['server-name-mismatch']);
    expect(r.report.findings[0]?.explanation).toContain('DNS:api.internal');
  });

  it('says the server never asks for a client certificate (not mutual TLS), though HTTP works', async () => {
    const s = await sServer(pki.write('server-noauth', SERVER), []);
    stops.push(s.stop);
    const r = await doctor([`https://localhost:${s.port}/`, '--ca', pki.root, ...clientFlags]);
    expect(r.code).toBe(1);
    expect(ids(r.report)).toEqual(['server-did-not-ask']);
    expect(r.report.handshake.certificateRequested).toBe(false);
    expect(r.report.http?.status).toBe(200);
  });
});
