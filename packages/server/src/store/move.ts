import { MutualError } from '@mutual/sdk';
import Database from 'better-sqlite3';
import pg from 'pg';
import { AUDIT_GENESIS_HASH, auditRecordHash, canonicalJson } from './audit-chain.js';
import { classifyPostgresError, openPostgresStore } from './postgres/index.js';
import type { AuditLogTable } from './schema.js';
import { classifySqliteError, openSqliteStore } from './sqlite/index.js';

/** Every table that holds records, in the order they are copied (there are no foreign keys). */
const TABLES = [
  'certificates',
  'tokens',
  'minted_tokens',
  'audit_log',
  'crl_state',
  'components',
  'discovered_certificates',
  'sightings',
  'auth_failures',
  'alerts',
] as const;

/** Rows per INSERT into PostgreSQL (its limit is 65,535 parameters; the widest table has 21 columns). */
const BATCH = 500;

export interface MoveToPostgresOptions {
  /** The SQLite inventory to move (as ca.yaml names it). */
  readonly sqliteFile: string;
  /** Where to; never logged. */
  readonly connectionString: string;
  /** Who moved it, for the audit record (`cli:<user>`). */
  readonly actor: string;
  readonly now: Date;
  /** How long to wait for a writer of the SQLite file to finish. Default 2000 ms. */
  readonly busyTimeoutMs?: number;
}

export interface MoveReport {
  /** Rows copied per table. */
  readonly rows: Readonly<Record<(typeof TABLES)[number], number>>;
  /** The audit record that ends both chains: the move itself. */
  readonly moveRecordSeq: number;
}

const quote = (name: string): string => `"${name.replace(/"/g, '""')}"`;

/**
 * Moves a CA's SQLite store into an empty PostgreSQL database, so that several CA instances can
 * share it. All or nothing: the SQLite file is held under its write lock for the whole copy (a CA
 * writing to it makes the move fail instead of losing its writes), every row is copied in one
 * PostgreSQL transaction that first locks the tables and checks they are empty, the copied audit
 * chain is verified link by link inside that transaction, and a `store.move` audit record ends
 * the chain on both sides. A refused or failed move leaves both databases as they were (the target
 * keeps only its migrated, empty schema).
 */
export async function moveSqliteStoreToPostgres(opts: MoveToPostgresOptions): Promise<MoveReport> {
  // Both schemas brought up to date by the usual path; the source's chain checked before anything moves.
  const source = await openSqliteStore({ file: opts.sqliteFile });
  try {
    const verdict = await source.verifyAuditChain();
    if (!verdict.ok) {
      throw new MutualError('ERR_STORE_MOVE_CHAIN_BROKEN', {
        details: { brokenAt: verdict.brokenAt.toString(), reason: verdict.reason },
      });
    }
  } finally {
    await source.close();
  }
  await (await openPostgresStore({ connectionString: opts.connectionString, maxConnections: 1 })).close();

  let sqlite: Database.Database;
  try {
    sqlite = new Database(opts.sqliteFile, { fileMustExist: true, timeout: opts.busyTimeoutMs ?? 2000 });
  } catch (error) {
    throw classifySqliteError(error);
  }
  const client = new pg.Client({ connectionString: opts.connectionString, application_name: 'mutual-move' });
  let sqliteOpen = false;
  let pgOpen = false;
  try {
    try {
      sqlite.prepare('begin immediate').run();
      sqliteOpen = true;
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      if (typeof code === 'string' && code.startsWith('SQLITE_BUSY')) {
        throw new MutualError('ERR_STORE_MOVE_SOURCE_BUSY', { details: { file: opts.sqliteFile } });
      }
      throw classifySqliteError(error);
    }
    try {
      await client.connect();
      await client.query('begin');
      pgOpen = true;
      await client.query(`lock table ${[...TABLES, 'audit_head'].map(quote).join(', ')} in access exclusive mode`);
    } catch (error) {
      throw classifyPostgresError(error);
    }

    const pgCount = async (table: string): Promise<number> =>
      Number((await client.query<{ n: string }>(`select count(*) as n from ${quote(table)}`)).rows[0]?.n ?? 0);
    const occupied: string[] = [];
    for (const table of TABLES) if ((await pgCount(table)) > 0) occupied.push(table);
    const head = (await client.query<{ seq: string }>('select seq from audit_head where id = 1')).rows[0];
    if (head !== undefined && Number(head.seq) !== 0) occupied.push('audit_head');
    if (occupied.length > 0)
      throw new MutualError('ERR_STORE_MOVE_TARGET_NOT_EMPTY', { details: { tables: occupied } });

    const rows = {} as Record<(typeof TABLES)[number], number>;
    for (const table of TABLES) {
      const columns = (sqlite.pragma(`table_info(${quote(table)})`) as { name: string }[]).map((c) => c.name);
      const insert = (batch: unknown[][]): Promise<unknown> => {
        const values = batch
          .map((_, r) => `(${columns.map((__, c) => `$${String(r * columns.length + c + 1)}`).join(', ')})`)
          .join(', ');
        return client.query(
          `insert into ${quote(table)} (${columns.map(quote).join(', ')}) values ${values}`,
          batch.flat(),
        );
      };
      let batch: unknown[][] = [];
      let copied = 0;
      const select = sqlite.prepare(`select ${columns.map(quote).join(', ')} from ${quote(table)}`).raw(true);
      for (const row of select.iterate() as Iterable<unknown[]>) {
        batch.push(row);
        if (batch.length === BATCH) {
          await insert(batch);
          copied += batch.length;
          batch = [];
        }
      }
      if (batch.length > 0) await insert(batch);
      copied += batch.length;
      const sourceCount = sqlite
        .prepare(`select count(*) from ${quote(table)}`)
        .pluck()
        .get() as number;
      if (copied !== sourceCount || (await pgCount(table)) !== sourceCount) {
        throw new MutualError('ERR_INTERNAL_UNEXPECTED', {
          message: `Copying ${table} did not give the same number of rows; nothing was moved.`,
        });
      }
      rows[table] = copied;
    }

    // The copied chain, verified where it now lives, before anything is committed.
    const sourceHead = sqlite.prepare('select seq, hash from audit_head where id = 1').get() as
      { seq: number; hash: string } | undefined;
    let prevHash = AUDIT_GENESIS_HASH;
    let expected = 1;
    for (;;) {
      // node-postgres returns int8 columns as strings.
      const page = await client.query<Record<keyof AuditLogTable, string>>(
        'select * from audit_log where seq >= $1 order by seq asc limit 1000',
        [expected],
      );
      for (const r of page.rows) {
        const seq = Number(r.seq);
        const fields = {
          seq,
          at: Number(r.at),
          actor: r.actor,
          action: r.action,
          subject: r.subject,
          detailsJson: r.details_json,
        };
        if (seq !== expected || r.prev_hash !== prevHash || auditRecordHash(prevHash, fields) !== r.hash) {
          throw new MutualError('ERR_STORE_MOVE_CHAIN_BROKEN', {
            details: { brokenAt: String(seq), reason: 'the copied record does not verify' },
          });
        }
        prevHash = r.hash;
        expected++;
      }
      if (page.rows.length < 1000) break;
    }
    const lastSeq = expected - 1;
    if ((sourceHead?.seq ?? 0) !== lastSeq || (sourceHead?.hash ?? AUDIT_GENESIS_HASH) !== prevHash) {
      throw new MutualError('ERR_STORE_MOVE_CHAIN_BROKEN', {
        details: { brokenAt: String(lastSeq), reason: "the chain's end does not match the recorded head" },
      });
    }

    // The move itself ends both chains: the same record, in PostgreSQL and in the SQLite file left behind.
    const record = {
      seq: lastSeq + 1,
      at: opts.now.getTime(),
      actor: opts.actor,
      action: 'store.move',
      subject: 'postgres',
      detailsJson: canonicalJson({ from: 'sqlite', to: 'postgres', rows }),
    };
    const hash = auditRecordHash(prevHash, record);
    const values = [
      record.seq,
      record.at,
      record.actor,
      record.action,
      record.subject,
      record.detailsJson,
      prevHash,
      hash,
    ];
    const insertAudit =
      'insert into audit_log (seq, at, actor, action, subject, details_json, prev_hash, hash) values ($1, $2, $3, $4, $5, $6, $7, $8)';
    await client.query(insertAudit, values);
    await client.query('update audit_head set seq = $1, hash = $2 where id = 1', [record.seq, hash]);
    sqlite.prepare(insertAudit.replace(/\$\d/g, '?')).run(...values);
    sqlite.prepare('update audit_head set seq = ?, hash = ? where id = 1').run(record.seq, hash);

    try {
      await client.query('commit');
      pgOpen = false;
    } catch (error) {
      throw classifyPostgresError(error);
    }
    sqlite.prepare('commit').run();
    sqliteOpen = false;
    return { rows, moveRecordSeq: record.seq };
  } catch (error) {
    if (error instanceof MutualError) throw error;
    const code = (error as { code?: unknown } | null)?.code;
    throw typeof code === 'string' && code.startsWith('SQLITE_')
      ? classifySqliteError(error)
      : classifyPostgresError(error);
  } finally {
    if (pgOpen) await client.query('rollback').catch(() => undefined);
    await client.end().catch(() => undefined);
    if (sqliteOpen) {
      try {
        sqlite.prepare('rollback').run();
      } catch {
        // closing below rolls back as well
      }
    }
    sqlite.close();
  }
}
