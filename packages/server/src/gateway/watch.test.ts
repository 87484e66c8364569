import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { credentialStoreDir, writeCredentialPair } from '@mutual/sdk';
import { watchPoints } from './watch.js';

describe('watchPoints', () => {
  it('is the file itself for a plain file', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'mutual-watch-'));
    const file = path.join(dir, 'tls.crt');
    writeFileSync(file, 'x');
    expect(watchPoints(file)).toContainEqual([dir, 'tls.crt']);
  });

  it("follows a credential pair's links down to the `current` link the agent swaps", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'mutual-watch-'));
    const paths = { cert: path.join(dir, 'tls.crt'), key: path.join(dir, 'tls.key') };
    await writeCredentialPair(paths, { certPem: 'C', keyPem: 'K', version: 'a' });
    const points = watchPoints(paths.key);
    expect(points).toContainEqual([dir, 'tls.key']);
    expect(points).toContainEqual([credentialStoreDir(paths.cert), 'current']);
  });
});
