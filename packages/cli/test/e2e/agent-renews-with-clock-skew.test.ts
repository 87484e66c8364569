import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mutual, tempDir } from '../support.js';
import { bootstrapAndToken, message, pairMatches, startAgent, startCa, type RunningAgent } from '../agent-support.js';

// The agent's clock is 5 minutes ahead of or behind the CA's (a hidden drill option shifts it).
// The schedule is measured on the agent's own clock from the moment a certificate arrives, so the
// renewal still comes at 2/3 of the lifetime and the CA, judging by its clock, accepts it.
const work = tempDir('mutual-agent-skew-');
const caDir = path.join(work, 'ca');
let ca: Awaited<ReturnType<typeof startCa>>;
const agents: RunningAgent[] = [];

beforeAll(async () => {
  expect((await mutual(['ca', 'init', '--dir', caDir])).code).toBe(0);
  ca = await startCa(caDir);
}, 90_000);

afterAll(async () => {
  for (const a of agents) await a.stop();
  await ca.stop();
});

describe('mutual agent with a skewed clock', () => {
  for (const offset of ['+5m', '-5m']) {
    it(`renews repeatedly with the agent clock ${offset} from the CA's`, async () => {
      const name = offset.startsWith('+') ? 'ahead' : 'behind';
      const dir = path.join(work, name);
      mkdirSync(path.join(dir, 'out'), { recursive: true });
      await bootstrapAndToken(caDir, ca.url, ca.fingerprint, path.join(work, 'ctx'), path.join(dir, 'token'), [
        `${name}.internal`,
      ]);
      const config = path.join(dir, 'agent.yaml');
      writeFileSync(
        config,
        [
          'version: 1',
          `ca: { url: "${ca.url}", rootFile: ${path.join(caDir, 'root.crt')} }`,
          'certificates:',
          `  - { name: ${name}, cert: out/tls.crt, key: out/tls.key, names: { dns: [${name}.internal] }, token: { file: token }, lifetime: 9s }`,
          '',
        ].join('\n'),
      );
      const agent = startAgent(['--config', config, '--clock-offset', offset]);
      agents.push(agent);
      await agent.waitFor(message('certificate enrolled'));
      const renewed = await agent.waitForCount(message('certificate renewed'), 2, 40_000);
      expect(renewed).toHaveLength(2);
      expect(agent.lines.filter((l) => l.level === 'warn' || l.level === 'error')).toEqual([]);
      expect(pairMatches(path.join(dir, 'out', 'tls.crt'), path.join(dir, 'out', 'tls.key'))).toBe(true);
      // The log's times are the agent's (skewed) clock.
      const shift = Date.parse(renewed[0]?.time ?? '') - Date.now();
      expect(Math.abs(shift - (offset.startsWith('+') ? 300_000 : -300_000))).toBeLessThan(60_000);
      await agent.stop();
    }, 90_000);
  }
});
