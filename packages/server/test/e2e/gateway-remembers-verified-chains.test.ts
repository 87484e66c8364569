/**
 * The gateway remembers chains its verifier accepted, so a client that connects again with the same
 * chain skips the path validation. These tests show the memory is invisible to every decision: a
 * remembered chain is refused once revoked, once the gateway's clock passes its notAfter, and after
 * a reload that no longer accepts it.
 */
import { X509Certificate } from 'node:crypto';
import { request } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { readFileSync } from 'node:fs';
import { buildCrl } from '../../src/pki/index.js';
import { createTestCa, type TestCa } from '../../src/pki/test-support.js';
import {
  WEB,
  get,
  makePki,
  startHarness,
  writeAtomic,
  type Client,
  type Harness,
  CERTIFICATE_REFUSED,
  startCrlServer,
  nextRevocationUpdate,
} from './gateway-harness.js';

const MIN = 60_000;
const routes = [{ name: 'api', path: { prefix: '/' }, allow: [{ spiffeId: WEB }], upstream: 'app' }];

function crlPem(ca: TestCa, serials: string[], number: bigint): string {
  const now = Date.now();
  return buildCrl({
    issuer: { certificateDer: ca.intermediate.der, privateKey: ca.intermediate.privateKey },
    revoked: serials.map((serial) => ({ serial, revokedAt: new Date(now - MIN) })),
    thisUpdate: new Date(now - MIN),
    nextUpdate: new Date(now + 60 * MIN),
    crlNumber: number,
  }).pem;
}

function metrics(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port, path: '/metrics' }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => {
        resolve(body);
      });
    })
      .on('error', reject)
      .end();
  });
}

/** Accepted handshakes of listener main with the given reason, read from /metrics. */
async function accepted(h: Harness, reason: 'verified' | 'remembered'): Promise<number> {
  const text = await metrics(h.gw.adminPort);
  const m = new RegExp(
    `mutual_gateway_handshakes_total\\{listener="main",outcome="accepted",reason="${reason}"\\} (\\d+)`,
  ).exec(text);
  return Number(m?.[1] ?? 0);
}

const twice = async (h: Harness, client: Client): Promise<void> => {
  expect((await get(h, '/a', { client })).status).toBe(200);
  expect((await get(h, '/b', { client })).status).toBe(200);
  expect(await accepted(h, 'verified')).toBe(1);
  expect(await accepted(h, 'remembered')).toBe(1);
};

describe('gateway: remembered chains never skip a check', () => {
  const cleanup: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0)) await c();
  });

  it('refuses a remembered chain on the next handshake once its serial is revoked', async () => {
    const pki = makePki();
    const crl = await startCrlServer(crlPem(pki.ca, [], 1n));
    cleanup.push(() => crl.close());
    const url = crl.url;
    const h = await startHarness({ routes, revocation: { sources: [{ url, interval: '1s' }] } }, { pki });
    cleanup.push(() => h.close());
    const web = pki.client('web', { profile: 'client', names: { uri: [WEB] } });
    await twice(h, web);

    const changed = nextRevocationUpdate(h, (e) => e.changed);
    crl.body = crlPem(pki.ca, [new X509Certificate(web.cert.der).serialNumber.toLowerCase()], 2n);
    crl.etag = '"2"';
    await changed;
    expect(await get(h, '/c', { client: web })).toMatchObject(CERTIFICATE_REFUSED);
    expect(await h.audit((a) => a.type === 'handshake' && a.decision === 'refused')).toMatchObject({
      reason: 'REVOKED',
      identity: WEB,
    });
  });

  it("refuses a remembered chain once the gateway's clock passes the leaf's notAfter", async () => {
    let now = Date.now();
    const h = await startHarness({ routes }, { now: () => new Date(now) });
    cleanup.push(() => h.close());
    const web = h.pki.client('web', { profile: 'client', names: { uri: [WEB] }, lifetimeMs: 10 * MIN });
    await twice(h, web);
    const notAfter = Date.parse(new X509Certificate(web.cert.der).validTo);
    // OpenSSL still accepts (the real clock is inside the validity); the gateway's clock is past it.
    now = notAfter + 1_000;
    expect(await get(h, '/c', { client: web })).toMatchObject(CERTIFICATE_REFUSED);
    expect(await h.audit((a) => a.type === 'handshake' && a.decision === 'refused')).toMatchObject({
      reason: 'EXPIRED',
    });
  });

  it('forgets remembered chains on reload: a chain the new configuration refuses is refused', async () => {
    const h = await startHarness({ routes });
    cleanup.push(() => h.close());
    const web = h.pki.client('web', { profile: 'client', names: { uri: [WEB] } });
    await twice(h, web);
    // No intermediate allowed any more: OpenSSL (which knows nothing of this setting) still accepts.
    const config = parse(readFileSync(h.configFile, 'utf8')) as {
      listeners: { clientAuth: Record<string, unknown> }[];
    };
    const listener = config.listeners[0];
    if (!listener) throw new Error('no listener');
    listener.clientAuth.maxChainDepth = 0;
    writeAtomic(h.configFile, stringify(config));
    expect((await h.gw.reload()).ok).toBe(true);
    expect(await get(h, '/c', { client: web })).toMatchObject(CERTIFICATE_REFUSED);
    const rec = await h.audit((a) => a.type === 'handshake' && a.decision === 'refused');
    expect(rec.identity).toBeNull();
    expect(await accepted(h, 'remembered')).toBe(1);
  });

  it('recognises a remembered leaf whatever else it presents, and never past what OpenSSL refuses', async () => {
    const h = await startHarness({ routes });
    cleanup.push(() => h.close());
    const web = h.pki.client('web', { profile: 'client', names: { uri: [WEB] } });
    await twice(h, web);
    // The same leaf with an unrelated extra certificate: OpenSSL still builds its path, the leaf is remembered.
    const other = createTestCa({ now: new Date() });
    const extra: Client = { ...web, chainPem: `${web.chainPem}${other.intermediate.pem}\n` };
    expect((await get(h, '/c', { client: extra })).status).toBe(200);
    expect(await accepted(h, 'remembered')).toBe(2);
    // The same leaf without its intermediate: OpenSSL finds no path, so the remembered verdict is not used.
    const alone: Client = { ...web, chainPem: `${web.cert.pem}\n` };
    expect(await get(h, '/d', { client: alone })).toMatchObject(CERTIFICATE_REFUSED);
    expect(await h.audit((a) => a.type === 'handshake' && a.decision === 'refused')).toMatchObject({
      identity: null,
    });
    expect(await accepted(h, 'remembered')).toBe(2);
  });
});
