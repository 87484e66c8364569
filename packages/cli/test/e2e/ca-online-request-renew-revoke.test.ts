import { X509Certificate } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, bootstrapAdmin, mutual, run, startUntil, tempDir, waitExit } from '../support.js';

// The client commands against a real `mutual ca serve`, as an operator would run them.
const work = tempDir();
const ca = path.join(work, 'ca');
const out = path.join(work, 'out');
const env = { MUTUAL_CONTEXT_DIR: path.join(work, 'ctx') };
let server: Awaited<ReturnType<typeof startUntil>>;
let url = '';
let fingerprint = '';

beforeAll(async () => {
  expect((await mutual(['ca', 'init', '--dir', ca])).code).toBe(0);
  server = await startUntil(
    process.execPath,
    [BIN, 'ca', 'serve', '--dir', ca, '--listen', '127.0.0.1:0'],
    /root fingerprint: ([0-9a-f]{64})/,
  );
  url = /listening on (https:\/\/\S+)/.exec(server.output())?.[1] ?? '';
  fingerprint = server.match[1] ?? '';
}, 60_000);

afterAll(async () => {
  server.child.kill('SIGTERM');
  expect(await waitExit(server.child)).toBe(0);
});

const serialOf = (file: string): string =>
  new X509Certificate(readFileSync(file)).serialNumber.toLowerCase().replace(/^0+/, '');

describe('online CA from the command line', () => {
  it('bootstrap refuses a wrong fingerprint and saves the context for a right one', async () => {
    const wrong = await mutual(['ca', 'bootstrap', '--ca-url', url, '--fingerprint', 'ab'.repeat(32)], { env });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain('error[ERR_CA_FINGERPRINT_MISMATCH]');
    const ok = await bootstrapAdmin(url, fingerprint, ca, env);
    expect(ok.code, ok.stderr).toBe(0);
    expect(readFileSync(path.join(env.MUTUAL_CONTEXT_DIR, 'root.crt'), 'utf8')).toBe(
      readFileSync(path.join(ca, 'root.crt'), 'utf8'),
    );
  });

  it('status --remote asks the running CA and says what the local status says', async () => {
    const remote = await mutual(['ca', 'status', '--remote'], { env });
    expect(remote.code, remote.stderr).toBe(0);
    expect(remote.stdout).toContain(`CA mutual at ${url} (store: sqlite)`);
    const local = await mutual(['ca', 'status', '--dir', ca]);
    const table = (text: string): string => text.slice(text.indexOf('\n\n'), text.indexOf('Inventory:'));
    expect(table(remote.stdout)).toBe(table(local.stdout));
    expect(table(remote.stdout)).toMatch(/^root\s.*\sfile\s+100 %$/m);
    const both = await mutual(['ca', 'status', '--remote', '--dir', ca], { env });
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('error[ERR_USAGE_INVALID_ARGUMENT]');
  });

  it('token → request issues a certificate whose key never left; the token works once', async () => {
    const token = await mutual(['token', 'create', 'svc.internal', '--profile', 'server', '--ttl', '2m'], { env });
    expect(token.code, token.stderr).toBe(0);
    const t = token.stdout.trim();
    expect(t.split('.')).toHaveLength(3);
    const req = await mutual(['cert', 'request', 'svc.internal', '--token', t, '--out', out], { env });
    expect(req.code, req.stderr).toBe(0);
    expect(statSync(path.join(out, 'svc.internal.key')).mode & 0o777).toBe(0o600);
    const v = await run('openssl', [
      'verify',
      '-x509_strict',
      '-purpose',
      'sslserver',
      '-CAfile',
      path.join(ca, 'root.crt'),
      '-untrusted',
      path.join(out, 'svc.internal.crt'),
      path.join(out, 'svc.internal.crt'),
    ]);
    expect(v.code, v.stderr).toBe(0);
    const replay = await mutual(['cert', 'request', 'svc.internal', '--token', t, '--out', path.join(work, 'again')], {
      env,
    });
    expect(replay.code).toBe(1);
    expect(replay.stderr).toContain('error[ERR_TOKEN_REPLAYED]');
    const other = await mutual(['token', 'create', 'a.internal', '--profile', 'server'], { env });
    const wrongName = await mutual(
      ['cert', 'request', 'b.internal', '--token', other.stdout.trim(), '--out', path.join(work, 'b')],
      { env },
    );
    expect(wrongName.code).not.toBe(0);
    expect(wrongName.stderr).toMatch(/error\[ERR_TOKEN_/);
  });

  it('renew presents the current certificate and replaces certificate and key with new ones', async () => {
    const crt = path.join(out, 'svc.internal.crt');
    const before = serialOf(crt);
    const keyBefore = readFileSync(path.join(out, 'svc.internal.key'), 'utf8');
    const r = await mutual(['cert', 'renew', crt], { env });
    expect(r.code, r.stderr).toBe(0);
    expect(serialOf(crt)).not.toBe(before);
    expect(readFileSync(path.join(out, 'svc.internal.key'), 'utf8')).not.toBe(keyBefore);
    expect(new X509Certificate(readFileSync(crt)).subjectAltName).toBe('DNS:svc.internal');
  });

  it('revoke by certificate file; the revoked certificate can no longer renew', async () => {
    const crt = path.join(out, 'svc.internal.crt');
    const serial = serialOf(crt);
    const r = await mutual(['cert', 'revoke', crt, '--reason', 'keyCompromise'], { env });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`Revoked ${serial} (keyCompromise)`);
    const renew = await mutual(['cert', 'renew', crt], { env });
    expect(renew.code).not.toBe(0);
    const list = await mutual(['cert', 'list', '--dir', ca, '--status', 'revoked', '--json']);
    expect((JSON.parse(list.stdout) as { serial: string }[]).map((c) => c.serial)).toContain(serial);
  });

  it('audit verify proves the chain, and detects an edited record', async () => {
    const ok = await mutual(['audit', 'verify', '--dir', ca]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/Audit chain intact: \d+ records/);
    const tail = await mutual(['audit', 'tail', '--dir', ca, '-n', '50', '--json']);
    const actions = tail.stdout
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { action: string }).action);
    expect(actions).toEqual(expect.arrayContaining(['certificate.issue', 'certificate.renew']));
    expect(tail.stdout).not.toContain('eyJ'); // no token in any record
    const db = new Database(path.join(ca, 'mutual.db'));
    db.prepare("update audit_log set actor = 'someone-else' where seq = 2").run();
    db.close();
    const broken = await mutual(['audit', 'verify', '--dir', ca]);
    expect(broken.code).toBe(1);
    expect(broken.stdout).toContain('BROKEN at record 2');
  });
});
