// A throwaway PostgreSQL cluster for tests, started from the system's binaries: initdb in a temp
// directory, trust authentication on 127.0.0.1 and a socket inside that directory only, a random
// port, no fsync. Never skipped: missing binaries are a failure that says what to install.
import { execFile, execFileSync } from 'node:child_process';
import { accessSync, constants, existsSync, readdirSync } from 'node:fs';
import { chown, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import pg from 'pg';

export interface TestPostgres {
  /** `postgresql://postgres@127.0.0.1:<port>/mutual` — an empty database created for the caller. */
  readonly connectionString: string;
  readonly port: number;
  /** The temp directory holding the cluster, its socket and its log; removed by stop(). */
  readonly dir: string;
  /** Creates another empty database in this cluster and returns its connection string. */
  createDatabase(name?: string): Promise<string>;
  /** Stops the server (immediate mode: nothing here needs to survive) and removes the directory. Idempotent. */
  stop(): Promise<void>;
}

export interface StartPostgresOptions {
  /** Directory holding initdb and pg_ctl. Default: MUTUAL_PG_BIN, the newest /usr/lib/postgresql/<v>/bin, PATH. */
  readonly binDir?: string;
  /**
   * Keep PostgreSQL's durability settings (fsync, synchronous_commit, full_page_writes on), as a
   * benchmark of durable writes needs. Default off: tests do not need a throwaway cluster to survive
   * a power cut, and run faster without.
   */
  readonly durable?: boolean;
}

const NEEDED = ['initdb', 'pg_ctl', 'postgres'] as const;

const isExecutable = (file: string): boolean => {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
};

function candidateBinDirs(): string[] {
  const dirs: string[] = [];
  const fromEnv = process.env['MUTUAL_PG_BIN'];
  if (fromEnv !== undefined && fromEnv !== '') dirs.push(fromEnv);
  const root = '/usr/lib/postgresql';
  if (existsSync(root)) {
    const versions = readdirSync(root)
      .filter((v) => /^\d+(\.\d+)?$/.test(v))
      .sort((a, b) => Number(b) - Number(a));
    dirs.push(...versions.map((v) => join(root, v, 'bin')));
  }
  dirs.push(...(process.env['PATH'] ?? '').split(delimiter).filter((d) => d !== ''));
  return dirs;
}

function findBinDir(explicit: string | undefined): string {
  const dirs = explicit === undefined ? candidateBinDirs() : [explicit];
  const found = dirs.find((d) => NEEDED.every((b) => isExecutable(join(d, b))));
  if (found === undefined) {
    throw new Error(
      `PostgreSQL server binaries (${NEEDED.join(', ')}) were not found in ${dirs.join(', ') || '(nowhere)'}. ` +
        'The PostgreSQL tests need them: install the server (Debian/Ubuntu: apt-get install postgresql) ' +
        'or set MUTUAL_PG_BIN to the directory holding initdb and pg_ctl.',
    );
  }
  return found;
}

interface RunAs {
  readonly uid: number;
  readonly gid: number;
  readonly prefix: readonly string[];
}

/** initdb refuses to run as root: as root, run the cluster as the `postgres` user. */
function runAs(): RunAs | undefined {
  if (process.getuid?.() !== 0) return undefined;
  let uid: number;
  let gid: number;
  try {
    uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
  } catch (error) {
    throw new Error('Running as root, the PostgreSQL tests need a `postgres` user to run the cluster as.', {
      cause: error,
    });
  }
  return { uid, gid, prefix: ['runuser', '-u', 'postgres', '--'] };
}

function run(as: RunAs | undefined, file: string, args: readonly string[]): Promise<string> {
  const [cmd, ...rest] = as === undefined ? [file, ...args] : [...as.prefix, file, ...args];
  return new Promise((resolve, reject) => {
    execFile(cmd!, rest, { env: { ...process.env, LC_ALL: 'C' }, timeout: 60_000 }, (error, stdout, stderr) => {
      if (error === null) resolve(stdout);
      else reject(new Error(`${file} ${args.join(' ')} failed: ${error.message}\n${stdout}\n${stderr}`));
    });
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (address !== null && typeof address === 'object') resolve(address.port);
        else reject(new Error('no port'));
      });
    });
  });
}

let counter = 0;

export async function startPostgres(opts: StartPostgresOptions = {}): Promise<TestPostgres> {
  const bin = findBinDir(opts.binDir);
  const as = runAs();
  const dir = await mkdtemp(join(tmpdir(), 'mutual-pg-'));
  const data = join(dir, 'data');
  const sock = join(dir, 'sock');
  const log = join(dir, 'postgres.log');
  const pgCtl = join(bin, 'pg_ctl');
  let started = false;
  const stopSync = (): void => {
    try {
      const [cmd, ...rest] = [...(as?.prefix ?? []), pgCtl, '-D', data, '-m', 'immediate', '-w', 'stop'];
      execFileSync(cmd, rest, { stdio: 'ignore' });
    } catch {
      // already stopped
    }
  };
  try {
    await mkdir(sock);
    if (as !== undefined) {
      await chown(dir, as.uid, as.gid);
      await chown(sock, as.uid, as.gid);
    }
    await run(as, join(bin, 'initdb'), [
      '-D',
      data,
      '-U',
      'postgres',
      '-A',
      'trust',
      '-E',
      'UTF8',
      '--locale=C',
      '--no-sync',
      '--no-instructions',
    ]);
    // Trust only the socket inside our directory and 127.0.0.1; nothing else may connect.
    const hba = join(data, 'pg_hba.conf');
    await writeFile(hba, 'local all all trust\nhost all all 127.0.0.1/32 trust\n', { mode: 0o600 });
    if (as !== undefined) await chown(hba, as.uid, as.gid);

    let port = 0;
    for (let attempt = 1; !started; attempt++) {
      port = await freePort();
      const options = [
        '-c listen_addresses=127.0.0.1',
        `-p ${port}`,
        `-k ${sock}`,
        ...(opts.durable === true ? [] : ['-c fsync=off', '-c synchronous_commit=off', '-c full_page_writes=off']),
        '-c max_connections=300',
      ].join(' ');
      try {
        await run(as, pgCtl, ['-D', data, '-l', log, '-w', '-t', '30', '-o', options, 'start']);
        started = true;
      } catch (error) {
        const text = await readFile(log, 'utf8').catch(() => '');
        // Another process may take the free port between our probe and the bind: try another one.
        if (attempt < 5 && /could not bind|already in use/i.test(text)) continue;
        throw new Error(`${(error as Error).message}\n--- postgres.log ---\n${text.slice(-4000)}`);
      }
    }
    process.once('exit', stopSync);

    const url = (database: string): string => `postgresql://postgres@127.0.0.1:${port}/${database}`;
    const createDatabase = async (name = `mutual_${process.pid}_${++counter}`): Promise<string> => {
      if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) throw new Error(`invalid database name ${name}`);
      const client = new pg.Client({ connectionString: url('postgres') });
      await client.connect();
      try {
        await client.query(`create database "${name}"`);
      } finally {
        await client.end();
      }
      return url(name);
    };
    const connectionString = await createDatabase('mutual');

    let stopping: Promise<void> | undefined;
    return {
      connectionString,
      port,
      dir,
      createDatabase,
      stop: () => {
        stopping ??= (async () => {
          process.removeListener('exit', stopSync);
          await run(as, pgCtl, ['-D', data, '-m', 'immediate', '-w', 'stop']);
          await rm(dir, { recursive: true, force: true });
        })();
        return stopping;
      },
    };
  } catch (error) {
    if (started) {
      process.removeListener('exit', stopSync);
      stopSync();
    }
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}
