import { X509Certificate, createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSoftHsmToken, type TestToken } from '../../../server/test/support/softhsm.js';
import { BIN, bootstrapAdmin, freePort, mutual, opensslOcsp, run, startUntil, tempDir, waitExit } from '../support.js';

// An operator keeps the CA's root and intermediate keys on a PKCS#11 token (SoftHSM here, as an HSM
// would be): `ca hsm check` says whether the token is usable, `ca init --pkcs11-*` makes the keys on
// it, `ca serve` signs certificates, CRLs and OCSP answers there — judged by openssl — and a wrong
// PIN, a missing module or a key that is not its certificate's stop the CA with a plain error.
const work = tempDir();
const ca = path.join(work, 'ca');
const out = path.join(work, 'out');
let token: TestToken;
let env: Record<string, string>;
const pinFile = path.join(work, 'pin');
let server: Awaited<ReturnType<typeof startUntil>> | undefined;
let url = '';
let port = 0;

const serve = async (): Promise<void> => {
  server = await startUntil(
    process.execPath,
    [BIN, 'ca', 'serve', '--dir', ca, '--listen', `127.0.0.1:${String(port)}`],
    /root fingerprint: ([0-9a-f]{64})/,
    {
      env,
    },
  );
  url = /listening on (https:\/\/\S+)/.exec(server.output())?.[1] ?? '';
};
const stop = async (): Promise<void> => {
  if (server === undefined) return;
  server.child.kill('SIGTERM');
  expect(await waitExit(server.child)).toBe(0);
  server = undefined;
};

function get(pathname: string): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    request(`${url}${pathname}`, { ca: readFileSync(path.join(ca, 'root.crt')) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) });
      });
    })
      .on('error', reject)
      .end();
  });
}

beforeAll(async () => {
  port = await freePort();
  token = createSoftHsmToken('mutual-ca');
  env = { SOFTHSM2_CONF: token.conf, MUTUAL_CONTEXT_DIR: path.join(work, 'ctx') };
  writeFileSync(pinFile, `${token.pin}\n`, { mode: 0o600 });
});

afterAll(async () => {
  await stop();
});

describe('CA keys on a PKCS#11 token', () => {
  it('hsm check finds the module, the token and logs in before any key exists', async () => {
    const r = await mutual(
      ['ca', 'hsm', 'check', '--module', token.module, '--token', 'mutual-ca', '--pin-file', pinFile],
      {
        env,
      },
    );
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/ok\s+module\s+.*SoftHSM/);
    expect(r.stdout).toMatch(/ok\s+token\s+"mutual-ca"/);
    expect(r.stdout).toMatch(/ok\s+login/);
    expect(r.stdout).toContain('the token holds no private key');
    expect(r.stdout).not.toContain(token.pin);
  });

  it('init makes the root and intermediate keys on the token; no key file is written', async () => {
    const r = await mutual(
      [
        'ca',
        'init',
        '--dir',
        ca,
        '--pkcs11-module',
        token.module,
        '--pkcs11-token',
        'mutual-ca',
        '--pkcs11-pin-file',
        pinFile,
        '--json',
      ],
      { env },
    );
    expect(r.code, r.stderr).toBe(0);
    const result = JSON.parse(r.stdout) as { tokenKeys: { root: string; intermediate: string } };
    expect(result.tokenKeys.root).toMatch(
      /^pkcs11:token=mutual-ca;object=mutual-root-[0-9a-f]{16};id=(%[0-9a-f]{2}){8};type=private$/,
    );
    expect(existsSync(path.join(ca, 'root.key'))).toBe(false);
    expect(existsSync(path.join(ca, 'intermediate.key'))).toBe(false);
    const yaml = readFileSync(path.join(ca, 'ca.yaml'), 'utf8');
    expect(yaml).toContain(result.tokenKeys.intermediate);
    expect(yaml).not.toContain(token.pin);

    const check = await mutual(['ca', 'hsm', 'check', '--dir', ca], { env });
    expect(check.code, check.stdout).toBe(0);
    expect(check.stdout).toMatch(/ok\s+key\s+root: ECDSA P-256, sensitive, never extractable, belongs to root.crt/);
    expect(check.stdout).toMatch(/ok\s+signature intermediate: signed a test message, verified/);
    expect(check.stdout).toContain('Ready: the CA can sign with these keys.');
    // The root certificate is self-signed by the token's key: openssl checks that signature.
    const self = await run('openssl', [
      'verify',
      '-check_ss_sig',
      '-CAfile',
      path.join(ca, 'root.crt'),
      path.join(ca, 'root.crt'),
    ]);
    expect(self.code, self.stderr).toBe(0);
  });

  it('serve issues, revokes and publishes CRLs and OCSP answers signed on the token, as openssl checks them', async () => {
    await serve();
    const fingerprint = createHash('sha256')
      .update(new X509Certificate(readFileSync(path.join(ca, 'root.crt'))).raw)
      .digest('hex');
    expect((await bootstrapAdmin(url, fingerprint, ca, env)).code).toBe(0);
    const t = await mutual(['token', 'create', 'svc.internal', '--profile', 'server'], { env });
    expect(t.code, t.stderr).toBe(0);
    const req = await mutual(['cert', 'request', 'svc.internal', '--token', t.stdout.trim(), '--out', out], { env });
    expect(req.code, req.stderr).toBe(0);
    const crt = path.join(out, 'svc.internal.crt');
    const verify = (extra: string[]) =>
      run('openssl', ['verify', ...extra, '-CAfile', path.join(ca, 'root.crt'), '-untrusted', crt, crt]);
    const fresh = await verify([]);
    expect(fresh.code, fresh.stderr).toBe(0);

    const revoke = await mutual(['cert', 'revoke', crt, '--reason', 'keyCompromise'], { env });
    expect(revoke.code, revoke.stderr).toBe(0);
    const all = await get('/v1/crl/all');
    expect(all.status).toBe(200);
    const crls = path.join(work, 'crls.pem');
    writeFileSync(crls, all.body);
    const checked = await verify(['-crl_check_all', '-CRLfile', crls]);
    expect(checked.code).not.toBe(0);
    expect(checked.stdout + checked.stderr).toContain('certificate revoked');

    const issuer = path.join(work, 'intermediate.pem');
    writeFileSync(issuer, readFileSync(path.join(ca, 'intermediate.crt')));
    const ocsp = await opensslOcsp({ issuer, cert: crt, caUrl: url, caFile: path.join(ca, 'root.crt') });
    expect(ocsp.stdout + ocsp.stderr).toContain('Response verify OK');
    expect(ocsp.stdout).toMatch(/: revoked/);
    await stop();
  });

  it('a wrong PIN stops serve before it listens, and hsm check says so without the PIN', async () => {
    writeFileSync(pinFile, '000000\n');
    try {
      const s = await run(process.execPath, [BIN, 'ca', 'serve', '--dir', ca, '--listen', '127.0.0.1:0'], { env });
      expect(s.code).toBe(2);
      expect(s.stderr).toContain('error[ERR_KEYS_PKCS11_PIN_INCORRECT]: The PKCS#11 token refused the PIN.');
      expect(s.stdout).not.toContain('listening');
      const check = await mutual(['ca', 'hsm', 'check', '--dir', ca], { env });
      expect(check.code).toBe(1);
      expect(check.stdout).toMatch(
        /FAIL\s+login\s+The PKCS#11 token refused the PIN\. \[ERR_KEYS_PKCS11_PIN_INCORRECT\]/,
      );
      expect(check.stdout).toContain('Tokens lock the PIN after a few wrong tries');
      expect(check.stdout).not.toContain('000000');
    } finally {
      writeFileSync(pinFile, `${token.pin}\n`);
    }
  });

  it('a key that is not its certificate’s, or a module that does not load, stops serve with a plain error', async () => {
    const original = readFileSync(path.join(ca, 'ca.yaml'), 'utf8');
    try {
      const rootUri = /^root: \{ certificate: root\.crt, key: "([^"]+)" \}$/m.exec(original)?.[1] ?? '';
      const interUri =
        /^intermediate: \{ certificate: intermediate\.crt, key: "([^"]+)" \}$/m.exec(original)?.[1] ?? '';
      expect(rootUri).not.toBe('');
      writeFileSync(path.join(ca, 'ca.yaml'), original.replace(`key: "${rootUri}"`, `key: "${interUri}"`));
      const swapped = await run(process.execPath, [BIN, 'ca', 'serve', '--dir', ca, '--listen', '127.0.0.1:0'], {
        env,
      });
      expect(swapped.code).not.toBe(0);
      expect(swapped.stderr).toContain('error[ERR_CA_KEY_MISMATCH]');
      const check = await mutual(['ca', 'hsm', 'check', '--dir', ca], { env });
      expect(check.code).toBe(1);
      expect(check.stdout).toMatch(/FAIL\s+key\s+root: .*\[ERR_CA_KEY_MISMATCH\]/);

      writeFileSync(path.join(ca, 'ca.yaml'), original.replace(token.module, '/nonexistent/libvendor-pkcs11.so'));
      const missing = await run(process.execPath, [BIN, 'ca', 'serve', '--dir', ca, '--listen', '127.0.0.1:0'], {
        env,
      });
      expect(missing.code).toBe(2);
      expect(missing.stderr).toContain('error[ERR_KEYS_PKCS11_MODULE]');
      expect(missing.stderr).toContain('cannot open shared object file');
    } finally {
      writeFileSync(path.join(ca, 'ca.yaml'), original);
    }
  });

  it('rotations make the new keys on the same token, and the CA signs with them after a restart', async () => {
    const ri = await mutual(['ca', 'rotate-intermediate', '--dir', ca, '--json'], { env });
    expect(ri.code, ri.stderr).toBe(0);
    expect((JSON.parse(ri.stdout) as { keyFile: string }).keyFile).toMatch(
      /^pkcs11:token=mutual-ca;object=mutual-intermediate-[0-9a-f]{16};id=/,
    );
    const rr = await mutual(['ca', 'rotate-root', '--dir', ca, '--json'], { env });
    expect(rr.code, rr.stderr).toBe(0);
    const newRoot = (JSON.parse(rr.stdout) as { root: { file: string } }).root.file;
    const keyFiles = ['intermediates', 'roots'].flatMap((d) =>
      readdirSync(path.join(ca, d)).filter((f) => f.endsWith('.key')),
    );
    expect(keyFiles).toEqual([]);
    const yaml = readFileSync(path.join(ca, 'ca.yaml'), 'utf8');
    expect(yaml).toMatch(
      /^root: \{ certificate: roots\/[0-9a-f]{16}\.crt, key: "?pkcs11:token=mutual-ca;object=mutual-root-/m,
    );

    // Every key ca.yaml names — current, previous intermediates, previous root — is on the token and its certificate's.
    const check = await mutual(['ca', 'hsm', 'check', '--dir', ca, '--json'], { env });
    expect(check.code, check.stdout).toBe(0);
    const steps = (
      JSON.parse(check.stdout) as { ok: boolean; steps: { step: string; outcome: string; detail: string }[] }
    ).steps;
    expect(steps.filter((st) => st.step === 'signature' && st.outcome === 'ok')).toHaveLength(5);
    expect(steps.every((st) => st.outcome === 'ok')).toBe(true);
    // The audit trail names where each new key is.
    const tail = await mutual(['audit', 'tail', '--dir', ca, '-n', '5', '--json'], { env });
    const rotations = tail.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { action: string; details: Record<string, unknown> })
      .filter((r) => r.action.startsWith('ca.rotate-'));
    expect(rotations.map((r) => r.action)).toEqual(['ca.rotate-intermediate', 'ca.rotate-root']);
    expect(JSON.stringify(rotations)).toMatch(/"root":"pkcs11:token=mutual-ca;object=mutual-root-/);
    expect(JSON.stringify(rotations)).not.toContain(token.pin);
    expect(steps).toContainEqual(
      expect.objectContaining({
        step: 'key',
        outcome: 'ok',
        detail: expect.stringMatching(/^previous root 1: ECDSA P-256, sensitive, never extractable/) as string,
      }),
    );

    const status = await mutual(['ca', 'status', '--dir', ca, '--json'], { env });
    expect(status.code, status.stderr).toBe(0);
    const s = JSON.parse(status.stdout) as {
      root: { key: { storage: string; location: string } };
      previousRoots: { key: { storage: string } }[];
      previousIntermediates: { key: { storage: string } }[];
    };
    expect(s.root.key.storage).toBe('pkcs11');
    expect(yaml).toContain(s.root.key.location);
    expect([...s.previousRoots, ...s.previousIntermediates].map((c) => c.key.storage)).toEqual([
      'pkcs11',
      'pkcs11',
      'pkcs11',
    ]);
    expect((await mutual(['ca', 'status', '--dir', ca], { env })).stdout).toMatch(/^root\s.*\stoken\s+\d+ %/m);

    await serve();
    const t = await mutual(['token', 'create', 'after.internal', '--profile', 'server'], { env });
    expect(t.code, t.stderr).toBe(0);
    const req = await mutual(['cert', 'request', 'after.internal', '--token', t.stdout.trim(), '--out', out], { env });
    expect(req.code, req.stderr).toBe(0);
    const crt = path.join(out, 'after.internal.crt');
    for (const anchor of [newRoot, path.join(ca, 'root.crt')]) {
      const v = await run('openssl', ['verify', '-CAfile', anchor, '-untrusted', crt, crt]);
      expect(v.code, `${anchor}: ${v.stdout}${v.stderr}`).toBe(0);
    }
    await stop();
  });

  it('init takes keys already on a token by their URIs, and never destroys them when it fails', async () => {
    token.addToken('imported');
    for (const [label, id] of [
      ['hsm-root', '0a01'],
      ['hsm-intermediate', '0a02'],
    ] as const) {
      const keyFile = path.join(work, `${label}.pem`);
      expect(
        (await run('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-384', '-out', keyFile]))
          .code,
      ).toBe(0);
      const imported = await run(
        'softhsm2-util',
        ['--import', keyFile, '--token', 'imported', '--label', label, '--id', id, '--pin', token.pin],
        { env },
      );
      expect(imported.code, imported.stderr).toBe(0);
    }
    const args = (dir: string): string[] => [
      'ca',
      'init',
      '--dir',
      dir,
      '--pkcs11-module',
      token.module,
      '--pkcs11-pin-file',
      pinFile,
      '--pkcs11-root-key',
      'pkcs11:token=imported;object=hsm-root',
      '--pkcs11-intermediate-key',
      'pkcs11:token=imported;id=%0a%02',
    ];
    const failing = await mutual([...args(path.join(work, 'imported-failing')), '--postgres-env', 'UNREACHABLE_PG'], {
      env: { ...env, UNREACHABLE_PG: 'postgres://nobody@127.0.0.1:1/none?connect_timeout=2' },
    });
    expect(failing.code).not.toBe(0);
    const listed = await mutual(
      ['ca', 'hsm', 'check', '--module', token.module, '--token', 'imported', '--pin-file', pinFile],
      {
        env,
      },
    );
    expect(listed.stdout).toContain('"hsm-root" (id 0a01, EC)');
    expect(listed.stdout).toContain('"hsm-intermediate" (id 0a02, EC)');

    const dir = path.join(work, 'imported-ca');
    const r = await mutual(args(dir), { env });
    expect(r.code, r.stderr).toBe(0);
    const check = await mutual(['ca', 'hsm', 'check', '--dir', dir], { env });
    expect(check.code, check.stdout).toBe(0);
    expect(check.stdout).toMatch(/ok\s+key\s+root: ECDSA P-384/);
    const issued = await mutual(
      [
        'cert',
        'issue',
        'imported.internal',
        '--profile',
        'server',
        '--dir',
        dir,
        '--out',
        path.join(work, 'imported-out'),
      ],
      {
        env,
      },
    );
    expect(issued.code, issued.stderr).toBe(0);
    const leaf = path.join(work, 'imported-out', 'imported.internal.crt');
    const v = await run('openssl', ['verify', '-CAfile', path.join(dir, 'root.crt'), '-untrusted', leaf, leaf]);
    expect(v.code, v.stdout + v.stderr).toBe(0);
    expect(
      new X509Certificate(readFileSync(path.join(dir, 'intermediate.crt'))).publicKey.asymmetricKeyDetails?.namedCurve,
    ).toBe('secp384r1');
  });

  it('init that fails after making its keys removes them from the token again', async () => {
    token.addToken('scratch');
    const r = await mutual(
      [
        'ca',
        'init',
        '--dir',
        path.join(work, 'failing'),
        '--pkcs11-module',
        token.module,
        '--pkcs11-token',
        'scratch',
        '--pkcs11-pin-file',
        pinFile,
        '--postgres-env',
        'UNREACHABLE_PG',
      ],
      { env: { ...env, UNREACHABLE_PG: 'postgres://nobody@127.0.0.1:1/none?connect_timeout=2' } },
    );
    expect(r.code).not.toBe(0);
    expect(existsSync(path.join(work, 'failing'))).toBe(false);
    const check = await mutual(
      ['ca', 'hsm', 'check', '--module', token.module, '--token', 'scratch', '--pin-file', pinFile],
      {
        env,
      },
    );
    expect(check.code, check.stdout).toBe(0);
    expect(check.stdout).toContain('the token holds no private key');
  });
});
