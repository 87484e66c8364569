import { appendFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, mutual, tempDir } from '../support.js';
import {
  bootstrapAndToken,
  message,
  pairMatches,
  serialOf,
  startAgent,
  startCa,
  type RunningAgent,
} from '../agent-support.js';

// The CA goes away for longer than the whole renewal window (from 2/3 of the lifetime past expiry):
// the agent keeps the certificate it has, retries with growing delays, raises the overdue alert,
// and renews as soon as the CA is back at the same address.
const work = tempDir('mutual-agent-down-');
const caDir = path.join(work, 'ca');
const config = path.join(work, 'agent.yaml');
const cert = path.join(work, 'out', 'api.crt');
const key = path.join(work, 'out', 'api.key');
let port = 0;
let ca: Awaited<ReturnType<typeof startCa>> | undefined;
let agent: RunningAgent | undefined;

beforeAll(async () => {
  expect((await mutual(['ca', 'init', '--dir', caDir])).code).toBe(0);
  // The CA lets a certificate renew itself for a while after expiry (a holder cut off by an outage).
  appendFileSync(path.join(caDir, 'ca.yaml'), 'server:\n  renewal: { graceAfterExpiry: 1h }\n');
  port = await freePort();
  ca = await startCa(caDir, port);
  await bootstrapAndToken(caDir, ca.url, ca.fingerprint, path.join(work, 'ctx'), path.join(work, 'api.token'), [
    'api.internal',
  ]);
  mkdirSync(path.join(work, 'out'));
  writeFileSync(
    config,
    [
      'version: 1',
      `ca: { url: "${ca.url}", rootFile: ca/root.crt }`,
      'backoff: { base: 400ms, max: 2s }',
      'certificates:',
      '  - { name: api, cert: out/api.crt, key: out/api.key, names: { dns: [api.internal] }, token: { file: api.token }, lifetime: 12s }',
      '',
    ].join('\n'),
  );
}, 90_000);

afterAll(async () => {
  await agent?.stop();
  await ca?.stop();
});

describe('mutual agent while the CA is down', () => {
  it('keeps the old pair, backs off, alerts when overdue, and renews once the CA is back', async () => {
    agent = startAgent(['--config', config]);
    const enrolled = await agent.waitFor(message('certificate enrolled'));
    const serial = serialOf(cert);
    const keyPem = readFileSync(key, 'utf8');
    expect(await ca?.stop()).toBe(0);
    ca = undefined;

    // Past 2/3 of the lifetime: attempts fail and are spaced out more and more.
    const failures = await agent.waitForCount(message('renewal failed; the current certificate stays in place'), 4);
    expect(failures.map((f) => f['error'])).toEqual(Array(4).fill('ERR_CA_CLIENT_UNREACHABLE'));
    const delays = failures.map((f) => Number(f['retryInMs']));
    delays.forEach((d, i) => {
      const step = Math.min(2000, 400 * 2 ** i);
      expect(d).toBeGreaterThanOrEqual(step / 2);
      expect(d).toBeLessThanOrEqual(step);
    });

    // Past 90 %: one alert at level error.
    const alert = await agent.waitFor(message('certificate renewal overdue'));
    expect(alert).toMatchObject({ level: 'error', alert: true, certificate: 'api', serial });
    const status = await mutual(['agent', 'status', '--config', config, '--json']);
    expect(status.code).toBe(1);
    expect(JSON.parse(status.stdout)).toMatchObject({ certificates: [{ name: 'api', overdue: true }] });

    // Past notAfter too: still the same pair on disk, never removed or truncated.
    await agent.waitFor((l) => l.message.startsWith('renewal failed') && l['status'] === 'expired');
    expect(serialOf(cert)).toBe(serial);
    expect(readFileSync(key, 'utf8')).toBe(keyPem);
    expect(pairMatches(cert, key)).toBe(true);
    const attemptsWhileDown = agent.lines.filter((l) => l.message.startsWith('renewal failed')).length;

    // The CA comes back at the same address: the next attempt renews.
    const mark = agent.lines.length;
    ca = await startCa(caDir, port);
    const renewed = await agent.waitFor(message('certificate renewed'), 30_000, mark);
    expect(renewed['previous']).toBe(serial);
    expect(serialOf(cert)).toBe(renewed['serial']);
    expect(pairMatches(cert, key)).toBe(true);
    const after = await mutual(['agent', 'status', '--config', config, '--json']);
    expect(after.code, after.stdout).toBe(0);
    expect(JSON.parse(after.stdout)).toMatchObject({
      certificates: [{ name: 'api', overdue: false, failures: 0, lastError: null }],
    });
    console.log(
      `enrolled ${String(enrolled['serial'])}; ${attemptsWhileDown} failed attempts while the CA was down (delays ${delays.join(', ')} ms …); renewed as ${String(renewed['serial'])}`,
    );
  }, 120_000);
});
