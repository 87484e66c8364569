/**
 * Loads @mutual/server on demand, so commands that never touch the CA or a database
 * (verify, inspect, help) start without loading SQLite, PostgreSQL and Kysely.
 */
export type ServerModule = typeof import('@mutual/server');
export const loadServer = (): Promise<ServerModule> => import('@mutual/server');
