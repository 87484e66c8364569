import { X509Certificate, createHash } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, bootstrapAdmin, freePort, mutual, opensslOcsp, run, startUntil, tempDir, waitExit } from '../support.js';

// An operator replaces the intermediate that signs (`mutual ca rotate-intermediate`) and restarts
// the CA: new certificates come from the new intermediate, those of the old one stay valid,
// renewable, revocable, listed on their own CRL and answered by OCSP; nothing that trusts the root changes.
const work = tempDir();
const ca = path.join(work, 'ca');
const out = path.join(work, 'out');
const env = { MUTUAL_CONTEXT_DIR: path.join(work, 'ctx') };
let port = 0;
let url = '';
let server: Awaited<ReturnType<typeof startUntil>> | undefined;

async function serve(): Promise<void> {
  server = await startUntil(
    process.execPath,
    [BIN, 'ca', 'serve', '--dir', ca, '--listen', `127.0.0.1:${String(port)}`],
    /root fingerprint: ([0-9a-f]{64})/,
  );
  url = /listening on (https:\/\/\S+)/.exec(server.output())?.[1] ?? '';
}

async function stop(): Promise<void> {
  if (server === undefined) return;
  server.child.kill('SIGTERM');
  expect(await waitExit(server.child)).toBe(0);
  server = undefined;
}

beforeAll(async () => {
  expect((await mutual(['ca', 'init', '--dir', ca])).code).toBe(0);
  port = await freePort();
  await serve();
  const fingerprint = createHash('sha256')
    .update(new X509Certificate(readFileSync(path.join(ca, 'root.crt'))).raw)
    .digest('hex');
  expect((await bootstrapAdmin(url, fingerprint, ca, env)).code).toBe(0);
}, 60_000);

afterAll(async () => {
  await stop();
});

const pemBlocks = (text: string): string[] => text.match(/-----BEGIN [^-]+-----[\s\S]+?-----END [^-]+-----\n?/g) ?? [];
const fp = (pem: string): string => createHash('sha256').update(new X509Certificate(pem).raw).digest('hex');

/** GET over TLS trusting a root (default: this file's first CA and its root). */
function get(
  pathname: string,
  base: { url: string; rootFile: string } = { url, rootFile: path.join(ca, 'root.crt') },
): Promise<{ status: number; body: Buffer; type: string }> {
  return new Promise((resolve, reject) => {
    request(`${base.url}${pathname}`, { ca: readFileSync(base.rootFile) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), type: res.headers['content-type'] ?? '' });
      });
    })
      .on('error', reject)
      .end();
  });
}

async function requestCert(name: string): Promise<string> {
  const token = await mutual(['token', 'create', name, '--profile', 'server'], { env });
  expect(token.code, token.stderr).toBe(0);
  const r = await mutual(['cert', 'request', name, '--token', token.stdout.trim(), '--out', out], { env });
  expect(r.code, r.stderr).toBe(0);
  return path.join(out, `${name}.crt`);
}

const issuerCn = (file: string): string =>
  /CN=([^\n]+)/.exec(new X509Certificate(readFileSync(file)).issuer)?.[1] ?? '';
const auditCount = async (): Promise<number> => {
  const r = await mutual(['audit', 'verify', '--dir', ca]);
  expect(r.code, r.stderr).toBe(0);
  return Number(/Audit chain intact: (\d+) records/.exec(r.stdout)?.[1] ?? NaN);
};

describe('mutual ca rotate-intermediate', () => {
  it('refuses with a wrong passphrase and changes nothing', async () => {
    const passFile = path.join(ca, 'secrets', 'ca-passphrase');
    const pass = readFileSync(passFile, 'utf8');
    const yaml = readFileSync(path.join(ca, 'ca.yaml'), 'utf8');
    const files = readdirSync(ca).sort();
    const records = await auditCount();
    writeFileSync(passFile, 'not the passphrase\n');
    try {
      const r = await mutual(['ca', 'rotate-intermediate', '--dir', ca]);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/error\[ERR_KEY_[A-Z_]+\]/);
    } finally {
      writeFileSync(passFile, pass);
    }
    expect(readFileSync(path.join(ca, 'ca.yaml'), 'utf8')).toBe(yaml);
    expect(readdirSync(ca).sort()).toEqual(files);
    expect(await auditCount()).toBe(records);
  });

  it('old certificates stay valid, renewable, revocable (own CRL, OCSP) while new ones come from the new intermediate', async () => {
    const keeper = await requestCert('keeper.internal');
    const victim = await requestCert('victim.internal');
    const oldIntermediatePem = readFileSync(path.join(ca, 'intermediate.crt'), 'utf8');
    const oldFp = fp(oldIntermediatePem);
    expect(issuerCn(keeper)).toBe('mutual Intermediate CA');
    const records = await auditCount();

    // While the CA runs (it keeps signing with the old one until it restarts).
    const rotated = await mutual(['ca', 'rotate-intermediate', '--dir', ca, '--json']);
    expect(rotated.code, rotated.stderr).toBe(0);
    const result = JSON.parse(rotated.stdout) as { fingerprint: string; previousFingerprint: string; subject: string };
    expect(result.previousFingerprint).toBe(oldFp);
    expect(result.subject).toBe('CN=mutual Intermediate CA 2, O=mutual');
    expect(await auditCount()).toBe(records + 1);
    const yaml = readFileSync(path.join(ca, 'ca.yaml'), 'utf8');
    expect(yaml).toContain(`intermediate: { certificate: intermediates/${result.fingerprint.slice(0, 16)}.crt`);
    expect(yaml).toContain('previousIntermediates:\n  - { certificate: intermediate.crt, key: intermediate.key }\n');
    expect(yaml).toContain('# mutual CA configuration'); // comments kept

    await stop();
    await serve();

    // New certificates: the new intermediate, and a CRL URL of their own issuer.
    const fresh = await requestCert('fresh.internal');
    expect(issuerCn(fresh)).toBe('mutual Intermediate CA 2');
    const freshChain = pemBlocks(readFileSync(fresh, 'utf8'));
    expect(fp(freshChain[1] ?? '')).toBe(result.fingerprint);
    const text = await run('openssl', ['x509', '-in', fresh, '-noout', '-ext', 'crlDistributionPoints']);
    expect(text.stdout).toContain(`${url}/v1/crl/${result.fingerprint.slice(0, 16)}`);
    const roots = JSON.parse((await get('/v1/roots')).body.toString()) as { intermediates: string[] };
    expect(roots.intermediates.map(fp)).toEqual([result.fingerprint, oldFp]);
    // Both intermediates' expiry on /metrics, each with its level, to alert on before the next rotation.
    const metrics = (await get('/metrics')).body.toString();
    const expiry = (level: string, f: string): number =>
      Number(
        new RegExp(
          `^mutual_ca_ca_certificate_expiry_timestamp_seconds\\{level="${level}",fingerprint="${f.slice(0, 16)}"\\} (\\d+)$`,
          'm',
        ).exec(metrics)?.[1] ?? NaN,
      );
    expect(expiry('intermediate', result.fingerprint) * 1000).toBe(
      Date.parse(new X509Certificate(freshChain[1] ?? '').validTo),
    );
    expect(expiry('previous', oldFp) * 1000).toBe(Date.parse(new X509Certificate(oldIntermediatePem).validTo));

    // An old certificate renews (by mTLS with the old intermediate's certificate) into a new one.
    const renewed = await mutual(['cert', 'renew', keeper], { env });
    expect(renewed.code, renewed.stderr).toBe(0);
    expect(issuerCn(keeper)).toBe('mutual Intermediate CA 2');
    // The admin certificate from `ca init` (old intermediate) still administers.
    const revoked = await mutual(['cert', 'revoke', victim, '--reason', 'keyCompromise'], { env });
    expect(revoked.code, revoked.stderr).toBe(0);

    // Each intermediate's CRL at its own URL; all of them in one PEM.
    const oldCrl = await get(`/v1/crl/${oldFp.slice(0, 16)}`);
    expect(oldCrl.status).toBe(200);
    const oldCrlFile = path.join(work, 'old.crl');
    writeFileSync(oldCrlFile, oldCrl.body);
    const oldChain = path.join(work, 'old-chain.pem');
    writeFileSync(oldChain, oldIntermediatePem + readFileSync(path.join(ca, 'root.crt'), 'utf8'));
    const checked = await run('openssl', [
      'crl',
      '-inform',
      'DER',
      '-in',
      oldCrlFile,
      '-CAfile',
      oldChain,
      '-noout',
      '-text',
    ]);
    expect(checked.code, checked.stderr).toBe(0);
    expect(checked.stderr).toContain('verify OK');
    const victimSerial = new X509Certificate(readFileSync(victim)).serialNumber.replace(/^0+/, '');
    expect(checked.stdout.toUpperCase()).toContain(victimSerial.toUpperCase());
    expect((await get('/v1/crl/0123456789abcdef')).status).toBe(404);

    const all = await get('/v1/crl/all');
    expect(all.status).toBe(200);
    expect(all.type).toContain('application/x-pem-file');
    expect(pemBlocks(all.body.toString())).toHaveLength(3); // root, new intermediate, old intermediate
    const allFile = path.join(work, 'all.pem');
    writeFileSync(allFile, all.body);
    const verify = (file: string) =>
      run('openssl', [
        'verify',
        '-crl_check_all',
        '-CRLfile',
        allFile,
        '-CAfile',
        path.join(ca, 'root.crt'),
        '-untrusted',
        file,
        file,
      ]);
    const victimVerdict = await verify(victim);
    expect(victimVerdict.code).not.toBe(0);
    expect(victimVerdict.stdout + victimVerdict.stderr).toContain('certificate revoked');
    expect((await verify(fresh)).code).toBe(0);
    expect((await verify(keeper)).code).toBe(0);

    // OCSP for the old intermediate's certificate, signed by that intermediate.
    const issuerFile = path.join(work, 'old-intermediate.pem');
    writeFileSync(issuerFile, oldIntermediatePem);
    const ocsp = await opensslOcsp({ issuer: issuerFile, cert: victim, caUrl: url, caFile: path.join(ca, 'root.crt') });
    expect(ocsp.stdout + ocsp.stderr).toContain('Response verify OK');
    expect(ocsp.stdout).toMatch(/: revoked/);
  });
});

describe('mutual ca rotate-root', () => {
  it('signs under a new root after a restart; chains end with the cross-certificate, so either root validates them, until finish-root-rotation once every component trusts the new root; retire-root then drops the previous root', async () => {
    const dir = path.join(work, 'ca-root');
    const ctx = { MUTUAL_CONTEXT_DIR: path.join(work, 'ctx-root') };
    expect((await mutual(['ca', 'init', '--dir', dir])).code).toBe(0);
    const rootPort = await freePort();
    const start = () =>
      startUntil(
        process.execPath,
        [BIN, 'ca', 'serve', '--dir', dir, '--listen', `127.0.0.1:${String(rootPort)}`],
        /root fingerprint: ([0-9a-f]{64})/,
      );
    const r1File = path.join(dir, 'root.crt');
    const r1Fp = fp(readFileSync(r1File, 'utf8'));
    let served = await start();
    const caUrl = /listening on (https:\/\/\S+)/.exec(served.output())?.[1] ?? '';
    try {
      expect((await bootstrapAdmin(caUrl, r1Fp, dir, ctx)).code).toBe(0);
      const issueVia = async (name: string): Promise<string> => {
        const token = await mutual(['token', 'create', name, '--profile', 'server'], { env: ctx });
        expect(token.code, token.stderr).toBe(0);
        const r = await mutual(['cert', 'request', name, '--token', token.stdout.trim(), '--out', out], { env: ctx });
        expect(r.code, r.stderr).toBe(0);
        return path.join(out, `${name}.crt`);
      };
      const early = await issueVia('early.internal');
      const records = Number(
        /Audit chain intact: (\d+) records/.exec((await mutual(['audit', 'verify', '--dir', dir])).stdout)?.[1],
      );

      const rotated = await mutual(['ca', 'rotate-root', '--dir', dir, '--json']);
      expect(rotated.code, rotated.stderr).toBe(0);
      const result = JSON.parse(rotated.stdout) as {
        root: { fingerprint: string; file: string };
        cross: { fingerprint: string };
        intermediate: { fingerprint: string };
        previousFingerprint: string;
      };
      expect(result.previousFingerprint).toBe(r1Fp);
      expect((await mutual(['audit', 'verify', '--dir', dir])).stdout).toContain(
        `Audit chain intact: ${String(records + 1)} records`,
      );
      served.child.kill('SIGTERM');
      expect(await waitExit(served.child)).toBe(0);
      served = await start();

      // The saved context still trusts only the previous root: it reaches the CA through the cross-certificate.
      const late = await issueVia('late.internal');
      const chain = pemBlocks(readFileSync(late, 'utf8')).map(fp);
      expect(chain.slice(1)).toEqual([result.intermediate.fingerprint, result.cross.fingerprint]);
      expect(issuerCn(late)).toBe('mutual Intermediate CA 2');
      const verifyWith = (anchor: string, file: string, extra: string[] = []) =>
        run('openssl', ['verify', ...extra, '-CAfile', anchor, '-untrusted', file, file]);
      expect((await verifyWith(r1File, late)).code).toBe(0);
      expect((await verifyWith(result.root.file, late)).code).toBe(0);

      // A certificate of the previous intermediate renews into one under the new root.
      expect((await mutual(['cert', 'renew', early], { env: ctx })).code).toBe(0);
      expect(pemBlocks(readFileSync(early, 'utf8')).map(fp).slice(1)).toEqual(chain.slice(1));

      // Both roots published; every level's CRL (new root, new intermediate, previous ones) in one PEM.
      const viaR1 = { url: caUrl, rootFile: r1File };
      const roots = JSON.parse((await get('/v1/roots', viaR1)).body.toString()) as {
        roots: string[];
        fingerprint: string;
      };
      expect(roots.roots.map(fp)).toEqual([result.root.fingerprint, r1Fp]);
      expect(roots.fingerprint).toBe(result.root.fingerprint);
      const crls = (await get('/v1/crl/all', viaR1)).body.toString();
      expect(pemBlocks(crls)).toHaveLength(4);
      const crlFile = path.join(work, 'root-rotation-crls.pem');
      writeFileSync(crlFile, crls);
      for (const anchor of [r1File, result.root.file]) {
        const checked = await verifyWith(anchor, late, ['-crl_check_all', '-CRLfile', crlFile]);
        expect(checked.code, checked.stdout + checked.stderr).toBe(0);
      }
      // Components report the roots they trust; `ca trust` says who still lacks the new one.
      const report = (name: string, anchors: string[] | undefined, kind = 'gateway'): Promise<number> =>
        new Promise((resolve, reject) => {
          const req = request(
            `${caUrl}/v1/reports`,
            {
              method: 'POST',
              ca: readFileSync(r1File),
              cert: readFileSync(path.join(dir, 'admin', 'admin.crt')),
              key: readFileSync(path.join(dir, 'admin', 'admin.key')),
              headers: { 'content-type': 'application/json' },
            },
            (res) => {
              res.resume();
              res.on('end', () => {
                resolve(res.statusCode ?? 0);
              });
            },
          );
          req.on('error', reject);
          req.end(
            JSON.stringify({
              component: { kind, name },
              at: new Date().toISOString(),
              health: { status: 'ok', ...(anchors === undefined ? {} : { trustAnchors: anchors }) },
            }),
          );
        });
      expect(await report('edge-old', [r1Fp])).toBe(200);
      expect(await report('edge-new', [r1Fp, result.root.fingerprint])).toBe(200);
      const trust = await mutual(['ca', 'trust', '--json'], { env: ctx });
      expect(trust.code, trust.stderr).toBe(0);
      const byName = Object.fromEntries(
        (
          JSON.parse(trust.stdout) as { components: { name: string; trustsCurrentRoot: boolean | null }[] }
        ).components.map((c) => [c.name, c.trustsCurrentRoot]),
      );
      expect(byName).toEqual({ 'edge-old': false, 'edge-new': true });
      expect((await mutual(['ca', 'trust'], { env: ctx })).stdout).toContain(
        `1 of 2 components trust the current root ${result.root.fingerprint.slice(0, 16)}`,
      );

      // A new client can pin the new root.
      const fresh = await mutual(['ca', 'bootstrap', '--ca-url', caUrl, '--fingerprint', result.root.fingerprint], {
        env: { MUTUAL_CONTEXT_DIR: path.join(work, 'ctx-new') },
      });
      expect(fresh.code, fresh.stderr).toBe(0);

      // Finishing the rotation is refused while a reporting component lacks the new root; nothing changes.
      const caYaml = path.join(dir, 'ca.yaml');
      const yamlBefore = readFileSync(caYaml, 'utf8');
      const finish = (extra: string[] = []) => mutual(['ca', 'finish-root-rotation', '--dir', dir, ...extra]);
      const lacking = await finish();
      expect(lacking.code).not.toBe(0);
      expect(lacking.stderr).toContain('ERR_CA_ROOT_NOT_TRUSTED_YET');
      expect(lacking.stderr).toContain('1 of 2 components do not trust the new root');
      expect(lacking.stderr).toContain('gateway edge-old (lacks it)');
      expect(readFileSync(caYaml, 'utf8')).toBe(yamlBefore);
      // So is it while one does not say which roots it trusts.
      expect(await report('edge-old', [r1Fp, result.root.fingerprint])).toBe(200);
      expect(await report('host-a', undefined, 'agent')).toBe(200);
      const unsaid = await finish();
      expect(unsaid.code).not.toBe(0);
      expect(unsaid.stderr).toContain('agent host-a (does not report its roots)');
      expect(readFileSync(caYaml, 'utf8')).toBe(yamlBefore);

      // Once every component trusts the new root, the cross-certificate goes: ca.yaml and the audit trail say so.
      expect(await report('host-a', [result.root.fingerprint], 'agent')).toBe(200);
      const auditBefore = Number(
        /Audit chain intact: (\d+) records/.exec((await mutual(['audit', 'verify', '--dir', dir])).stdout)?.[1],
      );
      const finished = await finish(['--json']);
      expect(finished.code, finished.stderr).toBe(0);
      const done = JSON.parse(finished.stdout) as {
        rootFingerprint: string;
        crossCertificates: string[];
        forced: boolean;
        components: { name: string; standing: string }[];
      };
      expect(done).toMatchObject({
        rootFingerprint: result.root.fingerprint,
        crossCertificates: [result.cross.fingerprint],
        forced: false,
      });
      expect(Object.fromEntries(done.components.map((c) => [c.name, c.standing]))).toEqual({
        'edge-old': 'trusts',
        'edge-new': 'trusts',
        'host-a': 'trusts',
      });
      expect(readFileSync(caYaml, 'utf8')).not.toContain('crossCertificates');
      expect((await mutual(['audit', 'verify', '--dir', dir])).stdout).toContain(
        `Audit chain intact: ${String(auditBefore + 1)} records`,
      );
      expect((await finish()).stderr).toContain('ERR_CA_NO_ROOT_ROTATION');

      // After a restart chains end at the intermediate: the new root validates them, the previous one no longer does.
      served.child.kill('SIGTERM');
      expect(await waitExit(served.child)).toBe(0);
      served = await start();
      const ctxNew = { MUTUAL_CONTEXT_DIR: path.join(work, 'ctx-new') };
      expect((await bootstrapAdmin(caUrl, result.root.fingerprint, dir, ctxNew)).code).toBe(0);
      const token = await mutual(['token', 'create', 'final.internal', '--profile', 'server'], { env: ctxNew });
      expect(token.code, token.stderr).toBe(0);
      const got = await mutual(['cert', 'request', 'final.internal', '--token', token.stdout.trim(), '--out', out], {
        env: ctxNew,
      });
      expect(got.code, got.stderr).toBe(0);
      const final = path.join(out, 'final.internal.crt');
      expect(pemBlocks(readFileSync(final, 'utf8')).map(fp).slice(1)).toEqual([result.intermediate.fingerprint]);
      expect((await verifyWith(result.root.file, final)).code).toBe(0);
      expect((await verifyWith(r1File, final)).code).not.toBe(0);

      // Retiring R1 is refused while certificates under it are unexpired: `early` (renewed, but not revoked) and the
      // admin certificate of `ca init`. The CA's own TLS, OCSP and CA certificates do not count.
      const retire = (extra: string[] = []) => mutual(['ca', 'retire-root', '--dir', dir, ...extra]);
      const yamlFinished = readFileSync(caYaml, 'utf8');
      const needed = await retire();
      expect(needed.code).not.toBe(0);
      expect(needed.stderr).toContain('ERR_CA_ROOT_STILL_NEEDED');
      expect(needed.stderr).toContain(`2 unexpired certificates still chain to the root ${r1Fp.slice(0, 16)}`);
      expect(readFileSync(caYaml, 'utf8')).toBe(yamlFinished);
      expect((await retire(['--fingerprint', 'f00'])).stderr).toContain('ERR_CA_NO_PREVIOUS_ROOT');
      const retired = await retire(['--fingerprint', r1Fp.slice(0, 12), '--force', '--json']);
      expect(retired.code, retired.stderr).toBe(0);
      expect(JSON.parse(retired.stdout)).toMatchObject({ fingerprint: r1Fp, certificates: 2, forced: true });
      const yamlRetired = readFileSync(caYaml, 'utf8');
      expect(yamlRetired).not.toContain(path.basename(r1File));
      expect(yamlRetired).not.toMatch(/previousIntermediates: \[\s*\{/);
      served.child.kill('SIGTERM');
      expect(await waitExit(served.child)).toBe(0);
      served = await start();
      const listed = JSON.parse(
        (await get('/v1/roots', { url: caUrl, rootFile: result.root.file })).body.toString(),
      ) as {
        roots: string[];
      };
      expect(listed.roots.map(fp)).toEqual([result.root.fingerprint]);
      expect(
        pemBlocks((await get('/v1/crl/all', { url: caUrl, rootFile: result.root.file })).body.toString()),
      ).toHaveLength(2);
      expect((await retire()).stderr).toContain('ERR_CA_NO_PREVIOUS_ROOT');
    } finally {
      served.child.kill('SIGTERM');
      await waitExit(served.child);
    }
  });

  it('finish-root-rotation refuses when no component reports (nothing tells), and --force finishes it, audited as forced', async () => {
    const dir = path.join(work, 'ca-forced');
    expect((await mutual(['ca', 'init', '--dir', dir])).code).toBe(0);
    expect((await mutual(['ca', 'rotate-root', '--dir', dir])).code).toBe(0);
    const caYaml = path.join(dir, 'ca.yaml');
    const before = readFileSync(caYaml, 'utf8');
    expect(before).toContain('crossCertificates');
    const refused = await mutual(['ca', 'finish-root-rotation', '--dir', dir]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('ERR_CA_ROOT_NOT_TRUSTED_YET');
    expect(refused.stderr).toContain('No component has reported to this CA');
    expect(readFileSync(caYaml, 'utf8')).toBe(before);

    const forced = await mutual(['ca', 'finish-root-rotation', '--dir', dir, '--force']);
    expect(forced.code, forced.stderr).toBe(0);
    expect(forced.stdout).toContain('No component has reported to this CA.');
    expect(forced.stdout).toContain('Root rotation finished (forced');
    expect(readFileSync(caYaml, 'utf8')).not.toContain('crossCertificates');
    const tail = await mutual(['audit', 'tail', '--dir', dir, '--json', '-n', '1']);
    expect(tail.code, tail.stderr).toBe(0);
    expect(tail.stdout).toContain('"ca.finish-root-rotation"');
    expect(tail.stdout).toContain('"forced":true');
  });
});
