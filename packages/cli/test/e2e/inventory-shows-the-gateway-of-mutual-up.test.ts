// `mutual up` runs a CA and a gateway that reports to it. `mutual inventory` then shows the gateway's
// certificate as seen in use by the gateway itself, and `mutual discover` of the gateway's port adds
// the place a client sees it at.
import { rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, mutual, run, startUntil, tempDir, waitExit } from '../support.js';

const work = tempDir('mutual-up-inventory-');
const dir = path.join(work, '.mutual');
const env = { MUTUAL_CONTEXT_DIR: path.join(work, 'ctx') };
let up: Awaited<ReturnType<typeof startUntil>>;
let port = '';

beforeAll(async () => {
  up = await startUntil(
    process.execPath,
    [BIN, 'up', '--port', '0', '--ca-port', '0', '--admin-port', '0'],
    /Press Ctrl-C to stop/,
    { cwd: work },
  );
  port = /listening on https:\/\/localhost:(\d+)\//.exec(up.output())?.[1] ?? '';
  const bootstrap = /npx mutual ca bootstrap --ca-url (\S+) --fingerprint ([0-9a-f]{64})/.exec(up.output());
  const boot = await mutual(
    ['ca', 'bootstrap', '--ca-url', bootstrap?.[1] ?? '', '--fingerprint', bootstrap?.[2] ?? '',
      '--cert', path.join(dir, 'admin', 'admin.crt'), '--key', path.join(dir, 'admin', 'admin.key')],
    { env, cwd: work },
  ); // prettier-ignore
  expect(boot.code, boot.stderr).toBe(0);
}, 90_000);

afterAll(async () => {
  up.child.kill('SIGINT');
  expect(await waitExit(up.child)).toBe(0);
  rmSync(work, { recursive: true, force: true });
});

interface InventoryJson {
  items: {
    serial: string;
    source: string;
    state: string;
    identity: string | null;
    places: { where: string; role: string }[];
  }[];
}

describe('mutual inventory with mutual up', () => {
  it('shows the gateway certificate where the gateway reported it and where discover found it', async () => {
    const serial = (
      await run('openssl', ['x509', '-in', path.join(dir, 'certs', 'localhost.crt'), '-noout', '-serial'])
    ).stdout
      .trim()
      .replace(/^serial=/, '')
      .toLowerCase()
      .replace(/^0+/, '');
    const d = await mutual(
      ['discover', `127.0.0.1:${port}`, '--ca', path.join(dir, 'root.crt'), '--servername', 'localhost'],
      {
        env,
        cwd: work,
      },
    );
    expect(d.code, d.stderr).toBe(0);
    expect(d.stdout).toMatch(/server\s+\S+\s+.*\byes\b/);

    const r = await mutual(['inventory', '--json'], { env, cwd: work });
    expect(r.code, r.stderr).toBe(0);
    const gateway = (JSON.parse(r.stdout) as InventoryJson).items.find((i) => i.serial === serial);
    expect(gateway?.source).toBe('issued');
    const places = (gateway?.places ?? []).map((p) => `${p.role} ${p.where}`);
    expect(places).toContain(`server gateway demo demo 127.0.0.1:${port}`);
    expect(places).toContain(`server 127.0.0.1:${port}`);
    const text = await mutual(['inventory'], { env, cwd: work });
    expect(text.stdout).toContain('gateway demo demo 127.0.0.1:');
  });
});
