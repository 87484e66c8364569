import { readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { freePort, mutual, run, startUntil, tempDir, waitExit } from '../support.js';

// One CA for the file; every certificate below comes from `mutual cert issue`, and only third-party
// tools (openssl, certtool, curl) judge them.
const work = tempDir();
const ca = path.join(work, 'ca');
const root = path.join(ca, 'root.crt');

beforeAll(async () => {
  const init = await mutual(['ca', 'init', '--dir', ca, '--name', 'E2E']);
  expect(init.stderr).toBe('');
  expect(init.code).toBe(0);
}, 60_000);

const issue = async (args: string[]): Promise<void> => {
  const r = await mutual(['cert', 'issue', ...args, '--dir', ca, '--out', work]);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
};

describe('mutual cert issue', () => {
  it.each([
    ['server', 'sslserver', ['srv.internal', '127.0.0.1']],
    ['client', 'sslclient', ['spiffe://mutual.local/billing/worker']],
    ['both', 'sslserver', ['both.internal']],
    ['both', 'sslclient', ['both2.internal']],
  ] as const)('a %s certificate passes openssl verify -x509_strict -purpose %s', async (profile, purpose, names) => {
    await issue([...names, '--profile', profile]);
    const base = names[0].replace('spiffe://', '').replace(/\//g, '_');
    const crt = path.join(work, `${base}.crt`);
    const r = await run('openssl', [
      'verify',
      '-x509_strict',
      '-purpose',
      purpose,
      '-CAfile',
      root,
      '-untrusted',
      crt,
      crt,
    ]);
    expect(r.stdout + r.stderr).toContain(': OK');
    expect(r.code).toBe(0);
    expect(statSync(path.join(work, `${base}.key`)).mode & 0o777).toBe(0o600);
  });

  it('a client certificate is refused by openssl for server use, and a server certificate for client use', async () => {
    await issue(['onlyclient.internal', '--profile', 'client']);
    await issue(['onlyserver.internal', '--profile', 'server']);
    const c = path.join(work, 'onlyclient.internal.crt');
    const s = path.join(work, 'onlyserver.internal.crt');
    const asServer = await run('openssl', [
      'verify',
      '-x509_strict',
      '-purpose',
      'sslserver',
      '-CAfile',
      root,
      '-untrusted',
      c,
      c,
    ]);
    const asClient = await run('openssl', [
      'verify',
      '-x509_strict',
      '-purpose',
      'sslclient',
      '-CAfile',
      root,
      '-untrusted',
      s,
      s,
    ]);
    expect(asServer.code).not.toBe(0);
    expect(asClient.code).not.toBe(0);
  });

  it.each(['p256', 'p384', 'rsa2048', 'ed25519'])(
    'certtool --verify-chain accepts leaf → intermediate → root (%s leaf)',
    async (keyType) => {
      await issue([`gnutls-${keyType}.internal`, '--profile', 'server', '--key-type', keyType]);
      const bundle = path.join(work, `bundle-${keyType}.pem`);
      writeFileSync(
        bundle,
        readFileSync(path.join(work, `gnutls-${keyType}.internal.crt`), 'utf8') + readFileSync(root, 'utf8'),
      );
      const r = await run('certtool', ['--verify-chain', '--infile', bundle]);
      expect(r.stdout).toMatch(/Chain verification output: Verified/);
      expect(r.stdout).not.toMatch(/Not verified/);
      expect(r.code).toBe(0);
    },
  );

  it('curl with an issued client certificate completes an mTLS request to openssl s_server -Verify 1; without one it is refused', async () => {
    await issue(['localhost', '--profile', 'server']);
    await issue(['curl-client.internal', '--profile', 'client']);
    const port = await freePort();
    const server = await startUntil(
      'openssl',
      [
        's_server',
        '-accept',
        String(port),
        '-4',
        '-www',
        '-Verify',
        '1',
        '-verify_return_error',
        '-cert',
        path.join(work, 'localhost.crt'),
        '-key',
        path.join(work, 'localhost.key'),
        '-cert_chain',
        path.join(work, 'localhost.crt'),
        '-CAfile',
        root,
      ],
      /ACCEPT/,
    );
    try {
      const ok = await run('curl', [
        '-sS',
        '--fail',
        '--cacert',
        root,
        '--cert',
        path.join(work, 'curl-client.internal.crt'),
        '--key',
        path.join(work, 'curl-client.internal.key'),
        `https://localhost:${port}/`,
      ]);
      expect(ok.stderr).toBe('');
      expect(ok.code).toBe(0);
      expect(ok.stdout).toContain('Client certificate');
      expect(ok.stdout).toContain('curl-client.internal');

      const refused = await run('curl', ['-sS', '--fail', '--cacert', root, `https://localhost:${port}/`]);
      expect(refused.code).not.toBe(0);
    } finally {
      server.child.kill('SIGTERM');
      await waitExit(server.child);
    }
  });

  it('records every issued certificate in the inventory (cert list --json)', async () => {
    const r = await mutual(['cert', 'list', '--dir', ca, '--json', '--limit', '1000']);
    expect(r.code).toBe(0);
    const items = JSON.parse(r.stdout) as { profile: string; state: string; identity: string | null }[];
    expect(items.filter((i) => i.profile === 'root' || i.profile === 'intermediate')).toHaveLength(2);
    expect(items).toContainEqual(
      expect.objectContaining({ identity: 'spiffe://mutual.local/billing/worker', state: 'valid', profile: 'client' }),
    );
    expect(items.every((i) => i.state === 'valid')).toBe(true);
  });
});
