// GET /v1/status (admin): the CA's certificates, its reporting components' standing towards the
// current root and the steps due now — what `mutual ca status` prints and the dashboard shows —
// worked out at the CA's (injected) clock.
import { X509Certificate, createHash } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { caStatusResponse } from '@mutual/sdk/contract';
import { admin, call, cleanupDirs, errorCode, startTestCa } from './support/ca-server.js';

afterAll(cleanupDirs);

describe('ca server: GET /v1/status', () => {
  it('is for admins only (refusals audited), and says what is due as the CA ages', async () => {
    const ca = await startTestCa();
    try {
      const none = await call(ca, { path: '/v1/status' });
      expect([none.status, errorCode(none)]).toEqual([401, 'ERR_AUTH_CLIENT_CERT_REQUIRED']);
      expect(ca.audit().filter((a) => a.action === 'status.refused')).toHaveLength(1);

      const fresh = await call(ca, { path: '/v1/status', ...admin(ca) });
      expect(fresh.status).toBe(200);
      const body = caStatusResponse.parse(fresh.json());
      const rootFp = createHash('sha256').update(new X509Certificate(ca.server.rootPem).raw).digest('hex');
      expect(body).toMatchObject({ name: 'Test', store: 'sqlite', root: { fingerprint: rootFp }, next: [] });
      expect(body.intermediate.left).toBeGreaterThan(0.99);

      // A component that does not say which roots it trusts is listed as such.
      const report = await call(ca, {
        path: '/v1/reports',
        ...admin(ca),
        body: { component: { kind: 'gateway', name: 'edge' }, at: new Date().toISOString(), health: { status: 'ok' } },
      });
      expect(report.status).toBe(200);
      const listed = caStatusResponse.parse((await call(ca, { path: '/v1/status', ...admin(ca) })).json());
      expect(listed.components).toMatchObject([{ kind: 'gateway', name: 'edge', standing: 'unreported' }]);

      // Ten minutes later (the CA's clock), the gateway has gone quiet: the status says to check it.
      ca.clock.advance(10 * 60_000);
      const quiet = caStatusResponse.parse((await call(ca, { path: '/v1/status', ...admin(ca) })).json());
      expect(quiet.components[0]?.standing).toBe('stale');
      expect(quiet.next).toEqual([
        '1 component(s) have not reported within reports.staleAfter (gateway edge): check that they run.',
      ]);
    } finally {
      await ca.close();
    }
  });
});
