import { mkdtempSync, readFileSync, statSync, writeFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readFileCapped, writeFileAtomic } from './index.js';

const dir = (): string => mkdtempSync(path.join(tmpdir(), 'mutual-files-'));

describe('writeFileAtomic', () => {
  it('creates a secret with mode 0600 and leaves no temp file behind', async () => {
    const d = dir();
    const file = path.join(d, 'key.pem');
    await writeFileAtomic(file, 'secret', { mode: 0o600 });
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, 'utf8')).toBe('secret');
    expect(readdirSync(d)).toEqual(['key.pem']);
  });

  it('replaces content atomically, and refuses to replace when exclusive', async () => {
    const d = dir();
    const file = path.join(d, 'a.crt');
    writeFileSync(file, 'old');
    await writeFileAtomic(file, 'new');
    expect(readFileSync(file, 'utf8')).toBe('new');
    await expect(writeFileAtomic(file, 'newer', { exclusive: true })).rejects.toMatchObject({
      code: 'ERR_FILE_EXISTS',
    });
    expect(readFileSync(file, 'utf8')).toBe('new');
    expect(readdirSync(d)).toEqual(['a.crt']);
  });

  it('reports a write into a missing directory as ERR_FILE_WRITE', async () => {
    await expect(writeFileAtomic(path.join(dir(), 'missing', 'x'), 'x')).rejects.toMatchObject({
      code: 'ERR_FILE_WRITE',
    });
  });
});

describe('readFileCapped', () => {
  it('refuses files over the cap and names missing files', async () => {
    const d = dir();
    const file = path.join(d, 'big');
    writeFileSync(file, Buffer.alloc(2048));
    await expect(readFileCapped(file, 1024)).rejects.toMatchObject({ code: 'ERR_FILE_TOO_LARGE' });
    await expect(readFileCapped(path.join(d, 'nope'))).rejects.toMatchObject({
      code: 'ERR_FILE_READ',
      details: { file: path.join(d, 'nope') },
    });
  });
});
