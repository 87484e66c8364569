import { X509Certificate } from 'node:crypto';
import { copyFileSync, mkdirSync } from 'node:fs';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCrl } from '../../../server/src/pki/index.js';
import {
  BATCH,
  WEB,
  makePki,
  startHarness,
  writeAtomic,
  type Harness,
} from '../../../server/test/e2e/gateway-harness.js';
import { tempDir } from '../support.js';
import { doctor, ids } from '../doctor-support.js';

// A real mutual gateway (started through its composition root) in front of an echo upstream; the
// route admits WEB only; revocation comes from a CRL file the gateway watches. Clients carry a CRL
// distribution point served over HTTP, as a CA's would be, so doctor finds the CRL by itself.
const pki = makePki();
let h: Harness;
let crlUrl = '';
let crlPem = '';
const crlServer = createServer((_req, res) => res.end(crlPem));

beforeAll(async () => {
  crlServer.listen(0, '127.0.0.1');
  await once(crlServer, 'listening');
  crlUrl = `http://127.0.0.1:${(crlServer.address() as AddressInfo).port}/intermediate.crl`;
});
afterAll(async () => {
  await h.close();
  crlServer.close();
});

const client = (name: string, id: string) =>
  pki.client(name, { profile: 'client', names: { uri: [id] }, crlDistributionPoint: crlUrl });

describe('mutual doctor against the mutual gateway', () => {
  let web: ReturnType<typeof client>;
  let batch: ReturnType<typeof client>;
  let revoked: ReturnType<typeof client>;

  beforeAll(async () => {
    web = client('web', WEB);
    batch = client('batch', BATCH);
    revoked = client('revoked', WEB);
    const now = Date.now();
    crlPem = buildCrl({
      issuer: { certificateDer: pki.ca.intermediate.der, privateKey: pki.ca.intermediate.privateKey },
      revoked: [
        { serial: new X509Certificate(revoked.cert.der).serialNumber.toLowerCase(), revokedAt: new Date(now - 60_000) },
      ],
      thisUpdate: new Date(now - 60_000),
      nextUpdate: new Date(now + 3_600_000),
      crlNumber: 1n,
    }).pem;
    const crlFile = path.join(pki.dir, 'intermediate.crl');
    writeAtomic(crlFile, crlPem);
    h = await startHarness(
      {
        routes: [{ name: 'api', path: { prefix: '/' }, allow: [{ spiffeId: WEB }], upstream: 'app' }],
        revocation: { sources: [{ file: crlFile }] },
      },
      { pki },
    );
  });

  const url = (): string => `https://localhost:${h.port}/orders?x=1`;

  it('passes (exit 0) for an identity the route allows', async () => {
    const r = await doctor([url(), '--ca', pki.trustFile, '--cert', web.certFile, '--key', web.keyFile]);
    expect(r.report.findings).toEqual([]);
    expect(r.code).toBe(0);
    expect(r.report.http?.status).toBe(200);
    expect(r.report.handshake.acceptableCaNames.join()).toContain('mutual test root');
    expect(r.report.steps.find((s) => s.name === 'client-certificate')?.detail).toContain('not revoked per the CRL');
  });

  it('uses an identity the agent manages with --identity NAME (cert, key and trust bundle from its directory)', async () => {
    const ctx = tempDir('mutual-ctx-');
    const dir = path.join(ctx, 'identities', 'web');
    mkdirSync(dir, { recursive: true });
    copyFileSync(web.certFile, path.join(dir, 'cert.pem'));
    copyFileSync(web.keyFile, path.join(dir, 'key.pem'));
    copyFileSync(pki.trustFile, path.join(dir, 'ca.pem'));
    const r = await doctor([url(), '--identity', 'web'], { MUTUAL_CONTEXT_DIR: ctx });
    expect(r.report.findings).toEqual([]);
    expect(r.code).toBe(0);
    expect(r.report.handshake.clientIdentity).toBe(WEB);
  });

  it('explains a 403: authenticated, but the identity is not allowed on the route', async () => {
    const r = await doctor([url(), '--ca', pki.trustFile, '--cert', batch.certFile, '--key', batch.keyFile]);
    expect(r.code).toBe(1);
    expect(ids(r.report)).toEqual(['http-forbidden']);
    expect(r.report.findings[0]?.summary).toContain(BATCH);
    expect(r.report.findings[0]?.fix).toContain(`spiffeId: ${BATCH}`);
    await h.audit((a) => a.decision === 'deny' && a.reason === 'identity-not-allowed');
  });

  it('explains a silent close: the gateway refused a certificate revoked by the CRL at its distribution point', async () => {
    const r = await doctor([url(), '--ca', pki.trustFile, '--cert', revoked.certFile, '--key', revoked.keyFile]);
    expect(r.code).toBe(1);
    expect(ids(r.report)).toEqual(['client-cert-revoked']);
    expect(r.report.findings[0]?.explanation).toContain(crlUrl);
    expect(r.report.steps.find((s) => s.name === 'mtls')?.status).toBe('failed');
    expect(r.report.steps.find((s) => s.name === 'client-certificate')?.detail).toContain('REVOKED per the CRL');
  });
});
