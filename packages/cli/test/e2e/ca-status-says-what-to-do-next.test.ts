import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { caStatus } from '@mutual/server';
import { mutual, tempDir } from '../support.js';

// `mutual ca status` works out, from the CA directory and its store, which step of the CA's life is
// due and the command for it: through a whole root rotation, and as the intermediate ages.
const work = tempDir('mutual-ca-status-');

const status = async (dir: string): Promise<string> => {
  const r = await mutual(['ca', 'status', '--dir', dir]);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout;
};

describe('mutual ca status', () => {
  it('walks an operator through a root rotation, one step at a time', async () => {
    const dir = path.join(work, 'ca');
    expect((await mutual(['ca', 'init', '--dir', dir])).code).toBe(0);
    const fresh = await status(dir);
    expect(fresh).toMatch(/^root +O=mutual, CN=mutual Root CA +[0-9a-f]{16} +\d{4}-\d\d-\d\d +file +100 %$/m);
    expect(fresh).toContain('Components: none has reported to this CA.');
    expect(fresh).toContain('Nothing to do.');
    expect(fresh).toContain('revoked; records leave 90d after expiry.');

    // A certificate under the first root, besides the admin certificate of `ca init`.
    expect(
      (
        await mutual([
          'cert',
          'issue',
          'early.internal',
          '--profile',
          'server',
          '--dir',
          dir,
          '--out',
          path.join(work, 'early'),
        ])
      ).code,
    ).toBe(0);
    const rotated = await mutual(['ca', 'rotate-root', '--dir', dir, '--json']);
    expect(rotated.code, rotated.stderr).toBe(0);
    const r2 = (JSON.parse(rotated.stdout) as { root: { fingerprint: string } }).root.fingerprint;
    const during = await status(dir);
    expect(during).toMatch(/^cross-certificate \(sent\) /m);
    expect(during).toContain(
      `1. Root rotation in progress, and no component reports which roots it trusts: make sure every relying party trusts the new root ${r2.slice(0, 16)}`,
    );
    expect(during).toContain('`mutual ca finish-root-rotation --force`');

    expect((await mutual(['ca', 'finish-root-rotation', '--dir', dir, '--force'])).code).toBe(0);
    const after = await status(dir);
    expect(after).not.toContain('cross-certificate (sent)');
    // The admin certificate of `ca init` and `early` are still under the previous root.
    expect(after).toMatch(/^previous root .* 100 %, 2 certificates under it$/m);
    const r1 = /previous root +\S.*? ([0-9a-f]{16}) /.exec(after)?.[1] ?? '';
    expect(after).toContain(`1. The previous root ${r1}… still has 2 unexpired certificates under it`);
    expect(after).toContain(`\`mutual ca retire-root --fingerprint ${r1}\``);
    // Counting stops at a cap (10,000 by default: the dashboard polls this): then the status says "or more".
    const capped = await caStatus({ dir, env: {}, now: new Date(), countCap: 1 });
    expect(capped.previousRoots[0]).toMatchObject({ certificates: 1, atLeast: true, lastNotAfter: null });
    expect(capped.next[0]).toContain(
      'still has 1 or more unexpired certificates under it (`mutual ca retire-root` counts them all)',
    );
    const counted = await caStatus({ dir, env: {}, now: new Date() });
    expect(counted.previousRoots[0]).toMatchObject({ certificates: 2, atLeast: false });

    expect((await mutual(['ca', 'retire-root', '--dir', dir, '--fingerprint', r1, '--force'])).code).toBe(0);
    const done = await status(dir);
    expect(done).not.toContain('previous root');
    expect(done).toContain('Nothing to do.');

    const asJson = await mutual(['ca', 'status', '--dir', dir, '--json']);
    expect(JSON.parse(asJson.stdout)).toMatchObject({ root: { fingerprint: r2 }, next: [], previousRoots: [] });
  });

  it('says when the intermediate and the root are due for rotation, as time passes', async () => {
    const dir = path.join(work, 'aging');
    expect((await mutual(['ca', 'init', '--dir', dir])).code).toBe(0);
    const year = 365 * 86_400_000;
    const at = (years: number) => caStatus({ dir, env: {}, now: new Date(Date.now() + years * year) });
    // Intermediate: five years; in its last third after about 3.3.
    expect((await at(3)).next).toEqual([]);
    const later = await at(3.5);
    expect(later.next).toHaveLength(1);
    expect(later.next[0]).toMatch(
      /^The signing intermediate [0-9a-f]{16}… is in the last third of its life .*`mutual ca rotate-intermediate`/,
    );
    // Root: ten years; in its last third after about 6.7.
    const old = await at(7);
    expect(
      old.next.some((n) => n.startsWith(`The root ${old.root.fingerprint.slice(0, 16)}… is in the last third`)),
    ).toBe(true);
    expect(old.root.left).toBeLessThan(1 / 3);
  });
});
