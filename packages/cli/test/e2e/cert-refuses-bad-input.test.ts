import { generateKeyPairSync } from 'node:crypto';
import { readdirSync, writeFileSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { mutual, run, tempDir } from '../support.js';

const work = tempDir();
const ca = path.join(work, 'ca');
const out = path.join(work, 'out');

beforeAll(async () => {
  expect((await mutual(['ca', 'init', '--dir', ca])).code).toBe(0);
}, 60_000);

/** Every refusal: a stable code on stderr, no stack trace, the expected exit status, and no file written. */
async function expectRefusal(args: string[], code: string, exit: 1 | 2): Promise<string> {
  const r = await mutual([...args, '--dir', ca, '--out', out]);
  expect(r.stderr).toContain(`error[${code}]`);
  expect(r.stderr).not.toMatch(/\n\s+at .+\(.+:\d+:\d+\)/);
  expect(r.code).toBe(exit);
  expect(readdirSafe(out)).toEqual([]);
  return r.stderr;
}
const readdirSafe = (d: string): string[] => {
  try {
    return readdirSync(d);
  } catch {
    return [];
  }
};

describe('mutual cert issue refuses bad input with a stable code and writes nothing', () => {
  it.each([
    [['evil.example.com'], 'ERR_POLICY_DNS_NOT_ALLOWED', 1, 'policy.server.dns.allow'],
    [['8.8.8.8'], 'ERR_POLICY_IP_NOT_ALLOWED', 1, 'policy.server.ip.allow'],
    [['*.svc.internal'], 'ERR_POLICY_WILDCARD_NOT_ALLOWED', 1, 'policy.server.dns.allowWildcards'],
    [['spiffe://other.org/x'], 'ERR_POLICY_URI_NOT_ALLOWED', 1, 'policy.server.spiffe.trustDomain'],
    [['https://example.internal/'], 'ERR_POLICY_URI_NOT_ALLOWED', 1, 'policy.server.spiffe'],
    [['a\tb.internal'], 'ERR_POLICY_NAME_INVALID', 2, 'policy.server.dns'],
    [['a\r\nb.internal'], 'ERR_POLICY_NAME_INVALID', 2, 'policy.server.dns'],
    [[`${'x'.repeat(300)}.internal`], 'ERR_POLICY_NAME_INVALID', 2, 'policy.server.dns'],
    [['a*.internal'], 'ERR_POLICY_NAME_INVALID', 2, 'policy.server.dns'],
  ] as const)('%j → %s (exit %d, rule %s)', async (names, code, exit, rule) => {
    const stderr = await expectRefusal(['cert', 'issue', ...names, '--profile', 'server'], code, exit);
    expect(stderr).toContain(`rule: ${rule}`);
  });

  it('refuses a lifetime over the policy maximum', async () => {
    await expectRefusal(
      ['cert', 'issue', 'a.internal', '--profile', 'server', '--lifetime', '400d'],
      'ERR_POLICY_LIFETIME_EXCEEDED',
      1,
    );
  });

  it('rejects an unknown profile and malformed options as usage errors (exit 2)', async () => {
    const r = await mutual(['cert', 'issue', 'a.internal', '--profile', 'admin', '--dir', ca, '--out', out]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/profile/);
    const d = await mutual(['cert', 'issue', 'a.internal', '--profile', 'server', '--lifetime', '24', '--dir', ca]);
    expect(d.code).toBe(2);
    expect(d.stderr).toMatch(/duration/);
    expect(readdirSafe(out)).toEqual([]);
  });

  it('explains a missing CA (exit 2) and never re-initializes an existing one', async () => {
    const missing = await mutual(['cert', 'list', '--dir', path.join(work, 'none')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('error[ERR_CA_NOT_INITIALIZED]');
    const before = readFileSync(path.join(ca, 'root.crt'), 'utf8');
    const again = await mutual(['ca', 'init', '--dir', ca]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('error[ERR_CA_ALREADY_EXISTS]');
    expect(readFileSync(path.join(ca, 'root.crt'), 'utf8')).toBe(before);
  });

  it('needs the key passphrase: a CA whose passphrase env is missing refuses to sign', async () => {
    const envCa = path.join(work, 'envca');
    const init = await mutual(['ca', 'init', '--dir', envCa, '--passphrase-env', 'E2E_CA_PASS'], {
      env: { E2E_CA_PASS: 'correct horse' },
    });
    expect(init.code).toBe(0);
    expect(readFileSync(path.join(envCa, 'root.key'), 'utf8')).toContain('BEGIN ENCRYPTED PRIVATE KEY');
    const noEnv = await mutual(['cert', 'issue', 'a.internal', '--profile', 'server', '--dir', envCa, '--out', out]);
    expect(noEnv.code).toBe(2);
    expect(noEnv.stderr).toContain('error[ERR_CA_PASSPHRASE_MISSING]');
    const wrong = await mutual(['cert', 'issue', 'a.internal', '--profile', 'server', '--dir', envCa, '--out', out], {
      env: { E2E_CA_PASS: 'wrong' },
    });
    expect(wrong.code).not.toBe(0);
    expect(wrong.stderr).toContain('error[ERR_KEY_DECRYPT_FAILED]');
    expect(readdirSafe(out)).toEqual([]);
    const ok = await mutual(
      ['cert', 'issue', 'a.internal', '--profile', 'server', '--dir', envCa, '--out', path.join(work, 'envout')],
      { env: { E2E_CA_PASS: 'correct horse' } },
    );
    expect(ok.code).toBe(0);
  });

  it('never overwrites an existing key without --force', async () => {
    const dir = path.join(work, 'keep');
    expect(
      (await mutual(['cert', 'issue', 'keep.internal', '--profile', 'server', '--dir', ca, '--out', dir])).code,
    ).toBe(0);
    const key = readFileSync(path.join(dir, 'keep.internal.key'), 'utf8');
    const again = await mutual(['cert', 'issue', 'keep.internal', '--profile', 'server', '--dir', ca, '--out', dir]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('error[ERR_FILE_EXISTS]');
    expect(readFileSync(path.join(dir, 'keep.internal.key'), 'utf8')).toBe(key);
  });
});

describe('mutual cert sign refuses hostile CSRs', () => {
  const csrDir = tempDir('mutual-csr-');
  const openssl = async (args: string[]): Promise<void> => {
    const r = await run('openssl', args, { cwd: csrDir });
    expect(r.code, r.stderr).toBe(0);
  };

  it('signs a good CSR and ignores the extensions it asks for (CA:TRUE, extra EKU)', async () => {
    await openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'good.key']);
    await openssl([
      'req',
      '-new',
      '-key',
      'good.key',
      '-subj',
      '/CN=ignored',
      '-out',
      'good.csr',
      '-addext',
      'subjectAltName=DNS:csr.internal',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'extendedKeyUsage=codeSigning,serverAuth,clientAuth',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ]);
    const r = await mutual(['cert', 'sign', path.join(csrDir, 'good.csr'), '--profile', 'client', '--dir', ca]);
    expect(r.code, r.stderr).toBe(0);
    writeFileSync(path.join(csrDir, 'good.crt'), r.stdout);
    const text = await run('openssl', ['x509', '-in', path.join(csrDir, 'good.crt'), '-noout', '-text']);
    expect(text.stdout).toContain('CA:FALSE');
    expect(text.stdout).toContain('TLS Web Client Authentication');
    expect(text.stdout).not.toContain('Code Signing');
    expect(text.stdout).not.toContain('TLS Web Server Authentication');
    expect(text.stdout).not.toContain('Certificate Sign');
    expect(text.stdout).toContain('DNS:csr.internal');
  });

  it('refuses a CSR whose signature does not verify (no proof of possession)', async () => {
    const good = readFileSync(path.join(csrDir, 'good.csr'), 'utf8');
    const der = Buffer.from(good.replace(/-----[^-]+-----|\s/g, ''), 'base64');
    der[der.length - 5] = (der[der.length - 5] ?? 0) ^ 0x01; // flip a bit in the signature
    writeFileSync(path.join(csrDir, 'bad-sig.csr'), der);
    const r = await mutual(['cert', 'sign', path.join(csrDir, 'bad-sig.csr'), '--profile', 'client', '--dir', ca]);
    expect(r.stderr).toMatch(/error\[ERR_CSR_(SIGNATURE_INVALID|MALFORMED)\]/);
    expect(r.code).not.toBe(0);
  });

  it('refuses weak keys, garbage and oversized input', async () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
    writeFileSync(path.join(csrDir, 'weak.key'), privateKey.export({ type: 'pkcs8', format: 'pem' }));
    await openssl([
      'req',
      '-new',
      '-key',
      'weak.key',
      '-subj',
      '/CN=weak',
      '-addext',
      'subjectAltName=DNS:weak.internal',
      '-out',
      'weak.csr',
    ]);
    const weak = await mutual(['cert', 'sign', path.join(csrDir, 'weak.csr'), '--profile', 'server', '--dir', ca]);
    expect(weak.stderr).toContain('error[ERR_KEY_WEAK]');
    expect(weak.code).toBe(1);

    writeFileSync(
      path.join(csrDir, 'garbage.csr'),
      '-----BEGIN CERTIFICATE REQUEST-----\nnot base64!\n-----END CERTIFICATE REQUEST-----\n',
    );
    const garbage = await mutual([
      'cert',
      'sign',
      path.join(csrDir, 'garbage.csr'),
      '--profile',
      'server',
      '--dir',
      ca,
    ]);
    expect(garbage.stderr).toMatch(/error\[ERR_(PEM|CSR)_MALFORMED\]/);
    expect(garbage.code).toBe(2);

    writeFileSync(path.join(csrDir, 'huge.csr'), Buffer.alloc(200 * 1024, 0x41));
    const huge = await mutual(['cert', 'sign', path.join(csrDir, 'huge.csr'), '--profile', 'server', '--dir', ca]);
    expect(huge.stderr).toMatch(/error\[ERR_(FILE|CSR)_TOO_LARGE\]/);
    expect(huge.code).toBe(2);
  });

  it('refuses a CSR asking for names outside the policy', async () => {
    await openssl([
      'req',
      '-new',
      '-key',
      'good.key',
      '-subj',
      '/CN=x',
      '-addext',
      'subjectAltName=DNS:bank.example.com',
      '-out',
      'outside.csr',
    ]);
    const r = await mutual(['cert', 'sign', path.join(csrDir, 'outside.csr'), '--profile', 'server', '--dir', ca]);
    expect(r.stderr).toContain('error[ERR_POLICY_DNS_NOT_ALLOWED]');
    expect(r.code).toBe(1);
  });
});
