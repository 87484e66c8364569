import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { request } from 'node:http';
import path from 'node:path';
import { connect } from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
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
  type Pki,
  CERTIFICATE_REFUSED,
  startCrlServer,
  type CrlServer,
  nextRevocationUpdate,
} from './gateway-harness.js';

const MIN = 60_000;

function crlPem(ca: TestCa, serials: string[], number: bigint, now = Date.now(), lifetime = 60 * MIN): string {
  return buildCrl({
    issuer: { certificateDer: ca.intermediate.der, privateKey: ca.intermediate.privateKey },
    revoked: serials.map((serial) => ({ serial, revokedAt: new Date(now - MIN) })),
    thisUpdate: new Date(now - MIN),
    nextUpdate: new Date(now + lifetime),
    crlNumber: number,
  }).pem;
}

const serialOf = (c: Client): string => new X509Certificate(c.cert.der).serialNumber.toLowerCase();

function adminStatus(port: number, p: string): Promise<number> {
  return new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port, path: p }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    })
      .on('error', reject)
      .end();
  });
}

const routes = [{ name: 'api', path: { prefix: '/' }, allow: [{ spiffeId: WEB }], upstream: 'app' }];

describe('gateway revocation', () => {
  const cleanup: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0)) await c();
  });

  const openConnection = async (h: Harness, client: Client) => {
    const socket = connect({
      host: '127.0.0.1',
      port: h.port,
      servername: 'localhost',
      ca: h.pki.ca.root.pem,
      cert: client.chainPem,
      key: client.keyPem,
    });
    socket.on('error', () => undefined);
    await once(socket, 'secureConnect');
    return socket;
  };

  it('a CRL file update refuses the revoked client on new connections and closes its open ones', async () => {
    const pki = makePki();
    const crlFile = path.join(pki.dir, 'intermediate.crl');
    writeAtomic(crlFile, crlPem(pki.ca, [], 1n));
    const h = await startHarness({ routes, revocation: { sources: [{ file: crlFile }] } }, { pki });
    cleanup.push(() => h.close());
    const web = pki.client('web', { profile: 'client', names: { uri: [WEB] } });
    const other = pki.client('other', { profile: 'client', names: { uri: [WEB] } });
    expect((await get(h, '/a', { client: web })).status).toBe(200);
    const open = await openConnection(h, web);
    const closed = once(open, 'close');
    const otherOpen = await openConnection(h, other);

    const reloaded = h.nextReload();
    writeAtomic(crlFile, crlPem(pki.ca, [serialOf(web)], 2n));
    expect((await reloaded).ok).toBe(true);
    await closed;
    expect(otherOpen.destroyed).toBe(false);
    expect(await get(h, '/a', { client: web })).toMatchObject(CERTIFICATE_REFUSED);
    const rec = await h.audit(
      (a) => a.type === 'handshake' && a.reason === 'REVOKED' && !(a.detail ?? '').startsWith('open'),
    );
    expect(rec.serial?.replace(/^0+/, '')).toBe(serialOf(web).replace(/^0+/, ''));
    expect((await get(h, '/a', { client: other })).status).toBe(200);
    otherOpen.destroy();
  });

  it('fails closed after nextUpdate plus grace, unless the issuer is listed in failOpen', async () => {
    const pki = makePki();
    const crlFile = path.join(pki.dir, 'intermediate.crl');
    writeAtomic(crlFile, crlPem(pki.ca, [], 1n, Date.now(), 10 * MIN));
    const later = () => new Date(Date.now() + 45 * MIN);
    const closedH = await startHarness(
      { routes, revocation: { sources: [{ file: crlFile }], grace: '30m' } },
      { pki, now: later },
    );
    cleanup.push(() => closedH.close());
    const web = pki.client('web', { profile: 'client', names: { uri: [WEB] } });
    expect(await get(closedH, '/a', { client: web })).toMatchObject(CERTIFICATE_REFUSED);
    expect((await closedH.audit((a) => a.type === 'handshake')).reason).toBe('CRL_STALE');

    const issuer = 'O=mutual test, CN=mutual test intermediate p256';
    const openH = await startHarness(
      { routes, revocation: { sources: [{ file: crlFile }], grace: '30m', failOpen: [issuer] } },
      { pki, now: later },
    );
    cleanup.push(() => openH.close());
    expect((await get(openH, '/a', { client: web })).status).toBe(200);
  });

  it('refuses a chain whose issuer has no verified CRL (a CRL signed by a look-alike CA is ignored)', async () => {
    const pki = makePki();
    const impostor = createTestCa({ now: new Date() }); // same names, other keys
    const crlFile = path.join(pki.dir, 'forged.crl');
    writeAtomic(crlFile, crlPem(impostor, [], 1n));
    const h = await startHarness({ routes, revocation: { sources: [{ file: crlFile }] } }, { pki });
    cleanup.push(() => h.close());
    const web = pki.client('web', { profile: 'client', names: { uri: [WEB] } });
    expect(await get(h, '/a', { client: web })).toMatchObject(CERTIFICATE_REFUSED);
    expect((await h.audit((a) => a.type === 'handshake')).reason).toBe('CRL_MISSING');
  });

  describe('CRL from a URL polled with ETag', () => {
    const serveCrl = async (body: string, up = true): Promise<CrlServer> => {
      const crl = await startCrlServer(body);
      crl.up = up;
      cleanup.push(() => crl.close());
      return crl;
    };

    it('picks up a new revocation on the next poll, closing open connections; 304s cost nothing', async () => {
      const pki: Pki = makePki();
      const crl = await serveCrl(crlPem(pki.ca, [], 1n));
      const url = crl.url;
      const h = await startHarness({ routes, revocation: { sources: [{ url, interval: '1s' }] } }, { pki });
      cleanup.push(() => h.close());
      const web = pki.client('web', { profile: 'client', names: { uri: [WEB] } });
      expect((await get(h, '/a', { client: web })).status).toBe(200);
      expect(await adminStatus(h.gw.adminPort, '/readyz')).toBe(200);
      const open = await openConnection(h, web);
      const closed = once(open, 'close');
      // Wait for one unchanged poll answered 304.
      await nextRevocationUpdate(h, (e) => e.ok && !e.changed && crl.notModified > 0);
      const changed = nextRevocationUpdate(h, (e) => e.changed);
      crl.body = crlPem(pki.ca, [serialOf(web)], 2n);
      crl.etag = '"2"';
      await changed;
      await closed;
      expect(await get(h, '/a', { client: web })).toMatchObject(CERTIFICATE_REFUSED);
      await h.audit((a) => a.type === 'handshake' && a.reason === 'REVOKED');
    });

    it('is not ready and refuses clients (CRL_MISSING) while the URL has never answered', async () => {
      const pki: Pki = makePki();
      const { url } = await serveCrl('', false);
      const h = await startHarness({ routes, revocation: { sources: [{ url, interval: '1s' }] } }, { pki });
      cleanup.push(() => h.close());
      expect(await adminStatus(h.gw.adminPort, '/readyz')).toBe(503);
      const web = pki.client('web', { profile: 'client', names: { uri: [WEB] } });
      expect(await get(h, '/a', { client: web })).toMatchObject(CERTIFICATE_REFUSED);
      expect((await h.audit((a) => a.type === 'handshake')).reason).toBe('CRL_MISSING');
    });
  });
});
