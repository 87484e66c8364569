import { fdatasync, fstatSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { describeStoreContract, makeIntent } from './contract.js';
import { openSqliteStore } from './index.js';

const dir = mkdtempSync(join(tmpdir(), 'mutual-store-'));
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});
let n = 0;
const newFile = (): string => join(dir, `ca-${++n}.db`);

function rawQuery(file: string, text: string): Record<string, unknown>[] {
  const db = new Database(file, { fileMustExist: true });
  try {
    const statement = db.prepare(text);
    if (statement.reader) return statement.all() as Record<string, unknown>[];
    statement.run();
    return [];
  } finally {
    db.close();
  }
}

describeStoreContract(
  'SQLite',
  () => {
    const file = newFile();
    return Promise.resolve({
      open: () => openSqliteStore({ file }),
      query: (text: string) => Promise.resolve(rawQuery(file, text)),
    });
  },
  { concurrentInstanceTransactions: false },
);

describe('SQLite store files', () => {
  it('creates the database, its WAL and shared-memory files with mode 0600 even under a permissive umask', async () => {
    const file = newFile();
    const previous = process.umask(0);
    let store;
    try {
      store = await openSqliteStore({ file });
    } finally {
      process.umask(previous);
    }
    await store.reserveSerial(makeIntent());
    for (const f of [file, `${file}-wal`, `${file}-shm`]) expect((statSync(f).mode & 0o777).toString(8)).toBe('600');
    expect(rawQuery(file, 'pragma journal_mode')).toEqual([{ journal_mode: 'wal' }]);
    await store.close();
  });

  it('reports a missing directory or a file that is not a database as ERR_STORE_UNAVAILABLE, without the path', async () => {
    const missing = join(dir, 'no-such-dir', 'ca.db');
    const error = await openSqliteStore({ file: missing }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'ERR_STORE_UNAVAILABLE' });
    expect(JSON.stringify((error as { toPublic(): unknown }).toPublic())).not.toContain('no-such-dir');

    const garbage = newFile();
    writeFileSync(garbage, 'this is not a SQLite database, it is long enough to have a header'.repeat(20));
    await expect(openSqliteStore({ file: garbage })).rejects.toMatchObject({ code: 'ERR_STORE_UNAVAILABLE' });
  });

  it('gives up with ERR_STORE_UNAVAILABLE when another process holds the write lock past the busy timeout', async () => {
    const file = newFile();
    const store = await openSqliteStore({ file, busyTimeoutMs: 50 });
    const other = new Database(file);
    other.exec('begin immediate');
    try {
      await expect(store.reserveSerial(makeIntent())).rejects.toMatchObject({ code: 'ERR_STORE_UNAVAILABLE' });
      await expect(
        store.appendAudit({ at: new Date(0), actor: 'a', action: 'b', subject: 'c', details: {} }),
      ).rejects.toMatchObject({
        code: 'ERR_STORE_UNAVAILABLE',
      });
    } finally {
      other.exec('rollback');
      other.close();
    }
    // Once the lock is gone the same store works again and the chain is intact.
    await store.appendAudit({ at: new Date(0), actor: 'a', action: 'b', subject: 'c', details: {} });
    expect(await store.verifyAuditChain()).toEqual({ ok: true, count: 1 });
    await store.close();
  });

  it('answers a write only after the WAL holding it was synced to disk, and syncs once per group', async () => {
    const file = newFile();
    const synced: number[] = [];
    let release: (() => void) | undefined;
    let hold = false;
    const store = await openSqliteStore({
      file,
      fdatasync: async (fd) => {
        synced.push(fd);
        if (hold) await new Promise<void>((resolve) => (release = resolve));
      },
    });
    hold = true;
    let answered = 0;
    const writes = Array.from({ length: 20 }, () =>
      store.reserveSerial(makeIntent()).then(() => {
        answered++;
      }),
    );
    // Wait until the group committed and its sync started; nobody may be answered yet.
    while (release === undefined) await new Promise((r) => setImmediate(r));
    expect(answered).toBe(0);
    // The commit itself is already there for a reader; only the answer waits for the disk.
    expect(rawQuery(file, 'select count(*) as n from certificates')).toEqual([{ n: 20 }]);
    const before = synced.length;
    hold = false;
    release();
    await Promise.all(writes);
    expect(answered).toBe(20);
    expect(synced.length).toBe(before); // one sync for the whole group of 20
    await store.close();
  });

  it('stops taking work after a failed sync: the group is refused, later calls too, nothing answered as done', async () => {
    const file = newFile();
    let fail = false;
    const store = await openSqliteStore({
      file,
      fdatasync: () => (fail ? Promise.reject(Object.assign(new Error('EIO'), { code: 'EIO' })) : Promise.resolve()),
    });
    await store.reserveSerial(makeIntent());
    fail = true;
    await expect(store.reserveSerial(makeIntent())).rejects.toMatchObject({ code: 'ERR_STORE_UNAVAILABLE' });
    fail = false;
    await expect(store.reserveSerial(makeIntent())).rejects.toMatchObject({ code: 'ERR_STORE_UNAVAILABLE' });
    await expect(store.listCertificates({ now: new Date() })).rejects.toMatchObject({ code: 'ERR_STORE_UNAVAILABLE' });
    await store.close();
    // Reopened, the store works again.
    const reopened = await openSqliteStore({ file });
    await reopened.reserveSerial(makeIntent());
    await reopened.close();
  });

  it('syncs the WAL file itself (the file every commit is appended to)', async () => {
    const file = newFile();
    const synced: number[] = [];
    const store = await openSqliteStore({
      file,
      fdatasync: (fd) => {
        synced.push(fstatSync(fd).ino);
        return promisify(fdatasync)(fd);
      },
    });
    await store.reserveSerial(makeIntent());
    await store.reserveSerial(makeIntent());
    expect(synced.length).toBeGreaterThanOrEqual(2);
    for (const ino of synced) expect(ino).toBe(statSync(`${file}-wal`).ino);
    await store.close();
  });
});
