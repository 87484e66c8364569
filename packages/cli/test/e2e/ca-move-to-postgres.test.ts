import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSqliteStore } from '../../../server/src/store/index.js';
import { startPostgres, type TestPostgres } from '../../../server/test/support/postgres.js';
import { BIN, bootstrapAdmin, mutual, startUntil, tempDir, waitExit } from '../support.js';

// An operator who started on SQLite (`mutual up`, `ca init`) moves the CA into PostgreSQL to run
// several instances: `ca move-to-postgres --postgres-env VAR`, then `ca serve` with VAR set.
const work = tempDir();
let pg15: TestPostgres;
let env: Record<string, string>;

beforeAll(async () => {
  pg15 = await startPostgres();
  env = { MUTUAL_DATABASE_URL: pg15.connectionString, MUTUAL_CONTEXT_DIR: path.join(work, 'ctx') };
}, 60_000);

afterAll(async () => {
  await pg15.stop();
});

async function newCa(name: string): Promise<string> {
  const dir = path.join(work, name);
  const init = await mutual(['ca', 'init', '--dir', dir]);
  expect(init.code, init.stderr).toBe(0);
  return dir;
}

async function issue(dir: string, name: string): Promise<string> {
  const r = await mutual(['cert', 'issue', name, '--profile', 'server', '--dir', dir, '--out', path.join(work, name)]);
  expect(r.code, r.stderr).toBe(0);
  const listed = JSON.parse((await mutual(['cert', 'list', '--dir', dir, '--json'], { env })).stdout) as {
    serial: string;
    identity: string | null;
  }[];
  return listed.find((i) => i.identity === name)?.serial as string;
}

const auditCount = async (dir: string): Promise<number> => {
  const r = await mutual(['audit', 'verify', '--dir', dir], { env });
  expect(r.code, r.stderr).toBe(0);
  return Number(/Audit chain intact: (\d+) records/.exec(r.stdout)?.[1] ?? NaN);
};

async function rowsInPostgres(table: string): Promise<number> {
  const client = new pg.Client({ connectionString: pg15.connectionString });
  await client.connect();
  try {
    return Number((await client.query<{ n: string }>(`select count(*) as n from ${table}`)).rows[0]?.n ?? NaN);
  } catch {
    return 0; // not migrated yet
  } finally {
    await client.end();
  }
}

/** What a refused move must leave exactly as it was. */
const snapshot = (dir: string) => ({
  yaml: readFileSync(path.join(dir, 'ca.yaml'), 'utf8'),
  files: readdirSync(dir).sort(),
});

describe('mutual ca move-to-postgres', () => {
  it('refuses without the variable, and while a CA is writing to the SQLite file, changing nothing', async () => {
    const dir = await newCa('busy');
    const before = snapshot(dir);
    const unset = await mutual(['ca', 'move-to-postgres', '--dir', dir, '--postgres-env', 'MUTUAL_NO_SUCH_VARIABLE'], {
      env,
    });
    expect(unset.code).not.toBe(0);
    expect(unset.stderr).toContain('error[ERR_USAGE_INVALID_ARGUMENT]');
    expect(unset.stderr).toContain('MUTUAL_NO_SUCH_VARIABLE');

    // Another process holds the write lock, as a running CA does while it commits.
    const writer = new Database(path.join(dir, 'mutual.db'));
    writer.prepare('begin immediate').run();
    try {
      const busy = await mutual(['ca', 'move-to-postgres', '--dir', dir, '--postgres-env', 'MUTUAL_DATABASE_URL'], {
        env,
      });
      expect(busy.code).not.toBe(0);
      expect(busy.stderr).toContain('error[ERR_STORE_MOVE_SOURCE_BUSY]');
    } finally {
      writer.prepare('rollback').run();
      writer.close();
    }
    expect(snapshot(dir)).toEqual(before);
    expect(await rowsInPostgres('certificates')).toBe(0);
    expect(await rowsInPostgres('audit_log')).toBe(0);
  });

  it('refuses a store whose audit chain was edited', async () => {
    const dir = await newCa('tampered');
    const db = new Database(path.join(dir, 'mutual.db'));
    db.prepare("update audit_log set actor = 'someone else' where seq = 1").run();
    db.close();
    const before = snapshot(dir);
    const r = await mutual(['ca', 'move-to-postgres', '--dir', dir, '--postgres-env', 'MUTUAL_DATABASE_URL'], { env });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('error[ERR_STORE_MOVE_CHAIN_BROKEN]');
    expect(snapshot(dir)).toEqual(before);
    expect(await rowsInPostgres('audit_log')).toBe(0);
  });

  it('moves every record; the chain continues in PostgreSQL and ca serve runs from it; a second move into it is refused', async () => {
    const dir = await newCa('moved');
    const a = await issue(dir, 'a.internal');
    const b = await issue(dir, 'b.internal');
    const records = await auditCount(dir);

    const moved = await mutual(['ca', 'move-to-postgres', '--dir', dir, '--postgres-env', 'MUTUAL_DATABASE_URL'], {
      env,
    });
    expect(moved.code, moved.stderr).toBe(0);
    expect(moved.stdout).toMatch(/Moved \d+ records into PostgreSQL \(\d+ certificates, \d+ audit records/);
    const yaml = readFileSync(path.join(dir, 'ca.yaml'), 'utf8');
    expect(yaml).toContain('postgres: { connectionString: { env: MUTUAL_DATABASE_URL } }');
    expect(yaml).not.toContain('sqlite');
    expect(yaml).not.toContain(pg15.connectionString);
    expect(yaml).toContain('# mutual CA configuration'); // the rest of the file, comments included, is kept
    expect(existsSync(path.join(dir, 'mutual.db'))).toBe(false);
    const left = readdirSync(dir).find((f) => f.startsWith('mutual.db.moved-'));
    expect(left).toBeDefined();

    // One more record on each side: the move itself, in a chain that still verifies.
    expect(await auditCount(dir)).toBe(records + 1);
    const old = await openSqliteStore({ file: path.join(dir, left ?? '') });
    try {
      expect(await old.verifyAuditChain()).toEqual({ ok: true, count: records + 1 });
      const last = (await old.listAudit({ afterSeq: BigInt(records), limit: 5 }))[0];
      expect(last).toMatchObject({ action: 'store.move', subject: 'postgres' });
    } finally {
      await old.close();
    }
    const list = await mutual(['cert', 'list', '--dir', dir, '--json'], { env });
    expect(list.code, list.stderr).toBe(0);
    const serials = (JSON.parse(list.stdout) as { serial: string }[]).map((i) => i.serial);
    expect(serials).toEqual(expect.arrayContaining([a, b]));

    const server = await startUntil(
      process.execPath,
      [BIN, 'ca', 'serve', '--dir', dir, '--listen', '127.0.0.1:0'],
      /root fingerprint: ([0-9a-f]{64})/,
      { env },
    );
    try {
      const url = /listening on (https:\/\/\S+)/.exec(server.output())?.[1] ?? '';
      expect((await bootstrapAdmin(url, server.match[1] ?? '', dir, env)).code).toBe(0);
      // The admin certificate is known to the CA only through the moved records.
      const token = await mutual(['token', 'create', 'c.internal', '--profile', 'server'], { env });
      expect(token.code, token.stderr).toBe(0);
      const req = await mutual(
        ['cert', 'request', 'c.internal', '--token', token.stdout.trim(), '--out', path.join(work, 'c')],
        { env },
      );
      expect(req.code, req.stderr).toBe(0);
    } finally {
      server.child.kill('SIGTERM');
      expect(await waitExit(server.child)).toBe(0);
    }

    const other = await newCa('second');
    const before = snapshot(other);
    const inPostgres = await rowsInPostgres('audit_log');
    const again = await mutual(['ca', 'move-to-postgres', '--dir', other, '--postgres-env', 'MUTUAL_DATABASE_URL'], {
      env,
    });
    expect(again.code).not.toBe(0);
    expect(again.stderr).toContain('error[ERR_STORE_MOVE_TARGET_NOT_EMPTY]');
    expect(snapshot(other)).toEqual(before);
    expect(await rowsInPostgres('audit_log')).toBe(inPostgres);
    expect(await auditCount(dir)).toBeGreaterThan(records + 1);
  });
});
