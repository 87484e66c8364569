import type { MutualError } from '@mutual/sdk';
import type { Kysely } from 'kysely';
import type { Database } from './schema.js';

/** What differs between SQLite and PostgreSQL; everything else is one implementation. */
export interface Backend {
  readonly dialect: 'sqlite' | 'postgres';
  readonly db: Kysely<Database>;
  /** Starts a read-write transaction. SQLite takes the write lock at once (no lock upgrade, no busy failure mid-way). */
  readonly beginWrite: string;
  /** Starts a read-only transaction that sees one snapshot. */
  readonly beginSnapshot: string;
  /** Whether `select … for update` exists (PostgreSQL); SQLite's write transaction already excludes other writers. */
  readonly rowLocks: boolean;
  /** A driver or I/O failure as ERR_STORE_UNAVAILABLE / ERR_STORE_FULL, or ERR_INTERNAL_UNEXPECTED for anything else. */
  classify(error: unknown): MutualError;
  isUniqueViolation(error: unknown): boolean;
  /**
   * Whether the connection is still inside the transaction it began. SQLite ends a transaction by
   * itself on some errors (I/O, full disk); a group commit must then refuse the whole group rather
   * than go on in autocommit mode. Absent: the database keeps the transaction (PostgreSQL).
   */
  readonly inTransaction?: () => boolean;
  /** Whether several parameterless statements may be sent as one (`a; b`), saving round trips. */
  readonly multiStatement: boolean;
  /**
   * Makes what the last COMMIT wrote durable, off the calling thread, before any caller of that
   * commit is answered (SQLite: fdatasync of the WAL on the libuv pool). Absent: COMMIT itself is
   * durable (PostgreSQL). If it fails, durability is unknown and the store stops taking work.
   */
  readonly syncAfterCommit?: () => Promise<void>;
  /**
   * Records a substring search reads per statement, yielding to the event loop between statements
   * (SQLite: its driver runs a statement to the end on the calling thread). Absent: one statement.
   */
  readonly searchChunk?: number;
  /** Releases what the backend holds besides the Kysely instance (file descriptors). */
  readonly release?: () => void;
}
