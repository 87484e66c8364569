import { randomBytes } from 'node:crypto';
import { constants, promises as fs } from 'node:fs';
import path from 'node:path';
import { MutualError } from '../errors/index.js';
import { exists, isErrno, syncDirectory, writeFileAtomic } from './atomic.js';

/**
 * A certificate and its key replaced together, so that a reader never sees a mismatched pair.
 *
 * Layout, for `cert: /etc/app/tls.crt`:
 *
 *   /etc/app/.mutual-tls.crt/v-<version>/{cert.pem,key.pem,chain.pem}   one directory per version
 *   /etc/app/.mutual-tls.crt/current -> v-<version>                       the single commit point
 *   /etc/app/tls.crt -> .mutual-tls.crt/current/cert.pem                  the configured paths
 *   /etc/app/tls.key -> .mutual-tls.crt/current/key.pem
 *
 * A new version is written completely (key created with mode 0600, every file and the directory
 * fsynced), then `current` is swapped by one rename of a new symlink over it. Whatever instant a
 * crash happens, `current` names either the old complete version or the new complete version.
 */
export interface CredentialPairPaths {
  /** Where readers find the certificate (becomes a symlink into the store). */
  readonly cert: string;
  /** Where readers find the private key (becomes a symlink into the store). */
  readonly key: string;
  /** Optional: where readers find the chain (intermediates) alone. */
  readonly chain?: string | undefined;
  /** Optional: one file with certificate, chain and key (mode 0600), replaced by a single rename. */
  readonly bundle?: string | undefined;
}

export interface CredentialPairContent {
  /** Leaf certificate PEM. */
  readonly certPem: string;
  /** Private key PEM. */
  readonly keyPem: string;
  /** Intermediate certificates PEM (may be empty). */
  readonly chainPem?: string | undefined;
  /** A name for the version, e.g. the serial (hex). Characters outside [A-Za-z0-9_-] are dropped. */
  readonly version: string;
}

export interface WritePairOptions {
  /** Versions kept besides the current one (the previous is always kept); default 1. */
  readonly keepPrevious?: number;
}

export interface WrittenPair {
  /** The directory of the version now current. */
  readonly versionDir: string;
  /** The version that was current before, if any. */
  readonly previousDir: string | null;
}

export interface ReadPair {
  readonly certPem: string;
  readonly keyPem: string;
  readonly chainPem: string;
  /** The version directory both files were read from. */
  readonly versionDir: string;
}

const CERT = 'cert.pem';
const KEY = 'key.pem';
const CHAIN = 'chain.pem';
const CURRENT = 'current';

/** The store directory beside the certificate path: `<dir>/.mutual-<name>`. */
export function credentialStoreDir(certPath: string): string {
  return path.join(path.dirname(certPath), `.mutual-${path.basename(certPath)}`);
}

/**
 * Writes a new version of the pair and makes it current with one atomic symlink swap. Never
 * deletes or truncates the current version; a failure before the swap leaves the old pair in
 * place. The first call converts existing regular files so that every intermediate state is a
 * matching pair (the existing pair is imported as a version first).
 */
export async function writeCredentialPair(
  paths: CredentialPairPaths,
  content: CredentialPairContent,
  options: WritePairOptions = {},
): Promise<WrittenPair> {
  const store = credentialStoreDir(paths.cert);
  try {
    await fs.mkdir(store, { recursive: true, mode: 0o755 });
    await adoptExistingFiles(store, paths);
    const previous = await currentVersionName(store);
    // Configured paths must point into `current/` before it moves (a crash may have left one as a
    // regular file holding the same content as `current`).
    if (previous !== null) await linkConfiguredPaths(store, paths);
    const name = await writeVersion(store, content.version, {
      cert: content.certPem,
      key: content.keyPem,
      chain: content.chainPem ?? '',
    });
    await swapSymlink(path.join(store, CURRENT), name); // ← the commit point
    await linkConfiguredPaths(store, paths);
    if (paths.bundle !== undefined) {
      const chain = content.chainPem ?? '';
      await writeFileAtomic(paths.bundle, joinPem(content.certPem, chain, content.keyPem), { mode: 0o600 });
    }
    await prune(store, new Set([name, ...(previous === null ? [] : [previous])]), options.keepPrevious ?? 1);
    return {
      versionDir: path.join(store, name),
      previousDir: previous === null ? null : path.join(store, previous),
    };
  } catch (err) {
    if (err instanceof MutualError) throw err;
    throw new MutualError('ERR_FILE_WRITE', { details: { file: paths.cert }, cause: err });
  }
}

/**
 * Reads the current pair consistently: `current` is resolved once and both files are read from
 * that version directory, so a swap in between cannot mix versions. Falls back to reading the
 * configured paths directly when they are not managed by a store (plain files).
 */
export async function readCredentialPair(paths: Pick<CredentialPairPaths, 'cert' | 'key'>): Promise<ReadPair> {
  const store = credentialStoreDir(paths.cert);
  const plain = await fs.lstat(paths.cert).then(
    (st) => st.isFile(),
    () => false,
  );
  const name = plain ? null : await currentVersionName(store).catch(() => null);
  if (name === null) {
    const [certPem, keyPem] = await Promise.all([readText(paths.cert), readText(paths.key)]);
    return { certPem, keyPem, chainPem: '', versionDir: path.dirname(paths.cert) };
  }
  const dir = path.join(store, name);
  const [certPem, keyPem, chainPem] = await Promise.all([
    readText(path.join(dir, CERT)),
    readText(path.join(dir, KEY)),
    readText(path.join(dir, CHAIN)).catch(() => ''),
  ]);
  return { certPem, keyPem, chainPem, versionDir: dir };
}

async function readText(file: string): Promise<string> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (err) {
    throw new MutualError('ERR_FILE_READ', { details: { file }, cause: err });
  }
}

/** The version `current` points to, or null when there is none yet. */
async function currentVersionName(store: string): Promise<string | null> {
  try {
    const target = await fs.readlink(path.join(store, CURRENT));
    return path.basename(target);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return null;
    throw err;
  }
}

/**
 * Writes one version into a temp directory, fsyncs it, then renames it to `v-<version>`: a
 * version directory is either complete or absent. Returns its name.
 */
async function writeVersion(
  store: string,
  version: string,
  files: { cert: string; key: string; chain: string },
): Promise<string> {
  const tmp = path.join(store, `.tmp-${randomBytes(6).toString('hex')}`);
  await fs.mkdir(tmp, { mode: 0o755 });
  await writeNew(path.join(tmp, KEY), files.key, 0o600);
  await writeNew(path.join(tmp, CERT), files.cert, 0o644);
  await writeNew(path.join(tmp, CHAIN), files.chain, 0o644);
  await syncDirectory(tmp);
  const safe = version.replace(/[^A-Za-z0-9_-]/g, '').slice(0, 80) || 'x';
  let name = `v-${safe}`;
  if (await exists(path.join(store, name))) name = `v-${safe}-${randomBytes(4).toString('hex')}`;
  await fs.rename(tmp, path.join(store, name));
  await syncDirectory(store);
  return name;
}

/** Creates a file that must not exist, with its final mode from creation, and fsyncs it. */
async function writeNew(file: string, data: string, mode: number): Promise<void> {
  const handle = await fs.open(file, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY, mode);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Points `link` at `target` atomically: a new symlink renamed over the old one, then dir fsync. */
async function swapSymlink(link: string, target: string): Promise<void> {
  const dir = path.dirname(link);
  const tmp = path.join(dir, `.${path.basename(link)}.${randomBytes(6).toString('hex')}.lnk`);
  await fs.symlink(target, tmp);
  try {
    await fs.rename(tmp, link);
  } catch (err) {
    await fs.unlink(tmp).catch(() => undefined);
    throw err;
  }
  await syncDirectory(dir);
}

/** The symlink target for a configured path, relative so the tree can be moved. */
function linkTarget(store: string, configured: string, file: string): string {
  return path.relative(path.dirname(configured), path.join(store, CURRENT, file));
}

/**
 * When the configured paths are regular files (first run, or files put back by hand), import them
 * as a version and make it current, then replace each configured path by a symlink to the same
 * content — so every intermediate state is the old pair. Absent paths are linked directly.
 */
async function adoptExistingFiles(store: string, paths: CredentialPairPaths): Promise<void> {
  // Managed paths are symlinks; plain files here are a first run, or files someone put back by hand.
  const [cert, key, chain] = await Promise.all([
    readRegular(paths.cert),
    readRegular(paths.key),
    paths.chain === undefined ? Promise.resolve(null) : readRegular(paths.chain),
  ]);
  if (cert === null || key === null) return;
  const name = await writeVersion(store, `imported-${randomBytes(4).toString('hex')}`, {
    cert,
    key,
    chain: chain ?? '',
  });
  await swapSymlink(path.join(store, CURRENT), name);
}

async function readRegular(file: string): Promise<string | null> {
  try {
    const st = await fs.lstat(file);
    if (!st.isFile()) return null;
    return await fs.readFile(file, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return null;
    throw err;
  }
}

/** Makes each configured path a symlink into `current/` (no-op when it already is). */
async function linkConfiguredPaths(store: string, paths: CredentialPairPaths): Promise<void> {
  const wanted: Array<[string, string]> = [
    [paths.cert, CERT],
    [paths.key, KEY],
  ];
  if (paths.chain !== undefined) wanted.push([paths.chain, CHAIN]);
  for (const [configured, file] of wanted) {
    const target = linkTarget(store, configured, file);
    const existing = await fs.readlink(configured).catch(() => null);
    if (existing === target) continue;
    await swapSymlink(configured, target);
  }
}

/** Removes versions other than `keep` beyond the `keepPrevious` newest, and stale temp entries. */
async function prune(store: string, keep: Set<string>, keepPrevious: number): Promise<void> {
  const entries = await fs.readdir(store, { withFileTypes: true });
  const versions: Array<{ name: string; mtime: number }> = [];
  for (const e of entries) {
    const full = path.join(store, e.name);
    if (e.name.startsWith('.tmp-') || e.name.endsWith('.lnk')) {
      await fs.rm(full, { recursive: true, force: true });
    } else if (e.isDirectory() && e.name.startsWith('v-') && !keep.has(e.name)) {
      const st = await fs.stat(full);
      versions.push({ name: e.name, mtime: st.mtimeMs });
    }
  }
  versions.sort((a, b) => b.mtime - a.mtime);
  const extra = Math.max(0, keepPrevious - (keep.size - 1));
  for (const v of versions.slice(extra)) {
    await fs.rm(path.join(store, v.name), { recursive: true, force: true });
  }
}

function joinPem(...parts: string[]): string {
  return parts
    .map((p) => p.trim())
    .filter((p) => p !== '')
    .map((p) => `${p}\n`)
    .join('');
}
