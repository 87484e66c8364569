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

describe('SQLite substring search in chunks', () => {
  it('finds the same records in the same order, pages across chunks, and lets the event loop run between them', async () => {
    const file = newFile();
    const store = await openSqliteStore({ file, searchChunkRecords: 3 });
    const now = new Date('2030-01-01T00:00:00Z');
    const made: { serial: string; name: string }[] = [];
    for (let i = 0; i < 14; i++) {
      const name = i % 3 === 0 ? `match-${String(i)}.internal` : `other-${String(i)}.internal`;
      const intent = makeIntent({
        identityKind: 'dns',
        identity: name,
        commonName: name,
        subject: `CN=${name}`,
        sans: { dns: [name], ip: [], uri: [], email: [] },
        // Several records share a notAfter, so chunk boundaries fall inside a run of equal notAfters.
        notAfter: new Date(now.getTime() + Math.floor(i / 2) * 3_600_000),
      });
      await store.reserveSerial(intent);
      made.push({ serial: intent.serial, name });
    }
    const whole = await openSqliteStore({ file, searchChunkRecords: 1_000_000 });
    const expected = (await whole.listCertificates({ now, search: 'MATCH-' })).items.map((c) => c.serial);
    expect(expected).toHaveLength(5);
    expect(new Set(expected)).toEqual(new Set(made.filter((m) => m.name.startsWith('match-')).map((m) => m.serial)));

    let turns = 0;
    const ticking = setInterval(() => turns++, 0);
    const all = await store.listCertificates({ now, search: 'match-' });
    clearInterval(ticking);
    expect(all.items.map((c) => c.serial)).toEqual(expected);
    expect(all.nextCursor).toBe(null);
    expect(turns).toBeGreaterThan(0);

    const paged: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await store.listCertificates({
        now,
        search: 'match-',
        limit: 2,
        ...(cursor === undefined ? {} : { cursor }),
      });
      expect(page.items.length).toBeLessThanOrEqual(2);
      paged.push(...page.items.map((c) => c.serial));
      cursor = page.nextCursor ?? undefined;
    } while (cursor !== undefined);
    expect(paged).toEqual(expected);
    expect((await store.listCertificates({ now, search: 'nothing-like-this' })).items).toEqual([]);
    await whole.close();
    await store.close();
  });
});

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
