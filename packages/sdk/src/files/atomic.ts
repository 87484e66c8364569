import { randomBytes } from 'node:crypto';
import { constants, promises as fs } from 'node:fs';
import path from 'node:path';
import { MutualError } from '../errors/index.js';

export interface WriteAtomicOptions {
  /** File mode from creation (never chmod after the write). Secrets use 0o600. */
  readonly mode?: number;
  /** Refuse to replace an existing file (ERR_FILE_EXISTS). */
  readonly exclusive?: boolean;
}

/**
 * Writes a file so that a reader sees either the old content or the new, never a torn write:
 * temp file created with its final mode, data written and fsynced, renamed over the target,
 * then the directory fsynced so the rename survives a crash.
 */
export async function writeFileAtomic(
  target: string,
  data: string | Uint8Array,
  options: WriteAtomicOptions = {},
): Promise<void> {
  const dir = path.dirname(target);
  const mode = options.mode ?? 0o644;
  if (options.exclusive === true && (await exists(target))) {
    throw new MutualError('ERR_FILE_EXISTS', { details: { file: target } });
  }
  const temp = path.join(dir, `.${path.basename(target)}.${randomBytes(6).toString('hex')}.tmp`);
  let handle: fs.FileHandle | undefined;
  try {
    handle = await fs.open(temp, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY, mode);
    await handle.writeFile(data);
    await handle.sync();
    await handle.close();
    handle = undefined;
    if (options.exclusive === true) {
      // link() fails if the target appeared meanwhile: no silent replacement.
      await fs.link(temp, target);
      await fs.unlink(temp);
    } else {
      await fs.rename(temp, target);
    }
    await syncDirectory(dir);
  } catch (err) {
    await handle?.close().catch(() => undefined);
    await fs.unlink(temp).catch(() => undefined);
    if (err instanceof MutualError) throw err;
    if (isErrno(err, 'EEXIST')) throw new MutualError('ERR_FILE_EXISTS', { details: { file: target }, cause: err });
    throw new MutualError('ERR_FILE_WRITE', { details: { file: target }, cause: err });
  }
}

/** fsyncs a directory so a rename or a new entry in it is durable. */
export async function syncDirectory(dir: string): Promise<void> {
  const handle = await fs.open(dir, constants.O_RDONLY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Whether anything (a file, a directory, a symlink, even a dangling one) is at `file`. */
export async function exists(file: string): Promise<boolean> {
  try {
    await fs.lstat(file);
    return true;
  } catch {
    return false;
  }
}

/** Whether `err` is a Node system error with this `code` (ENOENT, EEXIST, …). */
export function isErrno(err: unknown, code: string): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === code;
}

/** Reads a file with a size cap; a missing or unreadable file is ERR_FILE_READ naming the file. */
export async function readFileCapped(file: string, maxBytes = 4 * 1024 * 1024): Promise<Buffer> {
  let handle: fs.FileHandle | undefined;
  try {
    handle = await fs.open(file, constants.O_RDONLY);
    const stat = await handle.stat();
    if (!stat.isFile()) throw new MutualError('ERR_FILE_READ', { message: 'Not a regular file.', details: { file } });
    if (stat.size > maxBytes) {
      throw new MutualError('ERR_FILE_TOO_LARGE', { details: { file, maxBytes } });
    }
    return await handle.readFile();
  } catch (err) {
    if (err instanceof MutualError) throw err;
    throw new MutualError('ERR_FILE_READ', { details: { file }, cause: err });
  } finally {
    await handle?.close();
  }
}
