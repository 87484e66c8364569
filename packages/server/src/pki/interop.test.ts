// Third-party judges of what pki builds: `openssl verify -x509_strict`, GnuTLS `certtool
// --verify-chain`, `openssl x509 -text`, node's X509Certificate, and a real mTLS handshake between
// `openssl s_server` and curl with our certificates.
import { spawn, spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { KeyType } from '@mutual/sdk';
import { afterAll, describe, expect, it } from 'vitest';
import { createTestCa, type TestCa, type TestCertificate } from './test-support.js';

const dir = mkdtempSync(join(tmpdir(), 'mutual-pki-interop-'));
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

const NOW = new Date();
const KEY_TYPES: KeyType[] = ['p256', 'p384', 'rsa2048', 'rsa3072', 'rsa4096', 'ed25519'];

function write(name: string, content: string): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

function run(cmd: string, args: string[]): { status: number | null; out: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

function opensslVerify(ca: TestCa, leaf: TestCertificate, purpose: 'sslserver' | 'sslclient', tag: string) {
  const root = write(`${tag}-root.pem`, ca.root.pem);
  const inter = write(`${tag}-inter.pem`, ca.intermediate.pem);
  const leafFile = write(`${tag}-leaf.pem`, leaf.pem);
  return run('openssl', [
    'verify',
    '-x509_strict',
    '-purpose',
    purpose,
    '-CAfile',
    root,
    '-untrusted',
    inter,
    leafFile,
  ]);
}

function certtool(ca: TestCa, leaf: TestCertificate, tag: string, extra: string[] = []) {
  const chain = write(`${tag}-chain.pem`, leaf.pem + ca.intermediate.pem + ca.root.pem);
  const r = run('certtool', ['--verify-chain', '--infile', chain, ...extra]);
  const verdict = /Chain verification output: (.*)/.exec(r.out)?.[1]?.trim() ?? r.out;
  return { ...r, verdict };
}

const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';

describe.each(KEY_TYPES)('%s chains built by pki', (keyType) => {
  const ca = createTestCa({ now: NOW, keyType });
  const names = { dns: ['svc.example.test'], ip: ['127.0.0.1'] };
  const server = ca.issue({ profile: 'server', names });
  const client = ca.issue({ profile: 'client', names: { uri: ['spiffe://example.test/workload/a'] } });
  const both = ca.leaf;

  it('openssl verify -x509_strict accepts server and both for sslserver, client and both for sslclient', () => {
    for (const [leaf, purpose, tag] of [
      [server, 'sslserver', 'server'],
      [both, 'sslserver', 'both-s'],
      [client, 'sslclient', 'client'],
      [both, 'sslclient', 'both-c'],
    ] as const) {
      const r = opensslVerify(ca, leaf, purpose, `${keyType}-${tag}`);
      expect(r.out).toContain(': OK');
      expect(r.status).toBe(0);
    }
  });

  it('openssl verify refuses a client certificate for sslserver and a server certificate for sslclient', () => {
    const a = opensslVerify(ca, client, 'sslserver', `${keyType}-client-as-server`);
    expect(a.status).not.toBe(0);
    expect(a.out).toContain('unsuitable certificate purpose');
    const b = opensslVerify(ca, server, 'sslclient', `${keyType}-server-as-client`);
    expect(b.status).not.toBe(0);
    expect(b.out).toContain('unsuitable certificate purpose');
  });

  it('certtool --verify-chain trusts leaf + intermediate + root, checks purpose and hostname', () => {
    const plain = certtool(ca, server, `${keyType}-ct`);
    expect(plain.verdict).toBe('Verified. The certificate is trusted.');
    const withPurpose = certtool(ca, server, `${keyType}-ct-p`, [
      `--verify-purpose=${SERVER_AUTH}`,
      '--verify-hostname=svc.example.test',
    ]);
    expect(withPurpose.verdict).toBe('Verified. The certificate is trusted.');
    const clientOk = certtool(ca, client, `${keyType}-ct-c`, [`--verify-purpose=${CLIENT_AUTH}`]);
    expect(clientOk.verdict).toBe('Verified. The certificate is trusted.');
    const wrongPurpose = certtool(ca, client, `${keyType}-ct-wp`, [`--verify-purpose=${SERVER_AUTH}`]);
    expect(wrongPurpose.verdict).toContain('does not match the intended purpose');
    const wrongName = certtool(ca, server, `${keyType}-ct-wn`, ['--verify-hostname=other.example.test']);
    expect(wrongName.verdict).toContain('The name in the certificate does not match the expected');
  });

  it("certtool's 'high' profile (128-bit security) refuses RSA 2048 only; 'medium' accepts every key type", () => {
    const medium = certtool(ca, server, `${keyType}-ct-med`, ['--verify-profile=medium']);
    expect(medium.verdict).toBe('Verified. The certificate is trusted.');
    const high = certtool(ca, server, `${keyType}-ct-high`, ['--verify-profile=high']);
    if (keyType === 'rsa2048') expect(high.verdict).toContain('insecure algorithm');
    else expect(high.verdict).toBe('Verified. The certificate is trusted.');
  });

  it('node X509Certificate and openssl x509 -text read back exactly what was asked', () => {
    const x = new X509Certificate(server.der);
    expect(x.subjectAltName).toBe('DNS:svc.example.test, IP Address:127.0.0.1');
    expect(x.ca).toBe(false);
    expect(x.keyUsage).toEqual([SERVER_AUTH]); // node's keyUsage is the EKU list
    expect(x.checkIssued(new X509Certificate(ca.intermediate.der))).toBe(true);
    expect(x.verify(ca.intermediate.publicKey)).toBe(true);
    expect(new X509Certificate(ca.intermediate.der).ca).toBe(true);

    const text = run('openssl', [
      'x509',
      '-noout',
      '-text',
      '-in',
      write(`${keyType}-server-text.pem`, server.pem),
    ]).out;
    expect(text).toMatch(/X509v3 Basic Constraints: critical\s+CA:FALSE/);
    const ku = keyType.startsWith('rsa') ? 'Digital Signature, Key Encipherment' : 'Digital Signature';
    expect(text).toMatch(new RegExp(`X509v3 Key Usage: critical\\s+${ku}\\s*\\n`));
    expect(text).toMatch(/X509v3 Extended Key Usage: \s*\n\s+TLS Web Server Authentication\s*\n/);
    expect(text).toMatch(/X509v3 Subject Alternative Name: \s*\n\s+DNS:svc.example.test, IP Address:127.0.0.1\s*\n/);
    expect(text).toContain('Subject: CN = svc.example.test');
    expect(text).toContain(`Issuer: O = mutual test, CN = mutual test intermediate ${keyType}`);

    const fields = run('openssl', [
      'x509',
      '-noout',
      '-serial',
      '-startdate',
      '-enddate',
      '-in',
      write(`${keyType}-server-fields.pem`, server.pem),
    ]).out;
    const serial = /serial=([0-9A-F]+)/.exec(fields)?.[1];
    expect(serial?.replace(/^0+/, '')).toBe(x.serialNumber.replace(/^0+/, ''));
    expect(serial?.replace(/^0+/, '').length).toBeGreaterThanOrEqual(30); // ≥ 120 bits shown, 128 drawn
    const notBefore = new Date(/notBefore=(.*)/.exec(fields)?.[1] ?? '');
    const notAfter = new Date(/notAfter=(.*)/.exec(fields)?.[1] ?? '');
    expect(notBefore.getTime()).toBe(Math.floor((NOW.getTime() - 60_000) / 1000) * 1000);
    expect(notAfter.getTime()).toBe(Math.floor((NOW.getTime() + 24 * 3600_000) / 1000) * 1000);
    expect(new Date(x.validFrom).getTime()).toBe(notBefore.getTime());

    const caText = run('openssl', [
      'x509',
      '-noout',
      '-text',
      '-in',
      write(`${keyType}-inter-text.pem`, ca.intermediate.pem),
    ]).out;
    expect(caText).toMatch(/X509v3 Basic Constraints: critical\s+CA:TRUE, pathlen:0/);
    expect(caText).toMatch(/X509v3 Key Usage: critical\s+Digital Signature, Certificate Sign, CRL Sign/);
    expect(caText).not.toContain('Extended Key Usage');
    const rootText = run('openssl', [
      'x509',
      '-noout',
      '-text',
      '-in',
      write(`${keyType}-root-text.pem`, ca.root.pem),
    ]).out;
    expect(rootText).toMatch(/X509v3 Basic Constraints: critical\s+CA:TRUE\s*\n/);
  });
});

// ---------------------------------------------------------------------------------------------
// A real mTLS handshake: openssl s_server requires a client certificate, curl presents ours.

interface Server {
  port: number;
  output: () => string;
  exited: Promise<number | null>;
  kill: () => void;
}

async function startServer(ca: TestCa, server: TestCertificate, tag: string): Promise<Server> {
  const args = [
    's_server',
    '-accept',
    '127.0.0.1:0',
    '-naccept',
    '1',
    '-cert',
    write(`${tag}-srv.pem`, server.pem),
    '-cert_chain',
    write(`${tag}-srv-chain.pem`, ca.intermediate.pem),
    '-key',
    write(`${tag}-srv.key`, server.keyPem ?? ''),
    '-CAfile',
    write(`${tag}-root.pem`, ca.root.pem),
    '-Verify',
    '2',
    '-verify_return_error',
    '-www',
  ];
  const proc = spawn('openssl', args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  proc.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) =>
    proc.on('exit', (code) => {
      resolve(code);
    }),
  );
  const lines = createInterface({ input: proc.stdout });
  const port = await new Promise<number>((resolve, reject) => {
    lines.on('line', (line) => {
      output += `${line}\n`;
      const m = /^ACCEPT .*:(\d+)$/.exec(line);
      if (m) resolve(Number(m[1]));
    });
    void exited.then((code) => {
      reject(new Error(`s_server exited (${code}) before ACCEPT: ${output}`));
    });
  });
  return {
    port,
    output: () => output,
    exited,
    kill: () => {
      if (proc.exitCode === null && proc.pid !== undefined) proc.kill();
    },
  };
}

function curl(ca: TestCa, client: TestCertificate, port: number, tag: string) {
  return new Promise<{ status: number | null; out: string }>((resolve) => {
    const args = [
      '-sS',
      '--max-time',
      '20',
      '--cacert',
      write(`${tag}-cli-root.pem`, ca.root.pem),
      '--cert',
      write(`${tag}-cli-chain.pem`, client.pem + ca.intermediate.pem),
      '--key',
      write(`${tag}-cli.key`, client.keyPem ?? ''),
      `https://127.0.0.1:${port}/`,
    ];
    const proc = spawn('curl', args);
    let out = '';
    proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
    proc.stderr.on('data', (d: Buffer) => (out += d.toString()));
    proc.on('exit', (status) => {
      resolve({ status, out });
    });
  });
}

describe.each(['p256', 'rsa2048', 'ed25519'] as const)('mTLS handshake with %s certificates', (keyType) => {
  const ca = createTestCa({ now: NOW, keyType });
  const server = ca.issue({ profile: 'server', names: { ip: ['127.0.0.1'] } });

  it('curl with our client certificate is accepted by s_server -Verify, and verifies our server certificate', async () => {
    const client = ca.issue({ profile: 'client', names: { dns: ['client.example.test'] } });
    const s = await startServer(ca, server, `${keyType}-hs-ok`);
    try {
      const r = await curl(ca, client, s.port, `${keyType}-hs-ok`);
      expect(r.out).toContain('Client certificate');
      expect(r.out).toMatch(/Subject: CN ?= ?client\.example\.test/);
      expect(r.status).toBe(0);
    } finally {
      s.kill();
    }
  });

  it('a client certificate with only the serverAuth EKU is refused by s_server', async () => {
    const wrong = ca.issue({ profile: 'server', names: { dns: ['client.example.test'] } });
    const s = await startServer(ca, server, `${keyType}-hs-eku`);
    try {
      const r = await curl(ca, wrong, s.port, `${keyType}-hs-eku`);
      expect(r.status).not.toBe(0);
      await s.exited;
      expect(s.output()).toContain('unsuitable certificate purpose');
    } finally {
      s.kill();
    }
  });
});
