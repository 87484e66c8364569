/**
 * A CRL source (file or polled URL) may hold several CRLs in one PEM bundle, as `nginx ssl_crl`
 * reads them: each CRL counts for the issuer whose key verifies it, CRL numbers are compared per
 * issuer, and an unreadable CRL or more than 64 refuse the file.
 */
import { X509Certificate, sign, type KeyObject } from 'node:crypto';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { MutualError } from '@mutual/sdk';
import { startGateway, type GatewayReloadResult } from '../../src/index.js';
import { buildCrl, parseCrl } from '../../src/pki/index.js';
import {
  CERTIFICATE_REFUSED,
  WEB,
  gatewayConfig,
  get,
  makeIntermediate,
  makePki,
  nextRevocationUpdate,
  startCrlServer,
  startHarness,
  writeAtomic,
  writeConfig,
  type Client,
  type Harness,
  type Intermediate,
  type Pki,
} from './gateway-harness.js';

const MIN = 60_000;

interface Ca {
  readonly der: Uint8Array;
  readonly privateKey: KeyObject;
}

/** A CRL of `issuer` (its certificate and key) listing `serials`, valid for an hour. */
function crl(issuer: Ca, serials: string[], number: bigint): string {
  const now = Date.now();
  return buildCrl({
    issuer: { certificateDer: issuer.der, privateKey: issuer.privateKey },
    revoked: serials.map((serial) => ({ serial, revokedAt: new Date(now - MIN) })),
    thisUpdate: new Date(now - MIN),
    nextUpdate: new Date(now + 60 * MIN),
    crlNumber: number,
  }).pem;
}

/** One DER TLV (short or long length form). */
function tlv(tag: number, content: Uint8Array): Buffer {
  const n = content.length;
  const len =
    n < 0x80
      ? [n]
      : n < 0x100
        ? [0x81, n]
        : n < 0x10000
          ? [0x82, n >> 8, n & 0xff]
          : [0x83, n >> 16, (n >> 8) & 0xff, n & 0xff];
  return Buffer.concat([Buffer.from([tag, ...len]), content]);
}

/**
 * `issuer`'s CRL — its name and key identifier — with the signature replaced by one made with
 * `key`: what someone without the issuer's key can put on the wire.
 */
function forgedCrl(issuer: Ca, key: KeyObject, serials: string[], number: bigint): string {
  const genuine = parseCrl(Buffer.from(crl(issuer, serials, number).replace(/-----[A-Z0-9 ]+-----|\s/g, ''), 'base64'));
  const signature = sign('sha256', genuine.tbs, key);
  const der = tlv(
    0x30,
    Buffer.concat([
      genuine.tbs,
      genuine.signatureAlgorithm.bytes,
      tlv(0x03, Buffer.concat([Buffer.from([0]), signature])),
    ]),
  );
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN X509 CRL-----\n${lines.join('\n')}\n-----END X509 CRL-----\n`;
}

const serialOf = (der: Uint8Array): string => new X509Certificate(der).serialNumber.toLowerCase();
const sameSerial = (a: string | null, b: string): boolean =>
  a !== null && a.toLowerCase().replace(/^0+/, '') === b.replace(/^0+/, '');

const routes = [{ name: 'api', path: { prefix: '/' }, allow: [{ spiffeId: WEB }], upstream: 'app' }];

/** Two sibling intermediates under one root: the harness's (`pki.ca.intermediate`) and `second`. */
interface Setup {
  readonly pki: Pki;
  readonly first: Ca;
  readonly second: Intermediate;
  readonly root: Ca;
}

function setup(): Setup {
  const pki = makePki();
  return {
    pki,
    first: pki.ca.intermediate,
    second: makeIntermediate(pki, 'mutual test intermediate two'),
    root: pki.ca.root,
  };
}

describe('gateway CRL bundles', () => {
  const cleanup: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0)) await c();
  });

  const start = async (pki: Pki, revocation: Record<string, unknown>): Promise<Harness> => {
    const h = await startHarness({ routes, revocation }, { pki });
    cleanup.push(() => h.close());
    return h;
  };

  /**
   * Replaces `file` and resolves with the first reload whose outcome is `ok` (a burst of file events
   * may cause one more reload of the previous bytes; its outcome is the previous one).
   */
  const replace = async (h: Harness, file: string, text: string, ok: boolean): Promise<GatewayReloadResult> => {
    const reloaded = new Promise<GatewayReloadResult>((resolve) => {
      const on = (r: GatewayReloadResult): void => {
        if (r.ok !== ok) return;
        h.gw.gateway.events.off('reload', on);
        resolve(r);
      };
      h.gw.gateway.events.on('reload', on);
    });
    writeAtomic(file, text);
    return reloaded;
  };

  /** Asserts that `client` is refused and that the refusal is audited with `reason`. */
  const refused = async (h: Harness, client: Client, reason: string): Promise<void> => {
    expect(await get(h, '/a', { client })).toMatchObject(CERTIFICATE_REFUSED);
    const rec = await h.audit((a) => a.type === 'handshake' && sameSerial(a.serial, serialOf(client.cert.der)));
    expect(rec.reason).toBe(reason);
  };

  it('reads every CRL of a PEM file: a serial in its second CRL is refused, and with require: all the root CRL in it covers the intermediates', async () => {
    const { pki, first, second, root } = setup();
    const one = pki.client('one', { profile: 'client', names: { uri: [WEB] } });
    const revoked = second.client('revoked', WEB);
    const two = second.client('two', WEB);
    const file = path.join(pki.dir, 'bundle.crl');
    writeAtomic(file, crl(first, [], 1n) + crl(second, [serialOf(revoked.cert.der)], 1n));
    const h = await start(pki, { sources: [{ file }] });
    expect((await get(h, '/a', { client: one })).status).toBe(200);
    expect((await get(h, '/a', { client: two })).status).toBe(200);
    await refused(h, revoked, 'REVOKED');

    // require: all — every CA of the path needs a verified CRL: the same bundle plus the root's CRL.
    const withRoot = crl(first, [], 1n) + crl(second, [serialOf(revoked.cert.der)], 1n) + crl(root, [], 1n);
    const allFile = path.join(pki.dir, 'all.crl');
    writeAtomic(allFile, withRoot);
    const all = await start(pki, { sources: [{ file: allFile }], require: 'all' });
    expect((await get(all, '/a', { client: one })).status).toBe(200);
    expect((await get(all, '/a', { client: two })).status).toBe(200);
    await refused(all, revoked, 'REVOKED');

    // Without the root's CRL, the same gateway refuses: the root CRL in the bundle is what covered them.
    const noRoot = path.join(pki.dir, 'no-root.crl');
    writeAtomic(noRoot, crl(first, [], 1n) + crl(second, [], 1n));
    const missing = await start(pki, { sources: [{ file: noRoot }], require: 'all' });
    await refused(missing, one, 'CRL_MISSING');
    await refused(missing, two, 'CRL_MISSING');
  });

  it('a CRL of the bundle signed by the wrong key does not count, while the other CRL of the same file does', async () => {
    const { pki, first, second } = setup();
    const impostor = makeIntermediate(pki, 'mutual test intermediate two'); // same name as `second`, other key
    const one = pki.client('one', { profile: 'client', names: { uri: [WEB] } });
    const oneRevoked = pki.client('one-revoked', { profile: 'client', names: { uri: [WEB] } });
    const two = second.client('two', WEB);
    const file = path.join(pki.dir, 'bundle.crl');
    // The forged CRL comes first: it must not stand in for `second`, nor hide the CRL after it.
    writeAtomic(file, crl(impostor, [], 9n) + crl(first, [serialOf(oneRevoked.cert.der)], 1n));
    const h = await start(pki, { sources: [{ file }] });
    expect((await get(h, '/a', { client: one })).status).toBe(200);
    await refused(h, oneRevoked, 'REVOKED');
    await refused(h, two, 'CRL_MISSING');
  });

  it('on reload, a bundle that revokes one more serial refuses that client; an unreadable CRL or more than 64 keep the old CRLs', async () => {
    const { pki, first, second } = setup();
    const one = pki.client('one', { profile: 'client', names: { uri: [WEB] } });
    const two = second.client('two', WEB);
    const other = second.client('other', WEB);
    const file = path.join(pki.dir, 'bundle.crl');
    writeAtomic(file, crl(first, [], 1n) + crl(second, [], 1n));
    const h = await start(pki, { sources: [{ file }] });
    expect((await get(h, '/a', { client: two })).status).toBe(200);

    const good = crl(first, [], 1n) + crl(second, [serialOf(two.cert.der)], 2n);
    await replace(h, file, good, true);
    await refused(h, two, 'REVOKED');
    expect((await get(h, '/a', { client: other })).status).toBe(200);
    expect((await get(h, '/a', { client: one })).status).toBe(200);

    // A second block cut short (its last base64 line gone): the reload is refused, naming the file and the CRL.
    const truncated = crl(second, [], 3n).replace(/\n[A-Za-z0-9+/=]+\n-----END/, '\n-----END');
    const bad = await replace(h, file, crl(first, [], 3n) + truncated, false);
    const error = bad.ok ? undefined : bad.error;
    expect(error).toMatchObject({ code: 'ERR_GATEWAY_MATERIAL_INVALID', details: { file, index: 2 } });
    expect(error?.message).toContain(`${file}: not a usable CRL (CRL 2: `);
    // The running CRLs are kept: `two` is still refused, the others admitted.
    expect(await get(h, '/a', { client: two })).toMatchObject(CERTIFICATE_REFUSED);
    expect((await get(h, '/a', { client: one })).status).toBe(200);

    // 64 CRLs are read; 65 refuse the file.
    await replace(h, file, good + crl(first, [], 1n).repeat(62), true);
    const tooMany = await replace(h, file, good + crl(first, [], 1n).repeat(63), false);
    expect(tooMany.ok ? undefined : tooMany.error.message).toContain('holds 65 CRLs; at most 64');
    expect(await get(h, '/a', { client: two })).toMatchObject(CERTIFICATE_REFUSED);
    expect((await get(h, '/a', { client: other })).status).toBe(200);
  });

  it('refuses to start with a bundle holding a block that is not a CRL, naming the file and the CRL', async () => {
    const { pki, first, second } = setup();
    const file = path.join(pki.dir, 'bundle.crl');
    const notCrl = pki.ca.intermediate.pem.replace(/CERTIFICATE/g, 'X509 CRL'); // one DER object, not a CRL
    writeAtomic(file, crl(first, [], 1n) + crl(second, [], 1n) + notCrl);
    const configFile = writeConfig(
      pki,
      gatewayConfig(pki, 'http://127.0.0.1:9', { routes, revocation: { sources: [{ file }] } }),
    );
    const err = await startGateway({ configFile, env: {}, sighup: false, log: () => undefined }).then(
      async (gw) => {
        await gw.close();
        return undefined;
      },
      (e: unknown) => e as MutualError,
    );
    expect(err?.code).toBe('ERR_GATEWAY_MATERIAL_INVALID');
    expect(err?.message).toContain(file);
    expect(err?.message).toContain(`${file}: not a usable CRL (CRL 3 of 3: `);
    expect(err?.details).toMatchObject({ file, index: 3 });
  });

  it('a polled bundle whose CRL for one issuer has a lower number is refused; one adding a new issuer is taken', async () => {
    const { pki, first, second, root } = setup();
    const one = pki.client('one', { profile: 'client', names: { uri: [WEB] } });
    const two = second.client('two', WEB);
    const server = await startCrlServer(crl(first, [], 5n) + crl(second, [], 5n));
    cleanup.push(() => server.close());
    const url = server.url;
    const h = await start(pki, { sources: [{ url, interval: '100ms' }] });
    expect((await get(h, '/a', { client: one })).status).toBe(200);
    expect((await get(h, '/a', { client: two })).status).toBe(200);

    // `first` moves on (and revokes `one`) but `second`'s CRL is an older one: the whole answer is refused.
    const failed = nextRevocationUpdate(h, (e) => e.source === url && !e.ok);
    server.body = crl(first, [serialOf(one.cert.der)], 6n) + crl(second, [serialOf(two.cert.der)], 4n);
    server.etag = '"2"';
    await failed;
    expect(h.logs.some((l) => l.includes('CRL 2 of 2: CRL number went backwards for its issuer (5 to 4)'))).toBe(true);
    expect((await get(h, '/a', { client: one })).status).toBe(200);
    expect((await get(h, '/a', { client: two })).status).toBe(200);

    // The root's CRL joins the bundle (its first CRL number is lower than the others'): taken, it revokes `second`.
    const taken = nextRevocationUpdate(h, (e) => e.source === url && e.ok && e.changed);
    server.body =
      crl(first, [serialOf(one.cert.der)], 6n) + crl(second, [], 5n) + crl(root, [serialOf(second.der)], 1n);
    server.etag = '"3"';
    await taken;
    await refused(h, one, 'REVOKED');
    expect(await get(h, '/a', { client: two })).toMatchObject(CERTIFICATE_REFUSED);
    const rec = await h.audit((a) => a.type === 'handshake' && sameSerial(a.serial, serialOf(two.cert.der)));
    expect(rec.reason).toBe('REVOKED');
    // Refused for the intermediate's serial, listed by the root's CRL.
    const inter = serialOf(second.der).replace(/^0+/, '');
    expect(rec.detail?.toLowerCase()).toMatch(new RegExp(`^serial 0*${inter} is revoked by .*root`));
  });

  it('a polled CRL naming a known issuer but signed with another key is refused, and the genuine CRL that follows is taken', async () => {
    const { pki, first } = setup();
    const impostor = makeIntermediate(pki, 'mutual test intermediate impostor');
    const one = pki.client('one', { profile: 'client', names: { uri: [WEB] } });
    const other = pki.client('other', { profile: 'client', names: { uri: [WEB] } });
    const server = await startCrlServer(crl(first, [], 5n));
    cleanup.push(() => server.close());
    const url = server.url;
    const h = await start(pki, { sources: [{ url, interval: '100ms' }] });
    // A handshake through `first` makes its certificate the key its CRLs are checked against.
    expect((await get(h, '/a', { client: one })).status).toBe(200);

    // `first`'s name and key identifier, the impostor's signature, a far higher number: refused, the old CRL kept.
    const failed = nextRevocationUpdate(h, (e) => e.source === url && !e.ok);
    server.body = forgedCrl(first, impostor.privateKey, [serialOf(other.cert.der)], 99n);
    server.etag = '"2"';
    await failed;
    expect(
      h.logs.some((l) => l.includes('CRL 1 of 1: its signature does not verify with the key of the issuer it names')),
    ).toBe(true);
    expect((await get(h, '/a', { client: one })).status).toBe(200);
    expect((await get(h, '/a', { client: other })).status).toBe(200);

    // The genuine next CRL (number 6, below the forged 99) is taken: the forgery left nothing behind.
    const taken = nextRevocationUpdate(h, (e) => e.source === url && e.ok && e.changed);
    server.body = crl(first, [serialOf(one.cert.der)], 6n);
    server.etag = '"3"';
    await taken;
    await refused(h, one, 'REVOKED');
    expect((await get(h, '/a', { client: other })).status).toBe(200);
  });

  it('a forged CRL taken before any handshake counts for nothing once the issuer is known: the genuine lower-numbered CRL replaces it', async () => {
    const { pki, first } = setup();
    const impostor = makeIntermediate(pki, 'mutual test intermediate impostor');
    const one = pki.client('one', { profile: 'client', names: { uri: [WEB] } });
    const server = await startCrlServer(forgedCrl(first, impostor.privateKey, [], 99n));
    cleanup.push(() => server.close());
    const url = server.url;
    // No handshake yet: nothing to check the CRL against, so it is taken — and verifies for nobody.
    const h = await start(pki, { sources: [{ url, interval: '100ms' }] });
    await refused(h, one, 'CRL_MISSING');

    const taken = nextRevocationUpdate(h, (e) => e.source === url && e.ok && e.changed);
    server.body = crl(first, [], 3n);
    server.etag = '"2"';
    await taken;
    expect((await get(h, '/a', { client: one })).status).toBe(200);
  });
});
