import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mutual, opensslOcsp, tempDir } from '../support.js';
import { bootstrapAndToken, message, serialOf, startAgent, startCa } from '../agent-support.js';

// A real `mutual ca serve` and a real `mutual agent` with revokeReplaced and revokeOnRemove:
// what the agent stops using is revoked at the CA, judged by `openssl ocsp`.
const work = tempDir('mutual-agent-revoke-');
const caDir = path.join(work, 'ca');
const config = path.join(work, 'agent.yaml');
const webCert = path.join(work, 'out', 'web.crt');
let ca: Awaited<ReturnType<typeof startCa>>;

const yaml = (certificates: string[]): string =>
  [
    'version: 1',
    'name: revoking-agent',
    `ca: { url: "${ca.url}", rootFile: ca/root.crt }`,
    'revokeReplaced: true',
    'revokeOnRemove: true',
    'report: { enabled: false }',
    'certificates:',
    ...certificates,
    '',
  ].join('\n');
const web = [
  '  - name: web',
  '    cert: out/web.crt',
  '    key: out/web.key',
  '    names: { dns: [web.internal] }',
  '    token: { file: web.token }',
  '    lifetime: 6s',
];
const api = [
  '  - name: api',
  '    cert: out/api.crt',
  '    key: out/api.key',
  '    names: { dns: [api.internal] }',
  '    token: { file: api.token }',
  '    lifetime: 1h',
];

/** The leaf alone (for `openssl ocsp -cert`), copied now: the agent replaces the file later. */
function leafCopy(name: string): string {
  const file = path.join(work, `${name}.leaf.pem`);
  const pem = readFileSync(webCert, 'utf8');
  writeFileSync(file, `${pem.split('-----END CERTIFICATE-----')[0] ?? ''}-----END CERTIFICATE-----\n`);
  return file;
}

const ocsp = (leaf: string) =>
  opensslOcsp({
    issuer: path.join(caDir, 'intermediate.crt'),
    cert: leaf,
    caUrl: ca.url,
    caFile: path.join(caDir, 'root.crt'),
  });

beforeAll(async () => {
  expect((await mutual(['ca', 'init', '--dir', caDir])).code).toBe(0);
  ca = await startCa(caDir);
  const ctx = path.join(work, 'ctx');
  await bootstrapAndToken(caDir, ca.url, ca.fingerprint, ctx, path.join(work, 'web.token'), ['web.internal']);
  await bootstrapAndToken(caDir, ca.url, ca.fingerprint, ctx, path.join(work, 'api.token'), ['api.internal']);
  mkdirSync(path.join(work, 'out'));
}, 90_000);

afterAll(async () => {
  await ca.stop();
});

describe('mutual agent revokes what it stops using', () => {
  it('revokeReplaced: the certificate a renewal replaced is revoked (superseded) once the new one is in place', async () => {
    writeFileSync(config, yaml([...web, ...api]));
    const agent = startAgent(['--config', config]);
    try {
      await agent.waitForCount(message('certificate enrolled'), 2);
      const first = serialOf(webCert);
      const firstLeaf = leafCopy('first');
      expect((await ocsp(firstLeaf)).stdout).toContain(': good');
      const revoked = await agent.waitFor(message('replaced certificate revoked'), 30_000);
      expect(revoked).toMatchObject({ certificate: 'web', serial: first, reason: 'superseded' });
      expect(serialOf(webCert)).not.toBe(first);
      const answer = await ocsp(firstLeaf);
      expect(answer.stdout + answer.stderr).toContain('Response verify OK');
      expect(answer.stdout).toContain(': revoked');
      expect(answer.stdout).toContain('Reason: superseded');
      // The certificate now in place is good.
      expect((await ocsp(leafCopy('second'))).stdout).toContain(': good');
      expect(agent.lines.filter((l) => l.level === 'warn' || l.level === 'error')).toEqual([]);
    } finally {
      await agent.stop();
    }
  }, 60_000);

  it('revokeOnRemove: a certificate taken out of agent.yaml is revoked (cessationOfOperation) and forgotten', async () => {
    const current = serialOf(webCert);
    const leaf = leafCopy('removed');
    writeFileSync(config, yaml(api));
    const once = await mutual(['agent', '--config', config, '--once']);
    expect(once.code, once.stdout + once.stderr).toBe(0);
    const line = once.stdout
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => l['message'] === 'removed certificate revoked');
    expect(line).toMatchObject({ certificate: 'web', serial: current, reason: 'cessationOfOperation' });
    const answer = await ocsp(leaf);
    expect(answer.stdout).toContain(': revoked');
    expect(answer.stdout).toContain('Reason: cessationOfOperation');

    const status = await mutual(['agent', 'status', '--config', config, '--json']);
    const names = (JSON.parse(status.stdout) as { certificates: { name: string }[] }).certificates.map((c) => c.name);
    expect(names).toEqual(['api']);
    // A second pass has nothing left to revoke.
    const again = await mutual(['agent', '--config', config, '--once']);
    expect(again.stdout).not.toContain('removed certificate');
  }, 60_000);
});
