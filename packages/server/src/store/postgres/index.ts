import { MutualError } from '@mutual/sdk';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { Backend } from '../backend.js';
import { KyselyStore } from '../kysely-store.js';
import { migrate } from '../migrations/index.js';
import type { Database as Schema } from '../schema.js';
import type { Store } from '../types.js';

export interface PostgresStoreOptions {
  /** `postgresql://user@host:port/database`; never logged (it may hold a password). */
  readonly connectionString: string;
  /** Pool size. Default 10. */
  readonly maxConnections?: number;
  /** How long to wait for a connection before failing with ERR_STORE_UNAVAILABLE. Default 10000 ms. */
  readonly connectTimeoutMs?: number;
}

const sqlState = (error: unknown): string | undefined => {
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  return typeof code === 'string' ? code : undefined;
};

/** Messages node-postgres uses for a lost or refused connection (it gives these no code). */
const CONNECTION_MESSAGES =
  /^(Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Cannot use a pool after calling end|Client was closed)/;

/** Maps node-postgres failures to catalog errors by SQLSTATE class; the cause stays internal. */
export function classifyPostgresError(error: unknown): MutualError {
  const code = sqlState(error);
  if (code === '53100') return new MutualError('ERR_STORE_FULL', { cause: error });
  if (code !== undefined) {
    // 08 connection exception, 53 insufficient resources, 57 operator intervention (shutdown), 58 system error,
    // 40001/40P01 serialization failure or deadlock (retryable), errno codes from the socket.
    if (/^(08|53|57|58)/.test(code) || code === '40001' || code === '40P01' || /^E[A-Z]+$/.test(code)) {
      return new MutualError('ERR_STORE_UNAVAILABLE', { cause: error });
    }
    return new MutualError('ERR_INTERNAL_UNEXPECTED', { cause: error });
  }
  if (error instanceof AggregateError || (error instanceof Error && CONNECTION_MESSAGES.test(error.message))) {
    return new MutualError('ERR_STORE_UNAVAILABLE', { cause: error });
  }
  return new MutualError('ERR_INTERNAL_UNEXPECTED', { cause: error });
}

const isUniqueViolation = (error: unknown): boolean => sqlState(error) === '23505';

/**
 * Opens a PostgreSQL store over a connection pool and migrates the schema under an advisory lock, so
 * several CA instances may start at once. Several instances may then share the database: every method
 * stays atomic across them.
 */
export async function openPostgresStore(opts: PostgresStoreOptions): Promise<Store> {
  const pool = new pg.Pool({
    connectionString: opts.connectionString,
    max: opts.maxConnections ?? 10,
    connectionTimeoutMillis: opts.connectTimeoutMs ?? 10_000,
    application_name: 'mutual',
  });
  // An idle client losing its server emits 'error' on the pool; unhandled, that would end the process.
  // The next query fails and reports ERR_STORE_UNAVAILABLE instead.
  pool.on('error', () => undefined);
  const backend: Backend = {
    dialect: 'postgres',
    db: new Kysely<Schema>({ dialect: new PostgresDialect({ pool }) }),
    beginWrite: 'begin',
    beginSnapshot: 'begin isolation level repeatable read, read only',
    rowLocks: true,
    classify: classifyPostgresError,
    isUniqueViolation,
    multiStatement: true,
  };
  try {
    await migrate(backend);
  } catch (error) {
    await backend.db.destroy().catch(() => undefined);
    throw error instanceof MutualError ? error : classifyPostgresError(error);
  }
  return KyselyStore.create(backend);
}
