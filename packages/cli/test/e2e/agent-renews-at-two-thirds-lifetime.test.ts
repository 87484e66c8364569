import { X509Certificate } from 'node:crypto';
import { lstatSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mutual, run, tempDir } from '../support.js';
import {
  bootstrapAndToken,
  message,
  pairMatches,
  serialOf,
  startAgent,
  startCa,
  type RunningAgent,
} from '../agent-support.js';

// A real `mutual ca serve` and a real `mutual agent` managing one certificate with a 9 s lifetime.
const work = tempDir('mutual-agent-e2e-');
const caDir = path.join(work, 'ca');
const out = path.join(work, 'out');
const config = path.join(work, 'agent.yaml');
const cert = path.join(out, 'web.crt');
const key = path.join(out, 'web.key');
let ca: Awaited<ReturnType<typeof startCa>>;
let agent: RunningAgent;

beforeAll(async () => {
  expect((await mutual(['ca', 'init', '--dir', caDir])).code).toBe(0);
  ca = await startCa(caDir);
  await bootstrapAndToken(caDir, ca.url, ca.fingerprint, path.join(work, 'ctx'), path.join(work, 'web.token'), [
    'web.internal',
  ]);
  const { mkdirSync } = await import('node:fs');
  mkdirSync(out);
  writeFileSync(
    config,
    [
      'version: 1',
      'name: e2e-agent',
      `ca: { url: "${ca.url}", rootFile: ca/root.crt }`,
      'metrics: { listen: "127.0.0.1:0" }',
      'certificates:',
      '  - name: web',
      '    cert: out/web.crt',
      '    key: out/web.key',
      '    names: { dns: [web.internal] }',
      '    token: { file: web.token }',
      '    lifetime: 9s',
      '',
    ].join('\n'),
  );
}, 90_000);

afterAll(async () => {
  await agent.stop();
  await ca.stop();
});

describe('mutual agent against a real CA', () => {
  it('enrolls with the token, then renews at about 2/3 of the lifetime with a new key each time', async () => {
    agent = startAgent(['--config', config]);
    const enrolled = await agent.waitFor(message('certificate enrolled'));
    expect(lstatSync(cert).isSymbolicLink()).toBe(true);
    expect(statSync(key).mode & 0o777).toBe(0o600);
    expect(pairMatches(cert, key)).toBe(true);
    const firstSerial = serialOf(cert);
    const firstKey = readFileSync(key, 'utf8');
    expect(enrolled['serial']).toBe(firstSerial);

    const renewed = await agent.waitForCount(message('certificate renewed'), 2, 40_000);
    const [r1, r2] = renewed;
    expect(r1?.['previous']).toBe(firstSerial);
    expect(r2?.['previous']).toBe(r1?.['serial']);
    // Each renewal came at 2/3 of the 9 s lifetime (±5 % jitter), measured on the agent's clock.
    const gap1 = Date.parse(r1?.time ?? '') - Date.parse(enrolled.time);
    const gap2 = Date.parse(r2?.time ?? '') - Date.parse(r1?.time ?? '');
    for (const gap of [gap1, gap2]) {
      expect(gap).toBeGreaterThan(9_000 * 0.6);
      expect(gap).toBeLessThan(9_000 * 0.85);
    }
    expect(agent.lines.filter((l) => l.level === 'warn' || l.level === 'error')).toEqual([]);

    // The pair on disk is the newest, matches, and the key is new.
    expect(serialOf(cert)).not.toBe(firstSerial);
    expect(pairMatches(cert, key)).toBe(true);
    expect(readFileSync(key, 'utf8')).not.toBe(firstKey);
    expect(statSync(key).mode & 0o777).toBe(0o600);
    const v = await run('openssl', [
      'verify',
      '-purpose',
      'sslserver',
      '-CAfile',
      path.join(caDir, 'root.crt'),
      '-untrusted',
      cert,
      cert,
    ]);
    expect(v.code, v.stdout + v.stderr).toBe(0);
    const leaf = new X509Certificate(readFileSync(cert));
    expect(leaf.subjectAltName).toBe('DNS:web.internal');
  }, 90_000);

  it('shows each certificate in `mutual agent status` and in the metrics', async () => {
    const status = await mutual(['agent', 'status', '--config', config, '--json']);
    expect(status.code, status.stderr).toBe(0);
    const s = JSON.parse(status.stdout) as { agent: string; certificates: Array<Record<string, unknown>> };
    expect(s.agent).toBe('e2e-agent');
    expect(s.certificates[0]).toMatchObject({ name: 'web', overdue: false, expired: false, lastError: null });
    expect(typeof s.certificates[0]?.['renewAt']).toBe('string');
    const human = await mutual(['agent', 'status', '--config', config]);
    expect(human.stdout).toContain('web: ok');

    const listening = await agent.waitFor(message('metrics listening'));
    const res = await fetch(`http://127.0.0.1:${String(listening['port'])}/metrics`);
    const text = await res.text();
    expect(text).toMatch(/mutual_agent_certificate_expiry_seconds\{certificate="web"\} \d/);
    expect(text).toMatch(/mutual_agent_renewals_total\{certificate="web",outcome="success"\} [3-9]/);
    expect(text).toContain('mutual_agent_certificate_overdue{certificate="web"} 0');
  });

  it('stops cleanly on SIGTERM and leaves a valid pair', async () => {
    expect(await agent.stop()).toBe(0);
    expect(agent.lines.at(-1)?.message).toBe('agent stopped');
    expect(pairMatches(cert, key)).toBe(true);
  });
});
