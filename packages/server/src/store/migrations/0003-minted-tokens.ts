import type { Kysely } from 'kysely';

/**
 * Minted enrollment tokens, so admins can list the ones not used yet: what a token grants (names,
 * profile), until when, and who minted it — never the token itself (a bearer secret). A token is
 * unused while its jti has no row in `tokens` (written when issuance consumes it).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('minted_tokens')
    .addColumn('jti', 'text', (c) => c.primaryKey())
    .addColumn('profile', 'text', (c) => c.notNull())
    .addColumn('names_json', 'text', (c) => c.notNull())
    .addColumn('minted_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .addColumn('minted_by', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('minted_tokens_expires_at_idx').on('minted_tokens').column('expires_at').execute();
}
