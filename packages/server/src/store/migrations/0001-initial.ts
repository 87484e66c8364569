import { sql, type Kysely } from 'kysely';
import { AUDIT_GENESIS_HASH } from '../audit-chain.js';

/**
 * The first schema: certificates (intent → issued/failed → revoked), one-time tokens, the hash-chained
 * audit log with its head, and CRL numbers. Portable DDL only: it runs unchanged on SQLite and PostgreSQL.
 * A migration is never edited once released; later changes are new migrations.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('certificates')
    .addColumn('serial', 'text', (c) => c.primaryKey())
    .addColumn('issuer_fingerprint', 'text', (c) => c.notNull())
    .addColumn('subject', 'text', (c) => c.notNull())
    .addColumn('common_name', 'text')
    .addColumn('identity_kind', 'text', (c) => c.notNull())
    .addColumn('identity', 'text')
    .addColumn('sans_json', 'text', (c) => c.notNull())
    .addColumn('profile', 'text', (c) => c.notNull())
    .addColumn('key_type', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('not_before', 'bigint', (c) => c.notNull())
    .addColumn('not_after', 'bigint', (c) => c.notNull())
    .addColumn('fingerprint_sha256', 'text')
    .addColumn('spki_sha256', 'text')
    .addColumn('pem', 'text')
    .addColumn('requester', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('issued_at', 'bigint')
    .addColumn('revoked_at', 'bigint')
    .addColumn('revocation_reason', 'text')
    .addColumn('failure_reason', 'text')
    .addUniqueConstraint('certificates_fingerprint_unique', ['fingerprint_sha256'])
    .addCheckConstraint('certificates_status_known', sql`status in ('pending', 'issued', 'failed', 'revoked')`)
    .addCheckConstraint('certificates_identity_kind_known', sql`identity_kind in ('spiffe', 'dns', 'none')`)
    .addCheckConstraint(
      'certificates_issued_has_certificate',
      sql`status in ('pending', 'failed') or (pem is not null and fingerprint_sha256 is not null and issued_at is not null)`,
    )
    .addCheckConstraint('certificates_revoked_has_time', sql`status <> 'revoked' or revoked_at is not null`)
    .execute();
  await db.schema
    .createIndex('certificates_status_not_after_idx')
    .on('certificates')
    .columns(['status', 'not_after'])
    .execute();
  await db.schema.createIndex('certificates_identity_idx').on('certificates').column('identity').execute();
  await db.schema
    .createIndex('certificates_not_after_serial_idx')
    .on('certificates')
    .columns(['not_after', 'serial'])
    .execute();

  await db.schema
    .createTable('tokens')
    .addColumn('jti', 'text', (c) => c.primaryKey())
    .addColumn('used_at', 'bigint', (c) => c.notNull())
    .addColumn('used_by_serial', 'text')
    .execute();
  await db.schema.createIndex('tokens_used_at_idx').on('tokens').column('used_at').execute();

  await db.schema
    .createTable('audit_log')
    .addColumn('seq', 'bigint', (c) => c.primaryKey())
    .addColumn('at', 'bigint', (c) => c.notNull())
    .addColumn('actor', 'text', (c) => c.notNull())
    .addColumn('action', 'text', (c) => c.notNull())
    .addColumn('subject', 'text', (c) => c.notNull())
    .addColumn('details_json', 'text', (c) => c.notNull())
    .addColumn('prev_hash', 'text', (c) => c.notNull())
    .addColumn('hash', 'text', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('audit_head')
    .addColumn('id', 'integer', (c) => c.primaryKey())
    .addColumn('seq', 'bigint', (c) => c.notNull())
    .addColumn('hash', 'text', (c) => c.notNull())
    .addCheckConstraint('audit_head_single_row', sql`id = 1`)
    .execute();
  await sql`insert into audit_head (id, seq, hash) values (1, 0, ${AUDIT_GENESIS_HASH})`.execute(db);

  await db.schema
    .createTable('crl_state')
    .addColumn('issuer_fingerprint', 'text', (c) => c.primaryKey())
    .addColumn('number', 'bigint', (c) => c.notNull())
    .execute();
}
