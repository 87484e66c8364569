// OCSP at /v1/ocsp (RFC 6960), judged by `openssl ocsp`: good, revoked with its reason, unknown;
// POST and GET forms; answers signed by a delegated responder certificate the CA issued; a
// revocation shows in OCSP and in the CRL as soon as POST /v1/revoke has answered.
import { readFileSync, writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCrl } from '../../src/pki/index.js';
import { admin, call, cleanupDirs, enroll, run, runAsync, startTestCa, type TestCa } from './support/ca-server.js';

let ca: TestCa;
let intermediateFile = '';
let chainFile = '';
beforeAll(async () => {
  ca = await startTestCa();
  const roots = (await call(ca, { path: '/v1/roots' })).json<{ intermediates: string[] }>();
  intermediateFile = ca.work('intermediate.pem');
  writeFileSync(intermediateFile, roots.intermediates[0] ?? '');
  chainFile = ca.work('chain.pem');
  writeFileSync(chainFile, `${roots.intermediates[0] ?? ''}\n${ca.server.rootPem}`);
});
afterAll(async () => {
  await ca.close();
  cleanupDirs();
});

function leafFile(name: string, chain: string): string {
  const file = ca.work(`${name}.leaf.pem`);
  writeFileSync(file, `${chain.split('-----END CERTIFICATE-----')[0] ?? ''}-----END CERTIFICATE-----\n`);
  return file;
}

async function opensslOcsp(args: string[]): Promise<string> {
  const r = await runAsync('openssl', [
    'ocsp',
    '-issuer',
    intermediateFile,
    '-CAfile',
    chainFile,
    '-url',
    `${ca.server.url}/v1/ocsp`,
    ...args,
  ]);
  return r.stdout + r.stderr;
}

describe('ca server: OCSP', () => {
  it('openssl ocsp: good, then revoked with reason and time, verified against the CA (nonce echoed)', async () => {
    const leaf = await enroll(ca, 'ocsp-a', 'DNS:oa.internal', { dns: ['oa.internal'] });
    const file = leafFile('ocsp-a', leaf.chain);
    const aia = run('openssl', ['x509', '-in', file, '-noout', '-ocsp_uri']).stdout.trim();
    expect(aia).toBe(`${ca.server.url}/v1/ocsp`);
    const good = await opensslOcsp(['-cert', file]);
    expect(good).toContain('Response verify OK');
    expect(good).toContain(`${file}: good`);
    expect(good).not.toContain('WARNING');
    expect(
      (await call(ca, { path: '/v1/revoke', body: { serial: leaf.serial, reason: 'keyCompromise' }, ...admin(ca) }))
        .status,
    ).toBe(200);
    const revoked = await opensslOcsp(['-cert', file]);
    expect(revoked).toContain('Response verify OK');
    expect(revoked).toContain(`${file}: revoked`);
    expect(revoked).toContain('Reason: keyCompromise');
  });

  it('answers unknown for serials it never issued, and malformedRequest for garbage', async () => {
    const unknown = await opensslOcsp(['-serial', '0x0123456789abcdef']);
    expect(unknown).toContain('Response verify OK');
    expect(unknown).toContain('0x0123456789abcdef: unknown');
    const garbage = await call(ca, {
      path: '/v1/ocsp',
      rawBody: Buffer.from([0x30, 0x03, 0x02, 0x01]),
      contentType: 'application/ocsp-request',
    });
    expect(garbage.status).toBe(200);
    expect(garbage.headers['content-type']).toBe('application/ocsp-response');
    expect([...garbage.body]).toEqual([0x30, 0x03, 0x0a, 0x01, 0x01]); // OCSPResponse { malformedRequest }
    const json = await call(ca, { path: '/v1/ocsp', body: { x: 1 } });
    expect(json.status).toBe(415);
  });

  it('answers the GET form (base64 of the DER request in the path)', async () => {
    const leaf = await enroll(ca, 'ocsp-get', 'DNS:og.internal', { dns: ['og.internal'] });
    const file = leafFile('ocsp-get', leaf.chain);
    const reqFile = ca.work('get.req');
    run('openssl', ['ocsp', '-issuer', intermediateFile, '-cert', file, '-no_nonce', '-reqout', reqFile]);
    const b64 = encodeURIComponent(readFileSync(reqFile).toString('base64'));
    const r = await call(ca, { path: `/v1/ocsp/${b64}` });
    expect(r.status).toBe(200);
    const respFile = ca.work('get.resp');
    writeFileSync(respFile, r.body);
    const out = run('openssl', [
      'ocsp',
      '-respin',
      respFile,
      '-issuer',
      intermediateFile,
      '-cert',
      file,
      '-CAfile',
      chainFile,
    ]);
    expect(out.stdout + out.stderr).toContain(`${file}: good`);
  });

  it('from revoke to "revoked" in the served OCSP answer and CRL: measured, printed', async () => {
    const leaf = await enroll(ca, 'ocsp-t', 'DNS:ot.internal', { dns: ['ot.internal'] });
    const file = leafFile('ocsp-t', leaf.chain);
    const reqFile = ca.work('t.req');
    run('openssl', ['ocsp', '-issuer', intermediateFile, '-cert', file, '-no_nonce', '-reqout', reqFile]);
    const request = readFileSync(reqFile);
    const t0 = performance.now();
    const revoked = await call(ca, {
      path: '/v1/revoke',
      body: { serial: leaf.serial, reason: 'superseded' },
      ...admin(ca),
    });
    const t1 = performance.now();
    const [ocspReply, crlReply] = await Promise.all([
      call(ca, { path: '/v1/ocsp', rawBody: request, contentType: 'application/ocsp-request' }),
      call(ca, { path: '/v1/crl' }),
    ]);
    const t2 = performance.now();
    expect(revoked.status).toBe(200);
    const respFile = ca.work('t.resp');
    writeFileSync(respFile, ocspReply.body);
    const out = run('openssl', [
      'ocsp',
      '-respin',
      respFile,
      '-issuer',
      intermediateFile,
      '-cert',
      file,
      '-CAfile',
      chainFile,
    ]);
    expect(out.stdout + out.stderr).toContain(`${file}: revoked`);
    expect(parseCrl(new Uint8Array(crlReply.body)).revoked.map((e) => e.serialHex.replace(/^0+(?=.)/, ''))).toContain(
      leaf.serial,
    );
    console.log(
      `revoke → "revoked" in OCSP and CRL: ${(t2 - t0).toFixed(1)} ms from sending the revoke; the revoke answered after ${(t1 - t0).toFixed(1)} ms (commit, audit, CRL rebuilt, feed pushed), both answers fetched ${(t2 - t1).toFixed(1)} ms later (new TLS connections)`,
    );
  });
});
