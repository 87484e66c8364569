// `mutual inventory` merges what the CA issued with what `mutual discover` found in use: states at
// now or at --at, where each certificate was seen, --expiring-within, --state and --json.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mutual } from '../support.js';
import { setUpLifecycle, type LifecycleSetup } from './lifecycle-setup.js';

let s: LifecycleSetup;
beforeAll(async () => {
  s = await setUpLifecycle();
  const d = await mutual(['discover', s.tlsTarget, s.foreignFile], { env: s.env });
  expect(d.code, d.stderr).toBe(0);
}, 90_000);
afterAll(async () => {
  await s.stop();
});

interface InventoryJson {
  at: string;
  items: {
    serial: string;
    source: string;
    state: string;
    identity: string | null;
    secondsLeft: number;
    places: { where: string; role: string }[];
  }[];
}

const inventory = async (args: string[]): Promise<InventoryJson> => {
  const r = await mutual(['inventory', ...args, '--json'], { env: s.env });
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as InventoryJson;
};

describe('mutual inventory', () => {
  it('lists issued and discovered certificates with their state and where they were seen', async () => {
    const inv = await inventory([]);
    const issued = inv.items.find((i) => i.serial === s.issuedSerial);
    expect(issued).toMatchObject({
      source: 'issued',
      identity: 'web.internal',
      places: [{ where: s.tlsTarget, role: 'server' }],
    });
    // A 24 h certificate is inside the default 7-day expiring window.
    expect(issued?.state).toBe('expiring');
    const foreign = inv.items.find((i) => i.serial === s.foreignSerial);
    expect(foreign).toMatchObject({
      source: 'discovered',
      state: 'valid',
      places: [{ where: s.foreignFile, role: 'file' }],
    });
    expect(foreign?.secondsLeft).toBeGreaterThan(29 * 86_400);

    const text = await mutual(['inventory'], { env: s.env });
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/^STATE\s+SOURCE\s+IDENTITY\s+EXPIRES\s+SEEN AT\s+SERIAL/);
    expect(text.stdout).toMatch(new RegExp(`valid\\s+discovered\\s+legacy\\.example\\s+.*left\\).*${s.foreignFile}`));
  });

  it('--at a future date shows what will have expired by then; --expiring-within and --state filter', async () => {
    const later = await inventory(['--at', '2099-01-01']);
    const ours = later.items.filter((i) => [s.issuedSerial, s.foreignSerial].includes(i.serial));
    expect(ours.map((i) => i.state)).toEqual(['expired', 'expired']);
    expect(ours.every((i) => i.secondsLeft < 0)).toBe(true);

    const soon = await inventory(['--expiring-within', '2d']);
    expect(soon.items.map((i) => i.serial)).toContain(s.issuedSerial);
    expect(soon.items.map((i) => i.serial)).not.toContain(s.foreignSerial);
    const month = await inventory(['--expiring-within', '60d']);
    expect(month.items.map((i) => i.serial)).toContain(s.foreignSerial);

    const discoveredOnly = await inventory(['--state', 'valid']);
    expect(discoveredOnly.items.every((i) => i.state === 'valid')).toBe(true);
    const bad = await mutual(['inventory', '--state', 'shiny'], { env: s.env });
    expect(bad.code).toBe(2);
  });
});
