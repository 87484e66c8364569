import {
  lstatSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  statSync,
  writeFileSync,
  mkdirSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { credentialStoreDir, readCredentialPair, writeCredentialPair } from './index.js';

const dir = (): string => mkdtempSync(path.join(tmpdir(), 'mutual-pair-'));
const pair = (n: number) => ({
  certPem: `CERT-${n}\n`,
  keyPem: `KEY-${n}\n`,
  chainPem: `CHAIN-${n}\n`,
  version: `s${n}`,
});

describe('writeCredentialPair', () => {
  it('links the configured paths into current/, with the key 0600 from creation', async () => {
    const d = dir();
    const paths = { cert: path.join(d, 'tls.crt'), key: path.join(d, 'tls.key'), chain: path.join(d, 'chain.pem') };
    const written = await writeCredentialPair(paths, pair(1));
    expect(written.previousDir).toBeNull();
    expect(lstatSync(paths.cert).isSymbolicLink()).toBe(true);
    expect(readlinkSync(paths.cert)).toBe('.mutual-tls.crt/current/cert.pem');
    expect(readlinkSync(paths.key)).toBe('.mutual-tls.crt/current/key.pem');
    expect(readFileSync(paths.cert, 'utf8')).toBe('CERT-1\n');
    expect(readFileSync(paths.key, 'utf8')).toBe('KEY-1\n');
    expect(readFileSync(paths.chain, 'utf8')).toBe('CHAIN-1\n');
    expect(statSync(paths.key).mode & 0o777).toBe(0o600);
    expect(statSync(paths.cert).mode & 0o777).toBe(0o644);
    expect(await readCredentialPair(paths)).toMatchObject({
      certPem: 'CERT-1\n',
      keyPem: 'KEY-1\n',
      chainPem: 'CHAIN-1\n',
    });
  });

  it('swaps versions, keeps the previous one and prunes older ones', async () => {
    const d = dir();
    const paths = { cert: path.join(d, 'tls.crt'), key: path.join(d, 'tls.key') };
    await writeCredentialPair(paths, pair(1));
    const second = await writeCredentialPair(paths, pair(2));
    expect(path.basename(second.previousDir ?? '')).toBe('v-s1');
    await writeCredentialPair(paths, pair(3));
    const store = credentialStoreDir(paths.cert);
    expect(readdirSync(store).sort()).toEqual(['current', 'v-s2', 'v-s3']);
    expect(readlinkSync(path.join(store, 'current'))).toBe('v-s3');
    expect(readFileSync(paths.key, 'utf8')).toBe('KEY-3\n');
    for (const v of ['v-s2', 'v-s3']) expect(statSync(path.join(store, v, 'key.pem')).mode & 0o777).toBe(0o600);
  });

  it('writes the same version name twice without replacing the directory in place', async () => {
    const d = dir();
    const paths = { cert: path.join(d, 'tls.crt'), key: path.join(d, 'tls.key') };
    await writeCredentialPair(paths, pair(1));
    const again = await writeCredentialPair(paths, { ...pair(1), certPem: 'CERT-1b\n' });
    expect(path.basename(again.versionDir)).toMatch(/^v-s1-[0-9a-f]{8}$/);
    expect(readFileSync(paths.cert, 'utf8')).toBe('CERT-1b\n');
  });

  it('converts existing regular files by importing them first, then swapping', async () => {
    const d = dir();
    const paths = { cert: path.join(d, 'tls.crt'), key: path.join(d, 'tls.key') };
    writeFileSync(paths.cert, 'OLD-CERT\n');
    writeFileSync(paths.key, 'OLD-KEY\n', { mode: 0o600 });
    const written = await writeCredentialPair(paths, pair(1));
    expect(path.basename(written.previousDir ?? '')).toMatch(/^v-imported-/);
    expect(readFileSync(path.join(written.previousDir ?? '', 'cert.pem'), 'utf8')).toBe('OLD-CERT\n');
    expect(statSync(path.join(written.previousDir ?? '', 'key.pem')).mode & 0o777).toBe(0o600);
    expect(readFileSync(paths.cert, 'utf8')).toBe('CERT-1\n');
    expect(readFileSync(paths.key, 'utf8')).toBe('KEY-1\n');
  });

  it('repairs a half-converted layout (one path linked, the other still a file) before swapping', async () => {
    const d = dir();
    const paths = { cert: path.join(d, 'tls.crt'), key: path.join(d, 'tls.key') };
    await writeCredentialPair(paths, pair(1));
    // As if a crash happened between linking the certificate and linking the key.
    const { rmSync } = await import('node:fs');
    rmSync(paths.key);
    writeFileSync(paths.key, 'KEY-1\n', { mode: 0o600 });
    await writeCredentialPair(paths, pair(2));
    expect(lstatSync(paths.key).isSymbolicLink()).toBe(true);
    expect(readFileSync(paths.key, 'utf8')).toBe('KEY-2\n');
  });

  it('ignores and cleans a temp directory left by a crash', async () => {
    const d = dir();
    const paths = { cert: path.join(d, 'tls.crt'), key: path.join(d, 'tls.key') };
    await writeCredentialPair(paths, pair(1));
    const store = credentialStoreDir(paths.cert);
    mkdirSync(path.join(store, '.tmp-deadbeef'));
    writeFileSync(path.join(store, '.tmp-deadbeef', 'cert.pem'), 'TORN');
    expect(readFileSync(paths.cert, 'utf8')).toBe('CERT-1\n');
    await writeCredentialPair(paths, pair(2));
    expect(readdirSync(store).sort()).toEqual(['current', 'v-s1', 'v-s2']);
  });

  it('writes the optional bundle as one 0600 file with certificate, chain and key', async () => {
    const d = dir();
    const paths = {
      cert: path.join(d, 'tls.crt'),
      key: path.join(d, 'tls.key'),
      bundle: path.join(d, 'tls.bundle.pem'),
    };
    await writeCredentialPair(paths, pair(1));
    expect(readFileSync(paths.bundle, 'utf8')).toBe('CERT-1\nCHAIN-1\nKEY-1\n');
    expect(statSync(paths.bundle).mode & 0o777).toBe(0o600);
  });

  it('reads plain files when the paths are not managed by a store', async () => {
    const d = dir();
    const paths = { cert: path.join(d, 'a.crt'), key: path.join(d, 'a.key') };
    writeFileSync(paths.cert, 'C');
    writeFileSync(paths.key, 'K');
    expect(await readCredentialPair(paths)).toMatchObject({ certPem: 'C', keyPem: 'K', chainPem: '' });
  });
});
