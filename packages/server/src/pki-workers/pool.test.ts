// The pki worker pool against the same work done in this thread: same results, same refusals.
import { randomBytes, X509Certificate } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isMutualError } from '@mutual/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKeyAndCsr } from '../../../cli/src/csr.js';
import { inlinePkiWork } from '../ca/index.js';
import { computeValidity, generateSerial, type BuildCertificateInput } from '../pki/index.js';
// The test PKI helper is for tests only, so pki's index does not export it.
// eslint-disable-next-line @typescript-eslint/no-restricted-imports
import { createTestCa } from '../pki/test-support.js';
import { createPkiWorkerPool, type PkiWorkerPool } from './index.js';

const now = new Date();
const ca = createTestCa({ now });
const issuer = { certificateDer: ca.intermediate.der, privateKey: ca.intermediate.privateKey };
const names = { dns: ['svc.internal'], ip: ['10.0.0.7'], uri: ['spiffe://test.internal/svc'], email: [] };
const dir = mkdtempSync(join(tmpdir(), 'mutual-pki-pool-'));

let pool: PkiWorkerPool;
beforeAll(() => {
  pool = createPkiWorkerPool({ size: 2 });
});
afterAll(async () => {
  await pool.close();
  rmSync(dir, { recursive: true, force: true });
});

async function refusal(p: Promise<unknown>): Promise<{ code: string; details: Readonly<Record<string, unknown>> }> {
  try {
    await p;
  } catch (err) {
    if (isMutualError(err)) return { code: err.code, details: err.details };
    throw err;
  }
  throw new Error('expected a refusal');
}

function certificateInput(publicKey: BuildCertificateInput['publicKey']): BuildCertificateInput {
  const validity = computeValidity({
    now,
    lifetimeMs: 3_600_000,
    issuerNotBefore: new Date(now.getTime() - 60_000),
    issuerNotAfter: new Date(now.getTime() + 30 * 86_400_000),
  });
  return {
    profile: 'both',
    subject: {},
    names,
    publicKey,
    issuer,
    serial: generateSerial((n) => new Uint8Array(randomBytes(n))),
    notBefore: validity.notBefore,
    notAfter: validity.notAfter,
    crlDistributionPoint: 'https://ca.test.internal/v1/crl',
  };
}

describe('pki worker pool', () => {
  it('parses a CSR like the main thread does, key and all', async () => {
    const { csrPem } = await createKeyAndCsr('p256', names);
    const [here, there] = await Promise.all([
      inlinePkiWork.parseCsr(csrPem, { maxBytes: 65536 }),
      pool.parseCsr(csrPem, { maxBytes: 65536 }),
    ]);
    expect(there.requestedNames).toEqual(here.requestedNames);
    expect(Buffer.from(there.spki).equals(Buffer.from(here.spki))).toBe(true);
    expect(there.publicKey.equals(here.publicKey)).toBe(true);
    expect(there.signatureAlgorithm).toBe(here.signatureAlgorithm);
  });

  it('issues certificates that OpenSSL verifies under the issuer, 200 at once, each serial once', async () => {
    const csrs = await Promise.all(Array.from({ length: 20 }, () => createKeyAndCsr('p256', names)));
    const parsed = await Promise.all(csrs.map((c) => pool.parseCsr(c.csrPem, { maxBytes: 65536 })));
    const built = await Promise.all(
      Array.from({ length: 200 }, (_, i) => pool.issue(certificateInput(parsed[i % parsed.length]!.publicKey))),
    );
    const serials = new Set<string>();
    const issuerCert = new X509Certificate(ca.intermediate.der);
    for (const [i, b] of built.entries()) {
      const cert = new X509Certificate(b.der);
      expect(cert.verify(issuerCert.publicKey)).toBe(true);
      expect(cert.publicKey.equals(parsed[i % parsed.length]!.publicKey)).toBe(true);
      expect(cert.subjectAltName).toBe('DNS:svc.internal, URI:spiffe://test.internal/svc, IP Address:10.0.0.7');
      serials.add(cert.serialNumber);
    }
    expect(serials.size).toBe(200);
    // An independent judge: openssl reads the chain and the names.
    writeFileSync(join(dir, 'root.pem'), ca.root.pem);
    writeFileSync(join(dir, 'inter.pem'), ca.intermediate.pem);
    writeFileSync(join(dir, 'leaf.pem'), built[0]!.pem);
    const verify = spawnSync(
      'openssl',
      [
        'verify',
        '-x509_strict',
        '-CAfile',
        join(dir, 'root.pem'),
        '-untrusted',
        join(dir, 'inter.pem'),
        join(dir, 'leaf.pem'),
      ],
      { encoding: 'utf8' },
    );
    expect(verify.stdout + verify.stderr).toContain('leaf.pem: OK');
    expect(pool.inFlight()).toBe(0);
    expect([pool.stops(), pool.inline()]).toEqual([0, false]);
  });

  it('refuses what the main thread refuses, with the same codes and details', async () => {
    const { csrPem } = await createKeyAndCsr('p256', names);
    // The last byte of the DER is the signature's: the request no longer proves possession of its key.
    const der = Buffer.from(csrPem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
    der[der.length - 1] = (der[der.length - 1] ?? 0) ^ 0x01;
    const tampered = Uint8Array.from(der);
    const cases: [string, string | Uint8Array][] = [
      ['not a CSR', 'hello'],
      ['tampered', tampered],
      ['too large', 'x'.repeat(2048)],
    ];
    for (const [, input] of cases) {
      const here = await refusal(inlinePkiWork.parseCsr(input, { maxBytes: 1024 }));
      const there = await refusal(pool.parseCsr(input, { maxBytes: 1024 }));
      expect(there).toEqual(here);
      expect(there.code).toMatch(/^ERR_CSR_/);
    }
    // A certificate pki must not hand out (a leaf profile without names) fails in the worker as it would here.
    const { publicKey } = await pool.parseCsr(csrPem, { maxBytes: 65536 });
    const bad = { ...certificateInput(publicKey), names: { dns: [], ip: [], uri: [], email: [] } };
    const here = await refusal(inlinePkiWork.issue(bad));
    const there = await refusal(pool.issue(bad));
    expect(there).toEqual(here);
  });

  it('refuses jobs once closed, and jobs in flight when it closes', async () => {
    const closing = createPkiWorkerPool({ size: 1 });
    const { csrPem } = await createKeyAndCsr('p256', names);
    const inFlight = Array.from({ length: 50 }, () => closing.parseCsr(csrPem, { maxBytes: 65536 }));
    await closing.close();
    const settled = await Promise.allSettled(inFlight);
    const refused = settled.filter((s) => s.status === 'rejected');
    for (const r of refused) expect(r.reason).toMatchObject({ code: 'ERR_INTERNAL_UNEXPECTED' });
    expect(refused.length).toBeGreaterThan(0);
    expect((await refusal(closing.parseCsr(csrPem, { maxBytes: 65536 }))).code).toBe('ERR_INTERNAL_UNEXPECTED');
  });

  it('refuses the jobs of a thread that stops, replaces it, and runs inline after threads keep stopping', async () => {
    const errors: string[] = [];
    const dying = createPkiWorkerPool({
      size: 1,
      workerUrl: new URL('./testdata/exits-on-first-batch.mjs', import.meta.url),
      onWorkerError: (e) => errors.push(e.message),
    });
    try {
      const { csrPem } = await createKeyAndCsr('p256', names);
      // Each attempt lands on a fresh thread that dies on it: refused, never answered wrongly.
      for (let attempt = 0; attempt < 5; attempt++) {
        expect((await refusal(dying.parseCsr(csrPem, { maxBytes: 65536 }))).code).toBe('ERR_INTERNAL_UNEXPECTED');
      }
      expect(errors.filter((e) => /dying on purpose/.test(e)).length).toBeGreaterThanOrEqual(5);
      expect(errors.some((e) => /running pki work in the main thread/.test(e))).toBe(true);
      expect(dying.stops()).toBeGreaterThanOrEqual(5);
      expect(dying.inline()).toBe(true);
      // From now on the work is done in this thread, with the same results.
      const parsed = await dying.parseCsr(csrPem, { maxBytes: 65536 });
      expect(parsed.requestedNames.dns).toEqual(['svc.internal']);
      const built = await dying.issue(certificateInput(parsed.publicKey));
      expect(new X509Certificate(built.der).verify(new X509Certificate(ca.intermediate.der).publicKey)).toBe(true);
    } finally {
      await dying.close();
    }
  });
});
