import { closeSync, constants, fdatasync as fdatasyncCallback, fsync, openSync, statSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { MutualError } from '@mutual/sdk';
import Database from 'better-sqlite3';
import { Kysely, SqliteDialect, type SqliteDatabase } from 'kysely';
import type { Backend } from '../backend.js';
import { KyselyStore } from '../kysely-store.js';
import { migrate } from '../migrations/index.js';
import type { Database as Schema } from '../schema.js';
import type { Store } from '../types.js';

export interface SqliteStoreOptions {
  /** The database file; created with mode 0600 when missing. Its directory must exist. */
  readonly file: string;
  /** How long a write waits for another process's write lock before failing. Default 5000 ms. */
  readonly busyTimeoutMs?: number;
  /** How a file's data reaches the disk (tests inject failures); default fdatasync(2) on the libuv pool. */
  readonly fdatasync?: (fd: number) => Promise<void>;
  /** Records a substring search (`listCertificates` with `search`) reads between two turns of the event loop. Default 1,000 (~20 ms on a 1M-record inventory). */
  readonly searchChunkRecords?: number;
}

const fdatasyncAsync = promisify(fdatasyncCallback);
const fsyncAsync = promisify(fsync);

/**
 * Durability of WAL commits without blocking the event loop: SQLite runs with synchronous=NORMAL
 * (COMMIT appends to the WAL without waiting for the disk) and, before any caller of a group commit
 * is answered, this fdatasyncs the WAL file from the libuv pool — what synchronous=FULL does at
 * COMMIT, on the main thread. fsync acts on the file, not the descriptor, so a descriptor of our
 * own serves. A WAL file that is new (first commit, or recreated) gets its directory synced once,
 * as SQLite does for files it creates.
 */
function walSyncer(
  dbFile: string,
  sync: (fd: number) => Promise<void>,
): { sync: (whenPresent?: boolean) => Promise<void>; release: () => void } {
  const walFile = `${dbFile}-wal`;
  let wal: { fd: number; ino: number } | undefined;
  return {
    async sync(whenPresent = false) {
      const st = statSync(walFile, { throwIfNoEntry: false });
      if (st === undefined) {
        if (whenPresent) return;
        throw new Error(`${walFile} is missing after a commit`);
      }
      if (wal?.ino !== st.ino) {
        if (wal !== undefined) closeSync(wal.fd);
        wal = { fd: openSync(walFile, constants.O_RDONLY), ino: st.ino };
        const dir = openSync(path.dirname(walFile), constants.O_RDONLY);
        try {
          await fsyncAsync(dir);
        } finally {
          closeSync(dir);
        }
      }
      await sync(wal.fd);
    },
    release() {
      if (wal !== undefined) closeSync(wal.fd);
      wal = undefined;
    },
  };
}

const UNAVAILABLE_CODES = /^SQLITE_(BUSY|LOCKED|IOERR|CANTOPEN|READONLY|CORRUPT|NOTADB|PERM|AUTH|PROTOCOL|NOLFS)/;

const codeOf = (error: unknown): string =>
  typeof error === 'object' && error !== null && typeof (error as { code?: unknown }).code === 'string'
    ? (error as { code: string }).code
    : '';

/** Maps better-sqlite3 and file-system failures to catalog errors; the cause stays internal. */
export function classifySqliteError(error: unknown): MutualError {
  const code = codeOf(error);
  if (code.startsWith('SQLITE_FULL')) return new MutualError('ERR_STORE_FULL', { cause: error });
  if (code === 'ENOSPC' || code === 'EDQUOT') return new MutualError('ERR_STORE_FULL', { cause: error });
  if (UNAVAILABLE_CODES.test(code) || /^E[A-Z]+$/.test(code)) {
    return new MutualError('ERR_STORE_UNAVAILABLE', { cause: error });
  }
  return new MutualError('ERR_INTERNAL_UNEXPECTED', { cause: error });
}

const isUniqueViolation = (error: unknown): boolean => /^SQLITE_CONSTRAINT_(UNIQUE|PRIMARYKEY)$/.test(codeOf(error));

/** Prepared statements kept per SQL text: Kysely prepares every query anew, which costs more than running it. */
const STATEMENT_CACHE_SIZE = 256;

/** The connection as Kysely sees it, with prepared statements reused (least recently used dropped past the cap). */
function cachingStatements(sqlite: Database.Database): SqliteDatabase {
  const cache = new Map<string, Database.Statement>();
  return {
    close: () => sqlite.close(),
    prepare(text: string) {
      let statement = cache.get(text);
      if (statement === undefined) {
        statement = sqlite.prepare(text);
        if (cache.size >= STATEMENT_CACHE_SIZE) {
          const oldest = cache.keys().next();
          if (oldest.done !== true) cache.delete(oldest.value);
        }
      } else cache.delete(text);
      cache.set(text, statement);
      return statement;
    },
  };
}

/**
 * Opens (creating when missing) a SQLite store: WAL, every commit fdatasync'd before it is
 * acknowledged (off the event loop, see walSyncer), foreign keys on, a busy timeout
 * for other processes' writes, and the schema migrated. One process should own a file's writes; readers
 * in other processes are fine (WAL).
 */
export async function openSqliteStore(opts: SqliteStoreOptions): Promise<Store> {
  const busyTimeoutMs = opts.busyTimeoutMs ?? 5000;
  let sqlite: Database.Database;
  try {
    // Create with 0600 before SQLite touches it: no window in which the file is readable by others.
    // SQLite gives the -wal and -shm files the same mode as the database file.
    closeSync(openSync(opts.file, constants.O_RDWR | constants.O_CREAT, 0o600));
    sqlite = new Database(opts.file, { fileMustExist: true, timeout: busyTimeoutMs });
  } catch (error) {
    throw classifySqliteError(error);
  }
  const wal = walSyncer(opts.file, opts.fdatasync ?? fdatasyncAsync);
  const backend: Backend = {
    dialect: 'sqlite',
    db: new Kysely<Schema>({ dialect: new SqliteDialect({ database: cachingStatements(sqlite) }) }),
    beginWrite: 'begin immediate',
    beginSnapshot: 'begin deferred',
    rowLocks: false,
    classify: classifySqliteError,
    isUniqueViolation,
    multiStatement: false,
    inTransaction: () => sqlite.inTransaction,
    syncAfterCommit: () => wal.sync(),
    searchChunk: opts.searchChunkRecords ?? 1_000,
    release: wal.release,
  };
  try {
    const mode = sqlite.pragma('journal_mode = WAL', { simple: true });
    if (typeof mode !== 'string' || mode.toLowerCase() !== 'wal') {
      throw new Error(`journal_mode is ${String(mode)}, not wal`);
    }
    // NORMAL: COMMIT does not wait for the disk; the store's group commit fdatasyncs the WAL before
    // answering anyone (walSyncer), so an acknowledged write is as durable as with FULL.
    sqlite.pragma('synchronous = NORMAL');
    sqlite.pragma('foreign_keys = ON');
    sqlite.pragma(`busy_timeout = ${Math.max(0, Math.trunc(busyTimeoutMs))}`);
    await migrate(backend);
    // Migrations commit outside the group commit: make them durable before the store is handed out.
    await wal.sync(true);
  } catch (error) {
    await backend.db.destroy().catch(() => undefined);
    throw error instanceof MutualError ? error : new MutualError('ERR_STORE_UNAVAILABLE', { cause: error });
  }
  return KyselyStore.create(backend);
}
