import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { freePort, mutual, run, startUntil, tempDir, waitExit } from '../support.js';

const work = tempDir();
const ca = path.join(work, 'ca');

beforeAll(async () => {
  expect((await mutual(['ca', 'init', '--dir', ca])).code).toBe(0);
  const r = await mutual([
    'cert',
    'issue',
    'api.internal',
    '10.1.2.3',
    '--spiffe-id',
    'spiffe://mutual.local/ns/prod/sa/api',
    '--email',
    'ops@mutual.local',
    '--profile',
    'client',
    '--lifetime',
    '2h',
    '--dir',
    ca,
    '--out',
    work,
  ]);
  expect(r.code, r.stderr).toBe(0);
}, 60_000);

describe('mutual cert inspect', () => {
  it('shows names by type, identity, validity, usages and the chain from a file, agreeing with node and openssl', async () => {
    const crt = path.join(work, 'api.internal.crt');
    const r = await mutual(['cert', 'inspect', crt, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const [leaf, intermediate] = JSON.parse(r.stdout) as Record<string, unknown>[];
    const node = new X509Certificate(readFileSync(crt));
    expect(leaf).toMatchObject({
      role: 'leaf',
      identity: { kind: 'spiffe', value: 'spiffe://mutual.local/ns/prod/sa/api' },
      sans: {
        dns: ['api.internal'],
        ip: ['10.1.2.3'],
        uri: ['spiffe://mutual.local/ns/prod/sa/api'],
        email: ['ops@mutual.local'],
      },
      extendedKeyUsage: ['clientAuth'],
      keyUsage: ['digitalSignature'],
      basicConstraints: { ca: false, pathLength: null },
      key: 'ECDSA P-256',
      fingerprintSha256: node.fingerprint256.replace(/:/g, '').toLowerCase(),
      serial: node.serialNumber.toLowerCase().replace(/^0+/, ''),
      expired: false,
    });
    expect(
      new Date(leaf!['notAfter'] as string).getTime() - new Date(leaf!['notBefore'] as string).getTime(),
    ).toBeLessThanOrEqual(2 * 3_600_000 + 60_000);
    expect(intermediate).toMatchObject({ role: 'intermediate', basicConstraints: { ca: true, pathLength: 0 } });

    const text = await mutual(['cert', 'inspect', crt]);
    expect(text.stdout).toContain('Certificate 1 of 2 (leaf)');
    expect(text.stdout).toMatch(/identity:\s+spiffe spiffe:\/\/mutual.local\/ns\/prod\/sa\/api/);
    expect(text.stdout).toMatch(
      /valid:.*\(1h 5\dm left\)|valid:.*\(2h left\)|valid:.*\(2h 0m left\)|valid:.*\(1h \d+m left\)/,
    );
  });

  it('reads the chain a TLS server presents (host:port)', async () => {
    const port = await freePort();
    const server = await startUntil(
      'openssl',
      [
        's_server',
        '-accept',
        String(port),
        '-4',
        '-www',
        '-cert',
        path.join(work, 'api.internal.crt'),
        '-key',
        path.join(work, 'api.internal.key'),
        '-cert_chain',
        path.join(work, 'api.internal.crt'),
      ],
      /ACCEPT/,
    );
    try {
      const r = await mutual(['cert', 'inspect', `127.0.0.1:${port}`, '--json']);
      expect(r.code, r.stderr).toBe(0);
      const chain = JSON.parse(r.stdout) as { role: string; identity: { value: string } }[];
      expect(chain.map((c) => c.role)).toEqual(['leaf', 'intermediate']);
      expect(chain[0]?.identity.value).toBe('spiffe://mutual.local/ns/prod/sa/api');
    } finally {
      server.child.kill('SIGTERM');
      await waitExit(server.child);
    }
    const closed = await mutual(['cert', 'inspect', `127.0.0.1:${port}`]);
    expect(closed.code).toBe(1);
    expect(closed.stderr).toContain('error[ERR_CLI_CONNECT_FAILED]');
  });
});

describe('mutual cert export --p12', () => {
  it('writes a 0600 PKCS#12 that openssl opens with the passphrase and refuses without it', async () => {
    const passFile = path.join(work, 'p12pass');
    writeFileSync(passFile, 'bundle secret\n');
    const r = await mutual(['cert', 'export', 'api.internal', '--p12', '--in', work, '--passphrase-file', passFile]);
    expect(r.code, r.stderr).toBe(0);
    const p12 = path.join(work, 'api.internal.p12');
    expect(statSync(p12).mode & 0o777).toBe(0o600);
    const info = await run('openssl', ['pkcs12', '-in', p12, '-nodes', '-passin', 'pass:bundle secret']);
    expect(info.code, info.stderr).toBe(0);
    expect((info.stdout.match(/BEGIN CERTIFICATE/g) ?? []).length).toBe(2);
    expect(info.stdout).toContain('PRIVATE KEY');
    const wrong = await run('openssl', ['pkcs12', '-in', p12, '-nodes', '-passin', 'pass:nope']);
    expect(wrong.code).not.toBe(0);
  });

  it('generates and prints a passphrase when none is given, and refuses a key that does not match', async () => {
    const r = await mutual([
      'cert',
      'export',
      'api.internal',
      '--p12',
      '--in',
      work,
      '--out',
      path.join(work, 'gen.p12'),
    ]);
    expect(r.code, r.stderr).toBe(0);
    const pass = /Bundle passphrase: (\S+)/.exec(r.stdout)?.[1];
    expect(pass).toBeDefined();
    const info = await run('openssl', [
      'pkcs12',
      '-in',
      path.join(work, 'gen.p12'),
      '-noout',
      '-passin',
      `pass:${pass ?? ''}`,
    ]);
    expect(info.code, info.stderr).toBe(0);

    const other = tempDir();
    expect(
      (await mutual(['cert', 'issue', 'other.internal', '--profile', 'server', '--dir', ca, '--out', other])).code,
    ).toBe(0);
    writeFileSync(path.join(other, 'mixed.crt'), readFileSync(path.join(work, 'api.internal.crt')));
    writeFileSync(path.join(other, 'mixed.key'), readFileSync(path.join(other, 'other.internal.key')));
    const mixed = await mutual(['cert', 'export', 'mixed', '--p12', '--in', other]);
    expect(mixed.code).toBe(2);
    expect(mixed.stderr).toContain('error[ERR_KEY_MISMATCH]');
  });
});

describe('mutual cert list', () => {
  it('filters by status and expiry', async () => {
    const soon = await mutual(['cert', 'list', '--dir', ca, '--expiring-within', '3h', '--json']);
    expect(soon.code, soon.stderr).toBe(0);
    const items = JSON.parse(soon.stdout) as { identity: string; state: string }[];
    expect(items.map((i) => i.identity)).toEqual(['spiffe://mutual.local/ns/prod/sa/api']);
    expect(items[0]?.state).toBe('expiring');
    const revoked = await mutual(['cert', 'list', '--dir', ca, '--status', 'revoked']);
    expect(revoked.stdout).toBe('No certificates match.\n');
    const table = await mutual(['cert', 'list', '--dir', ca]);
    expect(table.stdout).toMatch(/^STATE\s+PROFILE\s+IDENTITY\s+EXPIRES\s+SERIAL/);
    expect(table.stdout).toContain('other.internal');
    const bad = await mutual(['cert', 'list', '--dir', ca, '--status', 'bogus']);
    expect(bad.code).toBe(2);
  });
});
