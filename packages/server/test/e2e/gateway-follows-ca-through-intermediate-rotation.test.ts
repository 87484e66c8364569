// A gateway following a mutual CA (feed + its CRLs) while the CA's intermediate is rotated: the
// clients of the previous intermediate are still let in (their issuer's CRL keeps coming, so the
// gateway never fails closed on them), the new intermediate's clients too, and a revoked client of
// the previous intermediate is refused.
import 'reflect-metadata';
import { X509Certificate, createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rotateIntermediate, rotateRoot } from '../../src/index.js';
import { admin, call, cleanupDirs, enroll, startTestCa, type TestCa } from './support/ca-server.js';
import { get, makePki, startHarness, type Harness } from './gateway-harness.js';

const WEB = 'spiffe://example.test/ns/prod/sa/web';
const bare = (s: string | null | undefined): string => (s ?? '').toLowerCase().replace(/^0+(?=.)/, '');

let ca: TestCa;
beforeAll(async () => {
  ca = await startTestCa();
});
afterAll(async () => {
  await ca.close();
  cleanupDirs();
});

/** The status a GET with this CA-issued certificate gets from the gateway. */
const status = async (h: Harness, client: { chain: string; key: string }): Promise<number> =>
  (await get(h, '/hello', { client: { chainPem: client.chain, keyPem: client.key } })).status;

describe('gateway: the CA rotates its intermediate', () => {
  it("keeps admitting the previous intermediate's clients, admits the new one's, and refuses a revoked old one", async () => {
    const before = await enroll(ca, 'rot-before', `URI:${WEB}`, { uri: [WEB] });
    const victim = await enroll(ca, 'rot-victim', `URI:${WEB}`, { uri: [WEB] });
    const rotated = await rotateIntermediate({ dir: ca.dir, env: {}, actor: 'test', now: ca.clock.now() });
    await ca.restart();
    const after = await enroll(ca, 'rot-after', `URI:${WEB}`, { uri: [WEB] });
    // Issued by the new intermediate: the chain's second certificate is the one the rotation made.
    const second = after.chain.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)?.[1] ?? '';
    expect(createHash('sha256').update(new X509Certificate(second).raw).digest('hex')).toBe(rotated.fingerprint);

    const h = await startHarness(
      {
        routes: [{ name: 'api', path: { prefix: '/' }, allow: [{ spiffeId: WEB }], upstream: 'app' }],
        listener: { clientAuth: { trustBundles: [ca.files.root] } },
        // A CRL is required for every issuer on the path: for the previous intermediate too.
        revocation: { require: 'all', sources: [{ feed: ca.server.url, ca: ca.files.root }] },
      },
      { pki: makePki() },
    );
    try {
      expect(await status(h, before)).toBe(200);
      expect(await status(h, after)).toBe(200);
      expect(await status(h, victim)).toBe(200);

      const refused = h.audit(
        (a) => a.type === 'handshake' && a.reason === 'REVOKED' && bare(a.serial) === bare(victim.serial),
      );
      expect((await call(ca, { path: '/v1/revoke', body: { serial: victim.serial }, ...admin(ca) })).status).toBe(200);
      // The feed delivers it within milliseconds; retry the handshake until it does (no sleeping).
      for (let code = 200; code === 200;) code = await status(h, victim);
      expect((await refused).decision).toBe('refused');
      expect(await status(h, before)).toBe(200);
      expect(await status(h, after)).toBe(200);
    } finally {
      await h.close();
    }
  });
});

describe('gateway: the CA rotates its root', () => {
  it('a gateway that trusts only the previous root admits clients under the new one, every CRL required, and refuses a revoked one', async () => {
    const rolled = await startTestCa();
    try {
      const before = await enroll(rolled, 'root-before', `URI:${WEB}`, { uri: [WEB] });
      await rotateRoot({ dir: rolled.dir, env: {}, actor: 'test', now: rolled.clock.now() });
      await rolled.restart();
      const after = await enroll(rolled, 'root-after', `URI:${WEB}`, { uri: [WEB] });
      const victim = await enroll(rolled, 'root-victim', `URI:${WEB}`, { uri: [WEB] });
      expect(after.chain.match(/BEGIN CERTIFICATE/g)).toHaveLength(3); // leaf, new intermediate, cross-certificate

      const h = await startHarness(
        {
          routes: [{ name: 'api', path: { prefix: '/' }, allow: [{ spiffeId: WEB }], upstream: 'app' }],
          // The root from `ca init` only: nobody has added the new root to this gateway yet.
          listener: { clientAuth: { trustBundles: [rolled.files.root] } },
          revocation: { require: 'all', sources: [{ feed: rolled.server.url, ca: rolled.files.root }] },
        },
        { pki: makePki() },
      );
      try {
        expect(await status(h, before)).toBe(200);
        expect(await status(h, after)).toBe(200);
        expect(await status(h, victim)).toBe(200);
        const revoked = await call(rolled, {
          path: '/v1/revoke',
          body: { serial: victim.serial },
          ...admin(rolled),
        });
        expect(revoked.status).toBe(200);
        for (let code = 200; code === 200;) code = await status(h, victim);
        expect(
          await h.audit(
            (a) => a.type === 'handshake' && a.reason === 'REVOKED' && bare(a.serial) === bare(victim.serial),
          ),
        ).toMatchObject({ decision: 'refused' });
        expect(await status(h, after)).toBe(200);
      } finally {
        await h.close();
      }
    } finally {
      await rolled.close();
    }
  });
});
