import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { startPostgres } from './postgres.js';

const query = async (connectionString: string, text: string): Promise<Record<string, unknown>[]> => {
  const client = new pg.Client({ connectionString });
  await client.connect();
  try {
    return (await client.query<Record<string, unknown>>(text)).rows;
  } finally {
    await client.end();
  }
};

/** Resolves with the socket error code once a TCP connect to the port fails (or 'connected'). */
const probe = (port: number): Promise<string> =>
  new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (error: NodeJS.ErrnoException) => {
      resolve(error.code ?? 'error');
    });
  });

describe('startPostgres (throwaway cluster for tests)', () => {
  it('starts a cluster on 127.0.0.1 with an empty database, more databases on demand, and removes everything on stop', async () => {
    const cluster = await startPostgres();
    try {
      const [settings] = await query(
        cluster.connectionString,
        "select current_database() as db, current_setting('listen_addresses') as listen, current_setting('fsync') as fsync, (select count(*) from pg_tables where schemaname = 'public') as tables",
      );
      expect(settings).toEqual({ db: 'mutual', listen: '127.0.0.1', fsync: 'off', tables: '0' });

      const other = await cluster.createDatabase('second_db');
      expect(other).toBe(`postgresql://postgres@127.0.0.1:${cluster.port}/second_db`);
      const [row] = await query(other, 'select current_database() as db');
      expect(row).toEqual({ db: 'second_db' });
    } finally {
      await cluster.stop();
    }
    expect(existsSync(cluster.dir)).toBe(false);
    expect(await probe(cluster.port)).toBe('ECONNREFUSED');
    await cluster.stop(); // idempotent
  });

  it('fails with a message naming what to install when the binaries are missing', async () => {
    await expect(startPostgres({ binDir: '/nonexistent/postgresql/bin' })).rejects.toThrow(
      /initdb, pg_ctl, postgres\) were not found in \/nonexistent\/postgresql\/bin.*apt-get install postgresql/,
    );
  });
});
