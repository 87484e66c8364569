import { AsyncLocalStorage, AsyncResource } from 'node:async_hooks';
import { MutualError, isMutualError } from '@mutual/sdk';
import {
  CompiledQuery,
  sql,
  type Compilable,
  type ExpressionBuilder,
  type Kysely,
  type QueryResult,
  type Selectable,
} from 'kysely';
import { AUDIT_GENESIS_HASH, auditRecordHash, canonicalJson } from './audit-chain.js';
import type { Backend } from './backend.js';
import { toBigInt, toNumber, type CertificatesTable, type Database } from './schema.js';
import {
  CERTIFICATE_STATES,
  type AlertDelivery,
  type AlertRecord,
  type AuthFailureFilter,
  type AuthFailureSummary,
  type ComponentRecord,
  type ComponentReport,
  type DiscoveredRecord,
  type KeyCount,
  type SightingPlace,
  DEFAULT_EXPIRING_WITHIN_MS,
  DEFAULT_LIST_LIMIT,
  MAX_LIST_LIMIT,
  type AuditChainVerdict,
  type AuditEntry,
  type AuditListOptions,
  type AuditRecord,
  type CertificatePage,
  type CertificateRecord,
  type CertificateState,
  type CertificateStatus,
  type CompletedIssuance,
  type IdentityKind,
  type IssuanceIntent,
  type ListFilter,
  type ListedCertificate,
  type MintedTokenRecord,
  type PrunedCertificate,
  type Revocation,
  type Store,
} from './types.js';

const HEX = /^[0-9a-f]+$/;
const MAX_SERIAL_HEX = 128;
const VERIFY_BATCH = 500;
/** Rows per multi-row insert: far below SQLite's bound-parameter limit. */
const INSERT_BATCH = 200;
/** Most distinct reasons, identities or addresses a failed-authentication summary lists. */
const MAX_GROUPS = 50;
const HOUR_MS = 3_600_000;

const invalid = (field: string, message: string): MutualError =>
  new MutualError('ERR_USAGE_INVALID_ARGUMENT', { message, details: { field } });

function millis(field: string, value: Date): number {
  const ms = value instanceof Date ? value.getTime() : Number.NaN;
  if (!Number.isSafeInteger(ms)) throw invalid(field, `${field} must be a valid date.`);
  return ms;
}

function nonEmpty(field: string, value: string, max = 4096): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > max) {
    throw invalid(field, `${field} must be a non-empty string of at most ${max} characters.`);
  }
  return value;
}

function hexId(field: string, value: string, max: number): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > max || !HEX.test(value.toLowerCase())) {
    throw invalid(field, `${field} must be hexadecimal.`);
  }
  return value.toLowerCase();
}

/**
 * Serials are keyed in one canonical form: lowercase hex of the integer, no leading zeros (the form
 * sdk/identity reads from a certificate), so `00ab…` from DER content and `ab…` find the same row.
 */
function serialId(value: string): string {
  const hex = hexId('serial', value, MAX_SERIAL_HEX);
  return hex.replace(/^0+(?=.)/, '');
}

const dateOrNull = (value: number | string | null): Date | null => (value === null ? null : new Date(toNumber(value)));

function parseSans(json: string): CertificateRecord['sans'] {
  const parsed = JSON.parse(json) as Partial<Record<'dns' | 'ip' | 'uri' | 'email', string[]>>;
  return { dns: parsed.dns ?? [], ip: parsed.ip ?? [], uri: parsed.uri ?? [], email: parsed.email ?? [] };
}

function toRecord(row: Selectable<CertificatesTable>): CertificateRecord {
  return {
    serial: row.serial,
    issuerFingerprint: row.issuer_fingerprint,
    profile: row.profile,
    subject: row.subject,
    commonName: row.common_name,
    identityKind: row.identity_kind as IdentityKind,
    identity: row.identity,
    sans: parseSans(row.sans_json),
    keyType: row.key_type,
    notBefore: new Date(toNumber(row.not_before)),
    notAfter: new Date(toNumber(row.not_after)),
    requester: row.requester,
    createdAt: new Date(toNumber(row.created_at)),
    status: row.status as CertificateStatus,
    pem: row.pem,
    fingerprintSha256: row.fingerprint_sha256,
    spkiSha256: row.spki_sha256,
    issuedAt: dateOrNull(row.issued_at),
    revokedAt: dateOrNull(row.revoked_at),
    revocationReason: row.revocation_reason,
    failureReason: row.failure_reason,
  };
}

/**
 * When a certificate counts as expiring. With an explicit window: it expires within the window. By
 * default: it expires within 7 days AND less than a third of its lifetime is left — so a 24-hour
 * certificate is "expiring" once past its renewal point (2/3 of its life), not all day long.
 */
export interface ExpiringRule {
  readonly windowMs: number;
  readonly lifetimeThird: boolean;
}

function expiringRule(explicitWindowMs: number | undefined): ExpiringRule {
  const windowMs = explicitWindowMs ?? DEFAULT_EXPIRING_WITHIN_MS;
  if (!Number.isSafeInteger(windowMs) || windowMs < 0) {
    throw invalid('expiringWithinMs', 'expiringWithinMs must be a non-negative integer.');
  }
  return { windowMs, lifetimeThird: explicitWindowMs === undefined };
}

/** The derivation every query and count shares; SQL conditions below mirror it exactly. */
export function deriveState(
  status: CertificateStatus,
  notBeforeMs: number,
  notAfterMs: number,
  nowMs: number,
  rule: ExpiringRule,
): CertificateState {
  if (status !== 'issued') return status;
  if (notAfterMs < nowMs) return 'expired';
  if (notAfterMs < nowMs + rule.windowMs && (!rule.lifetimeThird || 2 * notAfterMs + notBeforeMs < 3 * nowMs)) {
    return 'expiring';
  }
  return 'valid';
}

/** SQL twin of the expiring test in deriveState (callers add status = issued and not expired). */
function expiringSql(nowMs: number, rule: ExpiringRule) {
  return rule.lifetimeThird
    ? sql<boolean>`(not_after < ${nowMs + rule.windowMs} and 2 * not_after + not_before < ${3 * nowMs})`
    : sql<boolean>`(not_after < ${nowMs + rule.windowMs})`;
}

type CertEb = ExpressionBuilder<Database, 'certificates'>;

function stateCondition(eb: CertEb, state: CertificateState, nowMs: number, rule: ExpiringRule) {
  switch (state) {
    case 'pending':
    case 'failed':
    case 'revoked':
      return eb('status', '=', state);
    case 'expired':
      return eb.and([eb('status', '=', 'issued'), eb('not_after', '<', nowMs)]);
    case 'expiring':
      return eb.and([eb('status', '=', 'issued'), eb('not_after', '>=', nowMs), expiringSql(nowMs, rule)]);
    case 'valid':
      return eb.and([eb('status', '=', 'issued'), eb('not_after', '>=', nowMs), eb.not(expiringSql(nowMs, rule))]);
  }
}

interface Cursor {
  readonly notAfter: number;
  readonly serial: string;
}

const encodeCursor = (c: Cursor): string => Buffer.from(JSON.stringify([c.notAfter, c.serial])).toString('base64url');

function decodeCursor(text: string): Cursor {
  try {
    const value: unknown = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
    if (
      Array.isArray(value) &&
      value.length === 2 &&
      Number.isSafeInteger(value[0]) &&
      typeof value[1] === 'string' &&
      HEX.test(value[1])
    ) {
      return { notAfter: value[0] as number, serial: value[1] };
    }
  } catch {
    // fall through to the refusal below
  }
  throw new MutualError('ERR_STORE_INVALID_CURSOR');
}

const escapeLike = (text: string): string => text.replace(/[!%_]/g, (c) => `!${c}`);

const SEARCH_COLUMNS = [
  'serial',
  'subject',
  'common_name',
  'identity',
  'sans_json',
  'fingerprint_sha256',
  'profile',
  'requester',
] as const;

/** At most this many write transactions share one commit, so a long queue still commits often. */
const MAX_GROUP = 256;
const SAVEPOINT = 'mutual_member';

/**
 * The audit head as a group commit sees it: read once (locked on PostgreSQL) by the group's first
 * audit record, advanced in memory by each record, written back once before COMMIT. A member rolled
 * back to its savepoint restores the value it started from.
 */
interface GroupAuditHead {
  head: { seq: number; hash: string } | undefined;
  dirty: boolean;
}

/** A write transaction waiting for the next group commit. */
interface WriteJob {
  readonly fn: (tx: KyselyStore) => Promise<unknown>;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
  /** The caller's async context, so the callback runs as if called where `transaction` was. */
  readonly caller: AsyncResource;
}

/** Shared by a root store and the transaction stores it hands out. */
interface Shared {
  readonly backend: Backend;
  readonly activeTx: AsyncLocalStorage<KyselyStore>;
  closed: boolean;
  /** Why the store stopped taking work on its own (a failed sync after a commit), if it did. */
  failure?: MutualError;
  /** Write transactions waiting for the next group; see `#group`. */
  readonly queue: WriteJob[];
  /** A group is scheduled or being written and committed. */
  busy: boolean;
  /** Called once the queue is empty and no group runs (close waits for that). */
  readonly idle: (() => void)[];
  closing?: Promise<void>;
  /** SQL text of the hot statements by name, built by Kysely once (see `#prepared`). */
  readonly prepared: Map<string, string>;
}

/**
 * The one Store implementation: Kysely queries written once for both dialects. A root instance runs
 * each call on the pool (PostgreSQL) or the single connection (SQLite); `transaction` hands out an
 * instance bound to one connection inside BEGIN … COMMIT.
 */
export class KyselyStore implements Store {
  readonly dialect: 'sqlite' | 'postgres';
  readonly #shared: Shared;
  readonly #db: Kysely<Database>;
  readonly #inTx: boolean;
  /** Inside a group commit: the group's audit head (see GroupAuditHead). */
  readonly #groupAudit: GroupAuditHead | undefined;
  #ended = false;

  private constructor(shared: Shared, db: Kysely<Database>, inTx: boolean, groupAudit?: GroupAuditHead) {
    this.#shared = shared;
    this.#db = db;
    this.#inTx = inTx;
    this.#groupAudit = groupAudit;
    this.dialect = shared.backend.dialect;
  }

  static create(backend: Backend): KyselyStore {
    return new KyselyStore(
      {
        backend,
        activeTx: new AsyncLocalStorage(),
        closed: false,
        queue: [],
        busy: false,
        idle: [],
        prepared: new Map(),
      },
      backend.db,
      false,
    );
  }

  #checkUsable(): void {
    if (this.#shared.failure !== undefined) throw this.#shared.failure;
    if (this.#shared.closed) throw new MutualError('ERR_STORE_UNAVAILABLE', { message: 'The store is closed.' });
    if (this.#inTx) {
      if (this.#ended) {
        throw new MutualError('ERR_INTERNAL_UNEXPECTED', {
          message: 'A transaction store was used after its transaction ended.',
        });
      }
      return;
    }
    const active = this.#shared.activeTx.getStore();
    if (active !== undefined && !active.#ended) {
      throw new MutualError('ERR_INTERNAL_UNEXPECTED', {
        message: 'Inside transaction(), use the transaction store passed to the callback, not the outer store.',
      });
    }
  }

  /** Runs database work, turning driver failures into catalog errors and letting MutualErrors through. */
  async #run<T>(work: () => Promise<T>): Promise<T> {
    this.#checkUsable();
    try {
      return await work();
    } catch (error) {
      throw isMutualError(error) ? error : this.#shared.backend.classify(error);
    }
  }

  /** Runs `fn` inside a read-only snapshot transaction, or inside the current one when already in one. */
  async #snapshot<T>(fn: (tx: KyselyStore) => Promise<T>): Promise<T> {
    this.#checkUsable();
    if (this.#inTx) return fn(this);
    const { backend, activeTx } = this.#shared;
    let fromCallback: { error: unknown } | undefined;
    try {
      return await this.#db.connection().execute(async (conn) => {
        await sql.raw(backend.beginSnapshot).execute(conn);
        const tx = new KyselyStore(this.#shared, conn, true);
        try {
          let result: T;
          try {
            result = await activeTx.run(tx, () => fn(tx));
          } catch (error) {
            fromCallback = { error };
            throw error;
          }
          await sql.raw('commit').execute(conn);
          return result;
        } catch (error) {
          await sql
            .raw('rollback')
            .execute(conn)
            .catch(() => undefined);
          throw error;
        } finally {
          tx.#ended = true;
        }
      });
    } catch (error) {
      if (fromCallback !== undefined && fromCallback.error === error) throw error;
      throw isMutualError(error) ? error : backend.classify(error);
    }
  }

  /**
   * Runs `fn` as a write transaction: inside the current one when already in one, else queued for
   * the next group commit. Resolves only after the COMMIT that holds its work has returned (durable:
   * the WAL fdatasync'd on SQLite, the server's own fsync on PostgreSQL).
   */
  async #write<T>(fn: (tx: KyselyStore) => Promise<T>): Promise<T> {
    this.#checkUsable();
    if (this.#inTx) return fn(this);
    if (this.#shared.closing !== undefined) {
      throw new MutualError('ERR_STORE_UNAVAILABLE', { message: 'The store is closing.' });
    }
    const shared = this.#shared;
    return new Promise<T>((resolve, reject) => {
      shared.queue.push({
        fn,
        resolve: resolve as (value: unknown) => void,
        reject,
        caller: new AsyncResource('mutual.store.write'),
      });
      this.#schedule();
    });
  }

  /**
   * Starts the next group once the event loop has handled what is already waiting (I/O callbacks,
   * promise continuations): whatever arrived while the previous commit was in flight goes in together.
   */
  #schedule(): void {
    const shared = this.#shared;
    if (shared.busy) return;
    if (shared.queue.length === 0) {
      for (const wake of shared.idle.splice(0)) wake();
      return;
    }
    shared.busy = true;
    setImmediate(() => {
      void this.#group().finally(() => {
        shared.busy = false;
        this.#schedule();
      });
    });
  }

  /**
   * Group commit: one BEGIN … COMMIT for every queued write transaction (up to MAX_GROUP), each in
   * its own SAVEPOINT, so a failing callback rolls back only its own work and is refused at once.
   * The others resolve only after the shared COMMIT has returned; if BEGIN, a savepoint or COMMIT
   * fails, or the database ended the transaction by itself, every one of them is refused and
   * nothing of the group is kept.
   */
  async #group(): Promise<void> {
    const shared = this.#shared;
    const { backend, activeTx } = shared;
    // Whatever is queued now; what arrives while this group runs and commits goes in the next one.
    const group = shared.queue.splice(0, MAX_GROUP);
    const results: ({ ok: true; value: unknown } | { ok: false; error: unknown } | undefined)[] = [];
    const stillOpen = (): void => {
      if (backend.inTransaction !== undefined && !backend.inTransaction()) {
        throw new MutualError('ERR_STORE_UNAVAILABLE', {
          message: 'The database ended the transaction by itself (I/O error or full disk).',
        });
      }
    };
    try {
      if (shared.failure !== undefined) throw shared.failure;
      if (shared.closed) throw new MutualError('ERR_STORE_UNAVAILABLE', { message: 'The store is closed.' });
      await this.#db.connection().execute(async (conn) => {
        // Transaction control waits to travel with the next statement that must run (PostgreSQL: one round trip).
        const pending: string[] = [backend.beginWrite];
        const flush = async (...next: string[]): Promise<void> => {
          const statements = pending.splice(0).concat(next);
          if (backend.multiStatement) await sql.raw(statements.join('; ')).execute(conn);
          else for (const statement of statements) await sql.raw(statement).execute(conn);
        };
        let savepoint = false;
        const audit: GroupAuditHead = { head: undefined, dirty: false };
        try {
          for (const job of group) {
            // After a rollback to it, the savepoint is still there and is used again.
            if (savepoint) await flush();
            else await flush(`savepoint ${SAVEPOINT}`);
            savepoint = true;
            const auditBefore = { ...audit };
            const tx = new KyselyStore(shared, conn, true, audit);
            let outcome: { ok: true; value: unknown } | { ok: false; error: unknown };
            try {
              const value = await job.caller.runInAsyncScope(() => activeTx.run(tx, () => job.fn(tx)));
              outcome = { ok: true, value };
            } catch (error) {
              outcome = { ok: false, error };
            } finally {
              tx.#ended = true;
            }
            stillOpen();
            if (outcome.ok) {
              pending.push(`release savepoint ${SAVEPOINT}`);
              savepoint = false;
            } else {
              // Only this caller's work is undone; it learns so at once, the others go on.
              await flush(`rollback to savepoint ${SAVEPOINT}`);
              Object.assign(audit, auditBefore);
              job.reject(outcome.error);
            }
            results.push(outcome);
          }
          stillOpen();
          if (audit.dirty && audit.head !== undefined) {
            await flush();
            const { seq, hash } = audit.head;
            await conn.updateTable('audit_head').set({ seq, hash }).where('id', '=', 1).execute();
          }
          await flush('commit');
        } catch (error) {
          await sql
            .raw('rollback')
            .execute(conn)
            .catch(() => undefined);
          throw error;
        }
      });
    } catch (error) {
      // Nothing of this group was kept: every caller not yet refused is refused now.
      const refusal = isMutualError(error) ? error : backend.classify(error);
      group.forEach((job, i) => {
        if (results[i]?.ok !== false) job.reject(refusal);
      });
      return;
    }
    if (backend.syncAfterCommit !== undefined) {
      try {
        await backend.syncAfterCommit();
      } catch (cause) {
        // Committed but perhaps not on disk, and a later sync may not report the lost pages again:
        // nobody is told "done" for this group, and the store takes no more work until reopened.
        shared.failure = new MutualError('ERR_STORE_UNAVAILABLE', {
          message: 'Syncing the database to disk failed; the store stopped taking work. Restart after fixing the disk.',
          cause,
        });
        group.forEach((job, i) => {
          if (results[i]?.ok === true) job.reject(shared.failure);
        });
        return;
      }
    }
    group.forEach((job, i) => {
      const result = results[i];
      if (result?.ok === true) job.resolve(result.value);
    });
  }

  transaction<T>(fn: (tx: Store) => Promise<T>): Promise<T> {
    return this.#write(fn);
  }

  async #explainUnchanged(serial: string, expected: CertificateStatus): Promise<never> {
    const row = await this.#db
      .selectFrom('certificates')
      .select('status')
      .where('serial', '=', serial)
      .executeTakeFirst();
    if (row === undefined) throw new MutualError('ERR_STORE_NOT_FOUND', { details: { serial } });
    throw new MutualError('ERR_STORE_STATE_CONFLICT', {
      details: { serial, status: row.status, expected },
    });
  }

  /**
   * Runs one of the statements of an issuance without building it again: Kysely builds and compiles
   * it the first time (and the parameters it compiled are checked to be `params`, in that order);
   * later calls reuse that SQL text with new parameters. Building cost about as much as SQLite
   * running the statement. `build` must give the same text for every call under `name`.
   */
  async #prepared<R>(name: string, build: () => Compilable<R>, params: readonly unknown[]): Promise<QueryResult<R>> {
    let text = this.#shared.prepared.get(name);
    if (text === undefined) {
      const compiled = build().compile();
      if (
        compiled.parameters.length !== params.length ||
        compiled.parameters.some((p, i) => !Object.is(p, params[i]))
      ) {
        throw new MutualError('ERR_INTERNAL_UNEXPECTED', { message: `prepared statement ${name}: parameters differ` });
      }
      text = compiled.sql;
      this.#shared.prepared.set(name, text);
    }
    return this.#db.executeQuery(CompiledQuery.raw(text, [...params]));
  }

  async reserveSerial(intent: IssuanceIntent): Promise<void> {
    if (!this.#inTx) return this.#write((tx) => tx.reserveSerial(intent));
    const serial = serialId(intent.serial);
    if (serial !== intent.serial)
      throw invalid('serial', 'serial must be canonical lowercase hexadecimal (no leading zeros).');
    if (!['spiffe', 'dns', 'none'].includes(intent.identityKind)) {
      throw invalid('identityKind', 'identityKind must be spiffe, dns or none.');
    }
    const values = {
      serial,
      issuer_fingerprint: nonEmpty('issuerFingerprint', intent.issuerFingerprint),
      subject: intent.subject,
      common_name: intent.commonName,
      identity_kind: intent.identityKind,
      identity: intent.identity,
      sans_json: canonicalJson({
        dns: intent.sans.dns,
        ip: intent.sans.ip,
        uri: intent.sans.uri,
        email: intent.sans.email,
      }),
      profile: nonEmpty('profile', intent.profile),
      key_type: nonEmpty('keyType', intent.keyType),
      status: 'pending',
      not_before: millis('notBefore', intent.notBefore),
      not_after: millis('notAfter', intent.notAfter),
      requester: nonEmpty('requester', intent.requester),
      created_at: millis('createdAt', intent.createdAt),
    };
    await this.#run(async () => {
      const inserted = await this.#prepared(
        'reserveSerial',
        () =>
          this.#db
            .insertInto('certificates')
            .values(values)
            .onConflict((oc) => oc.column('serial').doNothing())
            .returning('serial'),
        Object.values(values),
      );
      if (inserted.rows.length === 0) throw new MutualError('ERR_STORE_SERIAL_CONFLICT', { details: { serial } });
    });
  }

  async completeIssuance(serialIn: string, r: CompletedIssuance): Promise<void> {
    if (!this.#inTx) return this.#write((tx) => tx.completeIssuance(serialIn, r));
    const serial = serialId(serialIn);
    const fingerprint = hexId('fingerprintSha256', r.fingerprintSha256, 64);
    const spki = hexId('spkiSha256', r.spkiSha256, 64);
    const issuedAt = millis('issuedAt', r.issuedAt);
    nonEmpty('pem', r.pem, 1 << 20);
    await this.#run(async () => {
      let updated;
      try {
        const set = {
          status: 'issued',
          pem: r.pem,
          fingerprint_sha256: fingerprint,
          spki_sha256: spki,
          issued_at: issuedAt,
        };
        updated = (
          await this.#prepared(
            'completeIssuance',
            () =>
              this.#db
                .updateTable('certificates')
                .set(set)
                .where('serial', '=', serial)
                .where('status', '=', 'pending')
                .returning('serial'),
            [...Object.values(set), serial, 'pending'],
          )
        ).rows[0];
      } catch (error) {
        if (this.#shared.backend.isUniqueViolation(error)) {
          throw new MutualError('ERR_STORE_FINGERPRINT_CONFLICT', { cause: error, details: { serial } });
        }
        throw error;
      }
      if (updated === undefined) await this.#explainUnchanged(serial, 'pending');
    });
  }

  async failIssuance(serialIn: string, reason: string): Promise<void> {
    if (!this.#inTx) return this.#write((tx) => tx.failIssuance(serialIn, reason));
    const serial = serialId(serialIn);
    nonEmpty('reason', reason);
    await this.#run(async () => {
      const updated = await this.#db
        .updateTable('certificates')
        .set({ status: 'failed', failure_reason: reason })
        .where('serial', '=', serial)
        .where('status', '=', 'pending')
        .returning('serial')
        .executeTakeFirst();
      if (updated === undefined) await this.#explainUnchanged(serial, 'pending');
    });
  }

  async markRevoked(serialIn: string, r: Revocation): Promise<void> {
    if (!this.#inTx) return this.#write((tx) => tx.markRevoked(serialIn, r));
    const serial = serialId(serialIn);
    const revokedAt = millis('revokedAt', r.revokedAt);
    nonEmpty('reason', r.reason);
    await this.#run(async () => {
      const updated = await this.#db
        .updateTable('certificates')
        .set({ status: 'revoked', revoked_at: revokedAt, revocation_reason: r.reason })
        .where('serial', '=', serial)
        .where('status', '=', 'issued')
        .returning('serial')
        .executeTakeFirst();
      if (updated === undefined) await this.#explainUnchanged(serial, 'issued');
    });
  }

  async getCertificate(serialIn: string): Promise<CertificateRecord | undefined> {
    const serial = serialId(serialIn);
    return this.#run(async () => {
      const row = await this.#db.selectFrom('certificates').selectAll().where('serial', '=', serial).executeTakeFirst();
      return row === undefined ? undefined : toRecord(row);
    });
  }

  async findByFingerprint(sha256: string): Promise<CertificateRecord | undefined> {
    const fingerprint = hexId('sha256', sha256, 64);
    return this.#run(async () => {
      const row = await this.#db
        .selectFrom('certificates')
        .selectAll()
        .where('fingerprint_sha256', '=', fingerprint)
        .executeTakeFirst();
      return row === undefined ? undefined : toRecord(row);
    });
  }

  async listCertificates(filter: ListFilter): Promise<CertificatePage> {
    const nowMs = millis('now', filter.now);
    const rule = expiringRule(filter.expiringWithinMs);
    const limitIn = filter.limit ?? DEFAULT_LIST_LIMIT;
    if (!Number.isSafeInteger(limitIn) || limitIn < 1) throw invalid('limit', 'limit must be a positive integer.');
    const limit = Math.min(limitIn, MAX_LIST_LIMIT);
    const cursor = filter.cursor === undefined ? undefined : decodeCursor(filter.cursor);
    const expiresBefore =
      filter.expiresBefore === undefined ? undefined : millis('expiresBefore', filter.expiresBefore);
    const expiresFrom = filter.expiresFrom === undefined ? undefined : millis('expiresFrom', filter.expiresFrom);
    for (const state of filter.states ?? []) {
      if (!CERTIFICATE_STATES.includes(state)) throw invalid('states', `Unknown certificate state.`);
    }
    if (filter.issuers !== undefined && (filter.issuers.length === 0 || filter.issuers.length > 100))
      throw invalid('issuers', 'issuers must list 1 to 100 fingerprints.');

    return this.#run(async () => {
      let query = this.#db.selectFrom('certificates').selectAll();
      const { states, profile, identity, search } = filter;
      if (states !== undefined) {
        query = query.where((eb) => eb.or(states.map((s) => stateCondition(eb, s, nowMs, rule))));
      }
      if (expiresBefore !== undefined) query = query.where('not_after', '<', expiresBefore);
      if (expiresFrom !== undefined) query = query.where('not_after', '>=', expiresFrom);
      if (profile !== undefined) query = query.where('profile', '=', profile);
      if (identity !== undefined) query = query.where('identity', '=', identity);
      if (filter.issuers !== undefined) query = query.where('issuer_fingerprint', 'in', [...filter.issuers]);
      if (search !== undefined && search !== '') {
        const pattern = `%${escapeLike(search.toLowerCase())}%`;
        query = query.where((eb) =>
          eb.or(SEARCH_COLUMNS.map((c) => sql<boolean>`lower(${eb.ref(c)}) like ${pattern} escape '!'`)),
        );
      }
      const after = (q: typeof query, at: { notAfter: number; serial: string }): typeof query =>
        // A row-value comparison: both databases seek straight to the position in the
        // (status, not_after, serial) or (not_after, serial) index, however many rows share a notAfter.
        q.where((eb) => eb(eb.refTuple('not_after', 'serial'), '>', eb.tuple(at.notAfter, at.serial)));
      if (cursor !== undefined) query = after(query, cursor);
      const ordered = query.orderBy('not_after', 'asc').orderBy('serial', 'asc');
      let rows: Selectable<CertificatesTable>[];
      const searchChunk = this.#shared.backend.searchChunk;
      if (search !== undefined && search !== '' && searchChunk !== undefined) {
        // A substring search reads every record until it has a page, and SQLite's driver runs a
        // statement to its end on the event loop: ~3 s on 1,000,000 records (docs/scale.md). So the
        // records are searched `searchChunk` at a time, in index order, yielding between chunks.
        rows = [];
        let from = cursor;
        for (;;) {
          let boundary = this.#db
            .selectFrom('certificates')
            .select(['not_after', 'serial'])
            .orderBy('not_after', 'asc')
            .orderBy('serial', 'asc')
            .offset(searchChunk - 1)
            .limit(1);
          if (from !== undefined) {
            const at = from;
            boundary = boundary.where((eb) =>
              eb(eb.refTuple('not_after', 'serial'), '>', eb.tuple(at.notAfter, at.serial)),
            );
          }
          const end = await boundary.executeTakeFirst();
          let chunk = from === undefined ? ordered : after(ordered, from);
          if (end !== undefined) {
            const last = { notAfter: toNumber(end.not_after), serial: end.serial };
            chunk = chunk.where((eb) =>
              eb(eb.refTuple('not_after', 'serial'), '<=', eb.tuple(last.notAfter, last.serial)),
            );
            from = last;
          }
          rows.push(...(await chunk.limit(limit + 1 - rows.length).execute()));
          if (rows.length > limit || end === undefined) break;
          await new Promise<void>((resolve) => setImmediate(resolve));
        }
      } else {
        rows = await ordered.limit(limit + 1).execute();
      }
      const page = rows.slice(0, limit);
      const items: ListedCertificate[] = page.map((row) => {
        const record = toRecord(row);
        return {
          ...record,
          state: deriveState(record.status, record.notBefore.getTime(), record.notAfter.getTime(), nowMs, rule),
        };
      });
      const last = items[items.length - 1];
      const nextCursor =
        rows.length > limit && last !== undefined
          ? encodeCursor({ notAfter: last.notAfter.getTime(), serial: last.serial })
          : null;
      return { items, nextCursor };
    });
  }

  async countByState(now: Date, expiringWithinMs?: number): Promise<Record<CertificateState, number>> {
    const nowMs = millis('now', now);
    const rule = expiringRule(expiringWithinMs);
    return this.#run(async () => {
      // Counted without reading a row: the total is a count over the smallest index (SQLite counts
      // its pages' cells without decoding them); revoked, pending and failed are ranges of the
      // (status, not_after, serial) index, and so are the unexpired issued certificates (the live
      // fleet), the only ones split into valid and expiring; expired is what is left. One
      // statement, so every part sees the same snapshot. On 1,000,000 records: ~45 ms instead of
      // ~1.2 s for one pass over every row (docs/scale.md).
      const issuedLive = sql`status = 'issued' and not_after >= ${nowMs}`;
      const result = await sql<{
        total: number | string;
        revoked: number | string;
        pending: number | string;
        failed: number | string;
        live: number | string;
        expiring: number | string;
      }>`select
          (select count(*) from certificates) as total,
          (select count(*) from certificates where status = 'revoked') as revoked,
          (select count(*) from certificates where status = 'pending') as pending,
          (select count(*) from certificates where status = 'failed') as failed,
          (select count(*) from certificates where ${issuedLive}) as live,
          (select count(*) from certificates where ${issuedLive} and ${expiringSql(nowMs, rule)}) as expiring`.execute(
        this.#db,
      );
      const row = result.rows[0];
      const n = (v: number | string | undefined): number => (v === undefined ? 0 : toNumber(v));
      const live = n(row?.live);
      const counts: Record<CertificateState, number> = {
        valid: live - n(row?.expiring),
        expiring: n(row?.expiring),
        expired: 0,
        revoked: n(row?.revoked),
        pending: n(row?.pending),
        failed: n(row?.failed),
      };
      counts.expired = n(row?.total) - live - counts.revoked - counts.pending - counts.failed;
      return counts;
    });
  }

  async listPending(olderThan: Date): Promise<CertificateRecord[]> {
    const before = millis('olderThan', olderThan);
    return this.#run(async () => {
      const rows = await this.#db
        .selectFrom('certificates')
        .selectAll()
        .where('status', '=', 'pending')
        .where('created_at', '<', before)
        .orderBy('created_at', 'asc')
        .orderBy('serial', 'asc')
        .execute();
      return rows.map(toRecord);
    });
  }

  async pruneExpiredCertificates(before: Date, limit = 500): Promise<PrunedCertificate[]> {
    if (!this.#inTx) return this.#write((tx) => tx.pruneExpiredCertificates(before, limit));
    const ms = millis('before', before);
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > 10_000) {
      throw invalid('limit', 'limit must be an integer from 1 to 10000.');
    }
    return this.#run(async () => {
      // One statement: the rows this instance deleted are exactly the ones it returns, even when
      // another instance prunes the same range at the same moment.
      const rows = await this.#db
        .deleteFrom('certificates')
        .where('serial', 'in', (qb) =>
          qb
            .selectFrom('certificates')
            .select('serial')
            .where('not_after', '<', ms)
            .where('status', '<>', 'pending')
            .orderBy('not_after', 'asc')
            .orderBy('serial', 'asc')
            .limit(limit),
        )
        .where('status', '<>', 'pending')
        .returning(['serial', 'status', 'not_after'])
        .execute();
      return rows
        .map((row) => ({
          serial: row.serial,
          status: row.status as PrunedCertificate['status'],
          notAfter: new Date(toNumber(row.not_after)),
        }))
        .sort((a, b) => a.notAfter.getTime() - b.notAfter.getTime() || (a.serial < b.serial ? -1 : 1));
    });
  }

  async consumeToken(jti: string, at: Date, bySerial?: string): Promise<boolean> {
    if (!this.#inTx) return this.#write((tx) => tx.consumeToken(jti, at, bySerial));
    nonEmpty('jti', jti, 1024);
    const usedAt = millis('at', at);
    const serial = bySerial === undefined ? null : hexId('bySerial', bySerial, MAX_SERIAL_HEX);
    return this.#run(async () => {
      const values = { jti, used_at: usedAt, used_by_serial: serial };
      const inserted = await this.#prepared(
        'consumeToken',
        () =>
          this.#db
            .insertInto('tokens')
            .values(values)
            .onConflict((oc) => oc.column('jti').doNothing())
            .returning('jti'),
        Object.values(values),
      );
      return inserted.rows.length > 0;
    });
  }

  async nextCrlNumber(issuerFingerprint: string): Promise<bigint> {
    if (!this.#inTx) return this.#write((tx) => tx.nextCrlNumber(issuerFingerprint));
    nonEmpty('issuerFingerprint', issuerFingerprint);
    return this.#run(async () => {
      const row = await this.#db
        .insertInto('crl_state')
        .values({ issuer_fingerprint: issuerFingerprint, number: 1 })
        .onConflict((oc) =>
          oc.column('issuer_fingerprint').doUpdateSet({ number: sql<number>`${sql.ref('crl_state.number')} + 1` }),
        )
        .returning('number')
        .executeTakeFirstOrThrow();
      return toBigInt(row.number);
    });
  }

  /**
   * Sequence numbers are assigned here, under the head row's lock (PostgreSQL: FOR UPDATE; SQLite: the
   * write transaction), not by an autoincrement: they are then gap-free and in chain order, so a gap is
   * proof of a deleted record, and the head row exposes a truncated tail.
   */
  async appendAudit(entry: AuditEntry): Promise<{ seq: bigint; hash: string }> {
    const at = millis('at', entry.at);
    const actor = nonEmpty('actor', entry.actor);
    const action = nonEmpty('action', entry.action);
    const subject = typeof entry.subject === 'string' ? entry.subject : '';
    let detailsJson: string;
    try {
      detailsJson = canonicalJson(entry.details);
    } catch (error) {
      throw new MutualError('ERR_USAGE_INVALID_ARGUMENT', {
        message: 'Audit details must be JSON-serialisable.',
        details: { field: 'details' },
        cause: error,
      });
    }
    return this.#write((tx) =>
      tx.#run(async () => {
        const group = tx.#groupAudit;
        let head = group?.head;
        if (head === undefined) {
          let headQuery = tx.#db.selectFrom('audit_head').select(['seq', 'hash']).where('id', '=', 1);
          if (tx.#shared.backend.rowLocks) headQuery = headQuery.forUpdate();
          const row = await headQuery.executeTakeFirstOrThrow();
          head = { seq: toNumber(row.seq), hash: row.hash };
        }
        const seq = head.seq + 1;
        const hash = auditRecordHash(head.hash, { seq, at, actor, action, subject, detailsJson });
        const values = { seq, at, actor, action, subject, details_json: detailsJson, prev_hash: head.hash, hash };
        await tx.#prepared('appendAudit', () => tx.#db.insertInto('audit_log').values(values), Object.values(values));
        if (group === undefined) {
          await tx.#db.updateTable('audit_head').set({ seq, hash }).where('id', '=', 1).execute();
        } else {
          // Written back once, before the group's COMMIT.
          group.head = { seq, hash };
          group.dirty = true;
        }
        return { seq: BigInt(seq), hash };
      }),
    );
  }

  async listAudit(options: AuditListOptions = {}): Promise<AuditRecord[]> {
    const limitIn = options.limit ?? DEFAULT_LIST_LIMIT;
    if (!Number.isSafeInteger(limitIn) || limitIn < 1) throw invalid('limit', 'limit must be a positive integer.');
    const after = Number(options.afterSeq ?? 0n);
    const before = options.beforeSeq === undefined ? undefined : Number(options.beforeSeq);
    const { action, subject } = options;
    const order = options.order ?? 'asc';
    return this.#run(async () => {
      let query = this.#db.selectFrom('audit_log').selectAll().where('seq', '>', after);
      if (before !== undefined) query = query.where('seq', '<', before);
      if (action !== undefined) query = query.where('action', '=', action);
      if (subject !== undefined) query = query.where('subject', '=', subject);
      const rows = await query.orderBy('seq', order).limit(Math.min(limitIn, MAX_LIST_LIMIT)).execute();
      return rows.map((row) => ({
        seq: toBigInt(row.seq),
        at: new Date(toNumber(row.at)),
        actor: row.actor,
        action: row.action,
        subject: row.subject,
        details: JSON.parse(row.details_json) as Record<string, unknown>,
        prevHash: row.prev_hash,
        hash: row.hash,
      }));
    });
  }

  async recordMintedToken(token: MintedTokenRecord): Promise<void> {
    if (!this.#inTx) return this.#write((tx) => tx.recordMintedToken(token));
    const jti = nonEmpty('jti', token.jti, 1024);
    const values = {
      jti,
      profile: nonEmpty('profile', token.profile, 64),
      names_json: JSON.stringify({
        dns: [...token.names.dns],
        ip: [...token.names.ip],
        uri: [...token.names.uri],
        email: [...token.names.email],
      }),
      minted_at: millis('mintedAt', token.mintedAt),
      expires_at: millis('expiresAt', token.expiresAt),
      minted_by: nonEmpty('mintedBy', token.mintedBy),
    };
    await this.#run(async () => {
      const inserted = await this.#db
        .insertInto('minted_tokens')
        .values(values)
        .onConflict((oc) => oc.column('jti').doNothing())
        .returning('jti')
        .executeTakeFirst();
      if (inserted === undefined) throw new MutualError('ERR_STORE_STATE_CONFLICT', { details: { jti } });
    });
  }

  async pruneSpentTokens(before: Date): Promise<{ used: number; minted: number }> {
    if (!this.#inTx) return this.#write((tx) => tx.pruneSpentTokens(before));
    const ms = millis('before', before);
    return this.#run(async () => {
      const used = await this.#db.deleteFrom('tokens').where('used_at', '<', ms).executeTakeFirst();
      const minted = await this.#db.deleteFrom('minted_tokens').where('expires_at', '<', ms).executeTakeFirst();
      return { used: Number(used.numDeletedRows), minted: Number(minted.numDeletedRows) };
    });
  }

  async listUnusedTokens(now: Date, limit = DEFAULT_LIST_LIMIT): Promise<MintedTokenRecord[]> {
    const nowMs = millis('now', now);
    if (!Number.isSafeInteger(limit) || limit < 1) throw invalid('limit', 'limit must be a positive integer.');
    return this.#run(async () => {
      const rows = await this.#db
        .selectFrom('minted_tokens as m')
        .leftJoin('tokens as t', 't.jti', 'm.jti')
        .selectAll('m')
        .where('t.jti', 'is', null)
        .where('m.expires_at', '>', nowMs)
        .orderBy('m.expires_at', 'asc')
        .orderBy('m.jti', 'asc')
        .limit(Math.min(limit, MAX_LIST_LIMIT))
        .execute();
      return rows.map((row) => ({
        jti: row.jti,
        profile: row.profile,
        names: parseSans(row.names_json),
        mintedAt: new Date(toNumber(row.minted_at)),
        expiresAt: new Date(toNumber(row.expires_at)),
        mintedBy: row.minted_by,
      }));
    });
  }

  async verifyAuditChain(): Promise<AuditChainVerdict> {
    return this.#snapshot((tx) =>
      tx.#run(async () => {
        let expected = 1;
        let prevHash = AUDIT_GENESIS_HASH;
        for (;;) {
          const rows = await tx.#db
            .selectFrom('audit_log')
            .selectAll()
            .where('seq', '>=', expected)
            .orderBy('seq', 'asc')
            .limit(VERIFY_BATCH)
            .execute();
          for (const row of rows) {
            const seq = toNumber(row.seq);
            if (seq !== expected) {
              return { ok: false, brokenAt: BigInt(expected), reason: `record ${expected} is missing` } as const;
            }
            if (row.prev_hash !== prevHash) {
              return {
                ok: false,
                brokenAt: BigInt(seq),
                reason: `record ${seq} does not link to record ${seq - 1}`,
              } as const;
            }
            const fields = {
              seq,
              at: toNumber(row.at),
              actor: row.actor,
              action: row.action,
              subject: row.subject,
              detailsJson: row.details_json,
            };
            if (auditRecordHash(prevHash, fields) !== row.hash) {
              return {
                ok: false,
                brokenAt: BigInt(seq),
                reason: `record ${seq} was altered: its content does not match its hash`,
              } as const;
            }
            prevHash = row.hash;
            expected = seq + 1;
          }
          if (rows.length < VERIFY_BATCH) break;
        }
        const count = expected - 1;
        // Inside a group commit the head may still be only in memory (written back before COMMIT).
        const head =
          tx.#groupAudit?.dirty === true && tx.#groupAudit.head !== undefined
            ? tx.#groupAudit.head
            : await tx.#db.selectFrom('audit_head').select(['seq', 'hash']).where('id', '=', 1).executeTakeFirst();
        if (head === undefined) {
          return { ok: false, brokenAt: BigInt(expected), reason: 'the audit head record is missing' } as const;
        }
        const headSeq = toNumber(head.seq);
        if (headSeq > count) {
          return {
            ok: false,
            brokenAt: BigInt(expected),
            reason: `records ${expected} to ${headSeq} are missing from the end of the log`,
          } as const;
        }
        if (headSeq < count || head.hash !== prevHash) {
          return {
            ok: false,
            brokenAt: BigInt(Math.max(count, 1)),
            reason: 'the last record does not match the audit head',
          } as const;
        }
        return { ok: true, count } as const;
      }),
    );
  }

  async recordReport(report: ComponentReport): Promise<{ newComponent: boolean }> {
    if (!this.#inTx) return this.#write((tx) => tx.recordReport(report));
    const kind = nonEmpty('kind', report.kind, 32);
    const name = nonEmpty('name', report.name, 128);
    const at = millis('at', report.at);
    const component = `${kind}/${name}`;
    const healthJson = JSON.stringify(report.health);
    const certificatesJson = JSON.stringify(report.certificates);
    const sightings = report.sightings.map((s) => ({
      cert: s.certificate,
      fingerprint: hexId('fingerprintSha256', s.certificate.fingerprintSha256, 64),
      place: nonEmpty('place', s.place, 512),
      role: nonEmpty('role', s.role, 16),
      at: millis('at', s.at),
    }));
    const failures = report.authFailures.map((f) => ({
      at: millis('at', f.at),
      component,
      listener: f.listener,
      stage: nonEmpty('stage', f.stage, 16),
      reason: nonEmpty('reason', f.reason, 64),
      address: f.address,
      identity: f.identity,
      serial: f.serial,
      fingerprint_sha256: f.fingerprintSha256,
      issuer: f.issuer,
    }));
    return this.#run(async () => {
      const existing = await this.#db
        .selectFrom('components')
        .select('kind')
        .where('kind', '=', kind)
        .where('name', '=', name)
        .executeTakeFirst();
      if (existing === undefined) {
        await this.#db
          .insertInto('components')
          .values({
            kind,
            name,
            reported_by: report.reportedBy,
            first_seen: at,
            last_seen: at,
            health_json: healthJson,
            certificates_json: certificatesJson,
          })
          .execute();
      } else {
        await this.#db
          .updateTable('components')
          .set({
            reported_by: report.reportedBy,
            last_seen: at,
            health_json: healthJson,
            certificates_json: certificatesJson,
          })
          .where('kind', '=', kind)
          .where('name', '=', name)
          .execute();
      }
      for (const s of sightings) {
        await this.#db
          .insertInto('discovered_certificates')
          .values({
            fingerprint_sha256: s.fingerprint,
            serial: s.cert.serial,
            subject: s.cert.subject,
            issuer: s.cert.issuer,
            identity: s.cert.identity,
            not_before: millis('notBefore', s.cert.notBefore),
            not_after: millis('notAfter', s.cert.notAfter),
            pem: s.cert.pem,
            chain_json: JSON.stringify(s.cert.chain),
          })
          .onConflict((oc) => oc.column('fingerprint_sha256').doNothing())
          .execute();
        await this.#db
          .insertInto('sightings')
          .values({
            fingerprint_sha256: s.fingerprint,
            place: s.place,
            role: s.role,
            component,
            first_seen: s.at,
            last_seen: s.at,
          })
          .onConflict((oc) =>
            oc.columns(['fingerprint_sha256', 'place', 'role']).doUpdateSet({
              last_seen: sql<number>`case when ${sql.ref('excluded.last_seen')} > ${sql.ref('sightings.last_seen')} then ${sql.ref('excluded.last_seen')} else ${sql.ref('sightings.last_seen')} end`,
              component: (eb) => eb.ref('excluded.component'),
            }),
          )
          .execute();
      }
      for (let i = 0; i < failures.length; i += INSERT_BATCH) {
        await this.#db
          .insertInto('auth_failures')
          .values(failures.slice(i, i + INSERT_BATCH))
          .execute();
      }
      return { newComponent: existing === undefined };
    });
  }

  async listComponents(): Promise<ComponentRecord[]> {
    return this.#run(async () => {
      const rows = await this.#db
        .selectFrom('components')
        .selectAll()
        .orderBy('kind', 'asc')
        .orderBy('name', 'asc')
        .execute();
      return rows.map((r) => ({
        kind: r.kind,
        name: r.name,
        reportedBy: r.reported_by,
        firstSeen: new Date(toNumber(r.first_seen)),
        lastSeen: new Date(toNumber(r.last_seen)),
        health: JSON.parse(r.health_json) as Record<string, unknown>,
        certificates: JSON.parse(r.certificates_json) as unknown[],
      }));
    });
  }

  async listDiscovered(options: { limit?: number } = {}): Promise<DiscoveredRecord[]> {
    const limitIn = options.limit ?? MAX_LIST_LIMIT;
    if (!Number.isSafeInteger(limitIn) || limitIn < 1) throw invalid('limit', 'limit must be a positive integer.');
    return this.#snapshot((tx) =>
      tx.#run(async () => {
        const certs = await tx.#db
          .selectFrom('discovered_certificates')
          .selectAll()
          .orderBy('not_after', 'asc')
          .orderBy('fingerprint_sha256', 'asc')
          .limit(Math.min(limitIn, MAX_LIST_LIMIT))
          .execute();
        if (certs.length === 0) return [];
        const places = await tx.#db
          .selectFrom('sightings')
          .selectAll()
          .where(
            'fingerprint_sha256',
            'in',
            certs.map((c) => c.fingerprint_sha256),
          )
          .orderBy('first_seen', 'asc')
          .orderBy('place', 'asc')
          .execute();
        const byFp = new Map<string, SightingPlace[]>();
        for (const p of places) {
          const list = byFp.get(p.fingerprint_sha256) ?? [];
          list.push({
            where: p.place,
            role: p.role,
            component: p.component,
            firstSeen: new Date(toNumber(p.first_seen)),
            lastSeen: new Date(toNumber(p.last_seen)),
          });
          byFp.set(p.fingerprint_sha256, list);
        }
        return certs.map((c) => ({
          fingerprintSha256: c.fingerprint_sha256,
          serial: c.serial,
          subject: c.subject,
          issuer: c.issuer,
          identity: c.identity,
          notBefore: new Date(toNumber(c.not_before)),
          notAfter: new Date(toNumber(c.not_after)),
          pem: c.pem,
          chain: JSON.parse(c.chain_json) as string[],
          places: byFp.get(c.fingerprint_sha256) ?? [],
        }));
      }),
    );
  }

  async summarizeAuthFailures(
    filter: AuthFailureFilter,
    recentLimit = DEFAULT_LIST_LIMIT,
  ): Promise<AuthFailureSummary> {
    const since = millis('since', filter.since);
    const until = millis('until', filter.until);
    if (!Number.isSafeInteger(recentLimit) || recentLimit < 1) {
      throw invalid('recentLimit', 'recentLimit must be a positive integer.');
    }
    return this.#snapshot((tx) =>
      tx.#run(async () => {
        const base = () => {
          let q = tx.#db.selectFrom('auth_failures').where('at', '>=', since).where('at', '<=', until);
          if (filter.reason !== undefined) q = q.where('reason', '=', filter.reason);
          if (filter.identity !== undefined) q = q.where('identity', '=', filter.identity);
          if (filter.address !== undefined) q = q.where('address', '=', filter.address);
          return q;
        };
        const grouped = async (column: 'reason' | 'identity' | 'address'): Promise<KeyCount[]> => {
          const rows = await base()
            .select((eb) => [eb.ref(column).as('key'), eb.fn.countAll<number | string>().as('n')])
            .where(column, 'is not', null)
            .groupBy(column)
            .orderBy('n', 'desc')
            .orderBy(column, 'asc')
            .limit(MAX_GROUPS)
            .execute();
          return rows.map((r) => ({ key: String(r.key), count: toNumber(r.n) }));
        };
        const totalRow = await base()
          .select((eb) => eb.fn.countAll<number | string>().as('n'))
          .executeTakeFirstOrThrow();
        const hour = sql<number | string>`(at / ${HOUR_MS})`;
        const hourly = await base()
          .select((eb) => [hour.as('h'), eb.fn.countAll<number | string>().as('n')])
          .groupBy('h')
          .orderBy('h', 'asc')
          .execute();
        const recent = await base()
          .selectAll()
          .orderBy('at', 'desc')
          .limit(Math.min(recentLimit, MAX_LIST_LIMIT))
          .execute();
        return {
          total: toNumber(totalRow.n),
          byReason: await grouped('reason'),
          byIdentity: await grouped('identity'),
          byAddress: await grouped('address'),
          hourly: hourly.map((r) => ({ start: new Date(Math.floor(toNumber(r.h)) * HOUR_MS), count: toNumber(r.n) })),
          recent: recent.map((r) => ({
            at: new Date(toNumber(r.at)),
            component: r.component,
            listener: r.listener,
            stage: r.stage,
            reason: r.reason,
            address: r.address,
            identity: r.identity,
            serial: r.serial,
            fingerprintSha256: r.fingerprint_sha256,
            issuer: r.issuer,
          })),
        };
      }),
    );
  }

  async countAuthFailures(
    filter: AuthFailureFilter,
    per: 'identity' | 'address',
    atLeast: number,
    limit: number = MAX_LIST_LIMIT,
  ): Promise<KeyCount[]> {
    const since = millis('since', filter.since);
    const until = millis('until', filter.until);
    if (!['identity', 'address'].includes(per)) throw invalid('per', 'per must be identity or address.');
    if (!Number.isSafeInteger(atLeast) || atLeast < 1) throw invalid('atLeast', 'atLeast must be a positive integer.');
    if (!Number.isSafeInteger(limit) || limit < 1) throw invalid('limit', 'limit must be a positive integer.');
    return this.#run(async () => {
      const rows = await this.#db
        .selectFrom('auth_failures')
        .select((eb) => [eb.ref(per).as('key'), eb.fn.countAll<number | string>().as('n')])
        .where('at', '>=', since)
        .where('at', '<=', until)
        .where(per, 'is not', null)
        .groupBy(per)
        .having((eb) => eb.fn.countAll(), '>=', atLeast)
        .orderBy('n', 'desc')
        .orderBy(per, 'asc')
        .limit(Math.min(limit, MAX_LIST_LIMIT))
        .execute();
      return rows.map((r) => ({ key: String(r.key), count: toNumber(r.n) }));
    });
  }

  async pruneAuthFailures(before: Date): Promise<number> {
    if (!this.#inTx) return this.#write((tx) => tx.pruneAuthFailures(before));
    const ms = millis('before', before);
    return this.#run(async () => {
      const result = await this.#db.deleteFrom('auth_failures').where('at', '<', ms).executeTakeFirst();
      return Number(result.numDeletedRows);
    });
  }

  async recordAlert(alert: AlertRecord): Promise<void> {
    if (!this.#inTx) return this.#write((tx) => tx.recordAlert(alert));
    const id = nonEmpty('id', alert.id, 128);
    const at = millis('at', alert.at);
    await this.#run(async () => {
      const inserted = await this.#db
        .insertInto('alerts')
        .values({
          id,
          rule: nonEmpty('rule', alert.rule, 64),
          key: nonEmpty('key', alert.key, 2048),
          at,
          severity: alert.severity,
          message: nonEmpty('message', alert.message),
          details_json: canonicalJson(alert.details),
          delivery: alert.delivery,
          attempts: alert.attempts,
        })
        .onConflict((oc) => oc.column('id').doNothing())
        .returning('id')
        .executeTakeFirst();
      if (inserted === undefined) throw new MutualError('ERR_STORE_STATE_CONFLICT', { details: { alert: id } });
    });
  }

  async setAlertDelivery(id: string, delivery: AlertDelivery, attempts: number): Promise<void> {
    if (!this.#inTx) return this.#write((tx) => tx.setAlertDelivery(id, delivery, attempts));
    await this.#run(async () => {
      const updated = await this.#db
        .updateTable('alerts')
        .set({ delivery, attempts })
        .where('id', '=', id)
        .returning('id')
        .executeTakeFirst();
      if (updated === undefined) throw new MutualError('ERR_STORE_NOT_FOUND', { details: { alert: id } });
    });
  }

  async pruneAlerts(before: Date): Promise<number> {
    if (!this.#inTx) return this.#write((tx) => tx.pruneAlerts(before));
    const ms = millis('before', before);
    return this.#run(async () => {
      const result = await this.#db.deleteFrom('alerts').where('at', '<', ms).executeTakeFirst();
      return Number(result.numDeletedRows);
    });
  }

  async listAlerts(options: { rule?: string; key?: string; limit?: number } = {}): Promise<AlertRecord[]> {
    const limitIn = options.limit ?? DEFAULT_LIST_LIMIT;
    if (!Number.isSafeInteger(limitIn) || limitIn < 1) throw invalid('limit', 'limit must be a positive integer.');
    return this.#run(async () => {
      let q = this.#db.selectFrom('alerts').selectAll();
      if (options.rule !== undefined) q = q.where('rule', '=', options.rule);
      if (options.key !== undefined) q = q.where('key', '=', options.key);
      const rows = await q
        .orderBy('at', 'desc')
        .orderBy('id', 'desc')
        .limit(Math.min(limitIn, MAX_LIST_LIMIT))
        .execute();
      return rows.map((r) => ({
        id: r.id,
        rule: r.rule,
        key: r.key,
        at: new Date(toNumber(r.at)),
        severity: r.severity as AlertRecord['severity'],
        message: r.message,
        details: JSON.parse(r.details_json) as Record<string, unknown>,
        delivery: r.delivery as AlertDelivery,
        attempts: toNumber(r.attempts),
      }));
    });
  }

  async close(): Promise<void> {
    if (this.#inTx) {
      throw new MutualError('ERR_INTERNAL_UNEXPECTED', { message: 'close() is not allowed inside a transaction.' });
    }
    const shared = this.#shared;
    shared.closing ??= (async () => {
      // Write transactions already queued still commit (their callers are waiting for that); new ones are refused.
      if (shared.busy || shared.queue.length > 0) await new Promise<void>((wake) => shared.idle.push(wake));
      shared.closed = true;
      try {
        shared.backend.release?.();
        await shared.backend.db.destroy();
      } catch (error) {
        throw shared.backend.classify(error);
      }
    })();
    await shared.closing;
  }
}
