// Shared setup of the inventory and discovery tests: a real `mutual ca serve`, the admin context
// saved by `ca bootstrap`, a certificate issued through `token create` + `cert request`, a TLS
// server (`openssl s_server`) presenting it, and a certificate from elsewhere in a file.
import { rmSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'vitest';
import { BIN, bootstrapAdmin, freePort, mutual, run, startUntil, tempDir, waitExit } from '../support.js';

export interface LifecycleSetup {
  readonly work: string;
  readonly env: Record<string, string>;
  readonly issuedCert: string;
  readonly issuedSerial: string;
  /** host:port of openssl s_server presenting the issued certificate. */
  readonly tlsTarget: string;
  /** A self-signed certificate from elsewhere, valid 30 days. */
  readonly foreignFile: string;
  readonly foreignSerial: string;
  stop(): Promise<void>;
}

export async function setUpLifecycle(): Promise<LifecycleSetup> {
  const work = tempDir('mutual-inventory-');
  const ca = path.join(work, 'ca');
  const out = path.join(work, 'out');
  const env = { MUTUAL_CONTEXT_DIR: path.join(work, 'ctx') };
  expect((await mutual(['ca', 'init', '--dir', ca])).code).toBe(0);
  const server = await startUntil(
    process.execPath,
    [BIN, 'ca', 'serve', '--dir', ca, '--listen', '127.0.0.1:0'],
    /root fingerprint: ([0-9a-f]{64})/,
  );
  const url = /listening on (https:\/\/\S+)/.exec(server.output())?.[1] ?? '';
  const boot = await bootstrapAdmin(url, server.match[1] ?? '', ca, env);
  expect(boot.code, boot.stderr).toBe(0);
  const token = await mutual(['token', 'create', 'web.internal', '--profile', 'server'], { env });
  expect(token.code, token.stderr).toBe(0);
  const req = await mutual(['cert', 'request', 'web.internal', '--token', token.stdout.trim(), '--out', out], { env });
  expect(req.code, req.stderr).toBe(0);
  const issuedCert = path.join(out, 'web.internal.crt');
  const issuedSerial = (await run('openssl', ['x509', '-in', issuedCert, '-noout', '-serial'])).stdout
    .trim()
    .replace(/^serial=/, '')
    .toLowerCase()
    .replace(/^0+/, '');

  const port = await freePort();
  // -www answers each request with a status page and never reads stdin.
  const tls = await startUntil(
    'openssl',
    ['s_server', '-www', '-accept', `127.0.0.1:${port}`, '-cert', issuedCert, '-key', path.join(out, 'web.internal.key'), '-cert_chain', path.join(ca, 'intermediate.crt')],
    /ACCEPT/,
  ); // prettier-ignore

  const foreignFile = path.join(work, 'elsewhere', 'legacy.pem');
  const foreignKey = path.join(work, 'legacy.key');
  await run('mkdir', ['-p', path.dirname(foreignFile)]);
  const made = await run('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', foreignKey,
    '-out', foreignFile, '-subj', '/CN=legacy.example', '-addext', 'subjectAltName=DNS:legacy.example', '-days', '30',
  ]); // prettier-ignore
  expect(made.code, made.stderr).toBe(0);
  const foreignSerial = (await run('openssl', ['x509', '-in', foreignFile, '-noout', '-serial'])).stdout
    .trim()
    .replace(/^serial=/, '')
    .toLowerCase()
    .replace(/^0+/, '');

  return {
    work,
    env,
    issuedCert,
    issuedSerial,
    tlsTarget: `127.0.0.1:${port}`,
    foreignFile,
    foreignSerial,
    async stop() {
      tls.child.kill('SIGKILL');
      await waitExit(tls.child);
      server.child.kill('SIGTERM');
      expect(await waitExit(server.child)).toBe(0);
      rmSync(work, { recursive: true, force: true });
    },
  };
}
