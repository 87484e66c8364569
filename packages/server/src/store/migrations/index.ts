import { MutualError, isMutualError } from '@mutual/sdk';
import { sql, type Kysely } from 'kysely';
import type { Backend } from '../backend.js';
import type { Database } from '../schema.js';
import { up as initial } from './0001-initial.js';
import { up as lifecycle } from './0002-lifecycle.js';
import { up as mintedTokens } from './0003-minted-tokens.js';
import { up as revokedPaging } from './0004-revoked-paging.js';

export interface Migration {
  readonly version: number;
  readonly name: string;
  up(db: Kysely<unknown>): Promise<void>;
}

/** Every schema change, in order. Released migrations are never edited or removed. */
export const MIGRATIONS: readonly Migration[] = Object.freeze([
  { version: 1, name: 'initial', up: initial },
  { version: 2, name: 'lifecycle', up: lifecycle },
  { version: 3, name: 'minted-tokens', up: mintedTokens },
  { version: 4, name: 'revoked-paging', up: revokedPaging },
]);

/** Advisory lock key of mutual's schema migrations on PostgreSQL (arbitrary, fixed forever). */
const PG_MIGRATION_LOCK = '7283190466192011';

const failed = (migration: Migration | undefined, cause: unknown, message?: string): MutualError =>
  new MutualError('ERR_STORE_MIGRATION_FAILED', {
    cause,
    ...(message === undefined ? {} : { message }),
    details: migration === undefined ? {} : { version: migration.version, name: migration.name },
  });

async function appliedVersions(db: Kysely<Database>): Promise<Map<number, string>> {
  const rows = await db.selectFrom('schema_migrations').select(['version', 'name']).execute();
  return new Map(rows.map((r) => [r.version, r.name]));
}

function checkKnown(applied: Map<number, string>, migrations: readonly Migration[]): void {
  for (const [version, name] of applied) {
    const known = migrations.find((m) => m.version === version);
    if (known === undefined) {
      throw new MutualError('ERR_STORE_MIGRATION_FAILED', {
        message: 'The database was written by a newer version of mutual.',
        details: { version, name },
      });
    }
    if (known.name !== name) throw failed(known, undefined, 'The database schema history does not match this mutual.');
  }
}

/**
 * Brings the schema up to date, each migration in its own transaction together with its
 * `schema_migrations` row. On PostgreSQL the whole run holds a session advisory lock, so CA instances
 * starting at once migrate one after the other; on SQLite each step takes the write lock and re-reads
 * the applied versions first.
 */
export async function migrate(backend: Backend, migrations: readonly Migration[] = MIGRATIONS): Promise<void> {
  try {
    await backend.db.connection().execute(async (conn) => {
      if (backend.dialect === 'postgres')
        await sql`select pg_advisory_lock(${PG_MIGRATION_LOCK}::bigint)`.execute(conn);
      try {
        await conn.schema
          .createTable('schema_migrations')
          .ifNotExists()
          .addColumn('version', 'integer', (c) => c.primaryKey())
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('applied_at', 'bigint', (c) => c.notNull())
          .execute();
        const before = await appliedVersions(conn);
        checkKnown(before, migrations);
        for (const migration of migrations) {
          if (before.has(migration.version)) continue;
          await sql.raw(backend.beginWrite).execute(conn);
          try {
            if (!(await appliedVersions(conn)).has(migration.version)) {
              await migration.up(conn as unknown as Kysely<unknown>);
              await conn
                .insertInto('schema_migrations')
                .values({ version: migration.version, name: migration.name, applied_at: Date.now() })
                .execute();
            }
            await sql.raw('commit').execute(conn);
          } catch (error) {
            await sql
              .raw('rollback')
              .execute(conn)
              .catch(() => undefined);
            throw failed(migration, error);
          }
        }
      } finally {
        if (backend.dialect === 'postgres') {
          await sql`select pg_advisory_unlock(${PG_MIGRATION_LOCK}::bigint)`.execute(conn).catch(() => undefined);
        }
      }
    });
  } catch (error) {
    throw isMutualError(error) ? error : backend.classify(error);
  }
}
