import { X509Certificate, createHash } from 'node:crypto';
import { appendFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, mutual, tempDir } from '../support.js';
import { bootstrapAndToken, message, startAgent, startCa, type RunningAgent } from '../agent-support.js';

// A root rotation carried through with an agent that keeps a trust bundle (ADR 0030): the CA rotates
// its root; the agent learns the new root because the previous one endorsed it (the cross-certificate
// the CA publishes), writes it to its trust bundle and reports it; `finish-root-rotation` is then let
// through, and after the CA stops sending the cross-certificate the agent — still configured with the
// old root file only — keeps renewing, also after a restart.
const work = tempDir('mutual-agent-roots-');
const caDir = path.join(work, 'ca');
const ctxDir = path.join(work, 'ctx');
const env = { MUTUAL_CONTEXT_DIR: ctxDir };
const config = path.join(work, 'agent.yaml');
const bundle = path.join(work, 'trust', 'roots.pem');
const cert = path.join(work, 'out', 'web.crt');
let port = 0;
let ca: Awaited<ReturnType<typeof startCa>>;
let agent: RunningAgent | undefined;

const fingerprints = (pemText: string): string[] =>
  (pemText.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map((p) =>
    createHash('sha256').update(new X509Certificate(p).raw).digest('hex'),
  );

beforeAll(async () => {
  expect((await mutual(['ca', 'init', '--dir', caDir])).code).toBe(0);
  // Three CA restarts on a busy machine may outlast the certificate: let it renew for a while after expiry.
  appendFileSync(path.join(caDir, 'ca.yaml'), 'server:\n  renewal: { graceAfterExpiry: 1h }\n');
  port = await freePort();
  ca = await startCa(caDir, port);
  await bootstrapAndToken(caDir, ca.url, ca.fingerprint, ctxDir, path.join(work, 'web.token'), ['web.internal']);
  mkdirSync(path.join(work, 'out'));
  mkdirSync(path.join(work, 'trust'));
  writeFileSync(
    config,
    [
      'version: 1',
      'name: web-host',
      `ca: { url: "${ca.url}", rootFile: ca/root.crt, trustBundle: trust/roots.pem }`,
      'report: { interval: 1s }',
      'certificates:',
      '  - { name: web, cert: out/web.crt, key: out/web.key, names: { dns: [web.internal] }, token: { file: web.token }, lifetime: 15s }',
      '',
    ].join('\n'),
  );
}, 90_000);

afterAll(async () => {
  await agent?.stop();
  await ca.stop();
});

describe('mutual agent with a trust bundle through a root rotation', () => {
  it('learns the endorsed new root, lets finish-root-rotation through, and keeps renewing under the new root', async () => {
    const r1 = ca.fingerprint;
    agent = startAgent(['--config', config], env);
    await agent.waitFor(message('certificate enrolled'));

    const rotated = await mutual(['ca', 'rotate-root', '--dir', caDir, '--json']);
    expect(rotated.code, rotated.stderr).toBe(0);
    const r2 = (JSON.parse(rotated.stdout) as { root: { fingerprint: string } }).root.fingerprint;
    expect(await ca.stop()).toBe(0);
    ca = await startCa(caDir, port);

    const learnt = await agent.waitFor(message('trusts a new root, endorsed by a root it trusted'));
    expect(learnt).toMatchObject({ fingerprint: r2, endorsedBy: r1, trustBundle: bundle });
    expect(fingerprints(readFileSync(bundle, 'utf8'))).toEqual([r1, r2]);

    // Its report carries the new root: `ca trust` counts it, and finishing the rotation is let through.
    let standing: boolean | null | undefined;
    let last = '';
    const deadline = Date.now() + 30_000;
    while (standing !== true && Date.now() < deadline) {
      const r = await mutual(['ca', 'trust', '--json'], { env });
      expect(r.code, r.stderr).toBe(0);
      last = r.stdout;
      const all = JSON.parse(r.stdout) as { components: { name: string; trustsCurrentRoot: boolean | null }[] };
      standing = all.components.find((c) => c.name === 'web-host')?.trustsCurrentRoot;
    }
    expect(standing, last).toBe(true);
    const finished = await mutual(['ca', 'finish-root-rotation', '--dir', caDir]);
    expect(finished.code, finished.stderr).toBe(0);
    expect(await ca.stop()).toBe(0);
    ca = await startCa(caDir, port);

    // The CA's chains now end at the new intermediate; the agent (root file: the previous root only) renews.
    const mark = agent.lines.length;
    await agent.waitFor(message('certificate renewed'), 30_000, mark);
    const chain = fingerprints(readFileSync(cert, 'utf8'));
    expect(chain).toHaveLength(2);
    expect(new X509Certificate(readFileSync(cert)).issuer).toContain('Intermediate CA 2');

    // Restarted, it reads the trust bundle again and goes on renewing.
    expect(await agent.stop()).toBe(0);
    agent = startAgent(['--config', config], env);
    await agent.waitFor(message('certificate renewed'), 30_000);
    expect(agent.lines.some((l) => l.level === 'error')).toBe(false);
  }, 150_000);
});
