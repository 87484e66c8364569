import type { Kysely } from 'kysely';

/**
 * Inventory pages filtered by state are read in (not_after, serial) order: with status alone
 * before not_after in the index, every page of certificates sharing a notAfter (issued in the same
 * second with the same lifetime) was sorted again from the first such row, so reading 100,000
 * revoked certificates at start took seconds. The wider index replaces the narrower one.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createIndex('certificates_status_not_after_serial_idx')
    .on('certificates')
    .columns(['status', 'not_after', 'serial'])
    .execute();
  await db.schema.dropIndex('certificates_status_not_after_idx').execute();
}
