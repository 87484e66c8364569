import type { Kysely } from 'kysely';

/**
 * Lifecycle and visibility: components that report to the CA (gateways, agents, tunnels,
 * `mutual discover`), certificates they saw in use and where, their failed authentications
 * (pruned after a retention), and the alerts the CA raised with their webhook delivery state.
 * Portable DDL only. Never edited once released.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('components')
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('reported_by', 'text')
    .addColumn('first_seen', 'bigint', (c) => c.notNull())
    .addColumn('last_seen', 'bigint', (c) => c.notNull())
    .addColumn('health_json', 'text', (c) => c.notNull())
    .addColumn('certificates_json', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('components_pk', ['kind', 'name'])
    .execute();

  await db.schema
    .createTable('discovered_certificates')
    .addColumn('fingerprint_sha256', 'text', (c) => c.primaryKey())
    .addColumn('serial', 'text', (c) => c.notNull())
    .addColumn('subject', 'text', (c) => c.notNull())
    .addColumn('issuer', 'text', (c) => c.notNull())
    .addColumn('identity', 'text')
    .addColumn('not_before', 'bigint', (c) => c.notNull())
    .addColumn('not_after', 'bigint', (c) => c.notNull())
    .addColumn('pem', 'text', (c) => c.notNull())
    .addColumn('chain_json', 'text', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('discovered_certificates_not_after_idx')
    .on('discovered_certificates')
    .column('not_after')
    .execute();

  await db.schema
    .createTable('sightings')
    .addColumn('fingerprint_sha256', 'text', (c) => c.notNull())
    .addColumn('place', 'text', (c) => c.notNull())
    .addColumn('role', 'text', (c) => c.notNull())
    .addColumn('component', 'text', (c) => c.notNull())
    .addColumn('first_seen', 'bigint', (c) => c.notNull())
    .addColumn('last_seen', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('sightings_pk', ['fingerprint_sha256', 'place', 'role'])
    .execute();
  await db.schema.createIndex('sightings_last_seen_idx').on('sightings').column('last_seen').execute();

  await db.schema
    .createTable('auth_failures')
    .addColumn('at', 'bigint', (c) => c.notNull())
    .addColumn('component', 'text', (c) => c.notNull())
    .addColumn('listener', 'text', (c) => c.notNull())
    .addColumn('stage', 'text', (c) => c.notNull())
    .addColumn('reason', 'text', (c) => c.notNull())
    .addColumn('address', 'text')
    .addColumn('identity', 'text')
    .addColumn('serial', 'text')
    .addColumn('fingerprint_sha256', 'text')
    .addColumn('issuer', 'text')
    .execute();
  await db.schema.createIndex('auth_failures_at_idx').on('auth_failures').column('at').execute();

  await db.schema
    .createTable('alerts')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('rule', 'text', (c) => c.notNull())
    .addColumn('key', 'text', (c) => c.notNull())
    .addColumn('at', 'bigint', (c) => c.notNull())
    .addColumn('severity', 'text', (c) => c.notNull())
    .addColumn('message', 'text', (c) => c.notNull())
    .addColumn('details_json', 'text', (c) => c.notNull())
    .addColumn('delivery', 'text', (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('alerts_rule_key_at_idx').on('alerts').columns(['rule', 'key', 'at']).execute();
  await db.schema.createIndex('alerts_at_idx').on('alerts').column('at').execute();
}
