import { existsSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { MutualError } from '@mutual/sdk';
import { isMap, parseDocument } from 'yaml';
import { loadCaConfig } from '../config/index.js';
import { resolveSecret } from '../keys/index.js';
import {
  moveSqliteStoreToPostgres,
  openPostgresStore,
  openSqliteStore,
  type MoveReport,
  type Store,
} from '../store/index.js';
import { CA_FILES } from './ca-files.js';

/** The CA directory's ca.yaml, loaded and validated; ERR_CA_NOT_INITIALIZED when there is none. */
export function loadCaDir(dir: string): { configFile: string; loaded: ReturnType<typeof loadCaConfig> } {
  const configFile = path.join(path.resolve(dir), CA_FILES.config);
  if (!existsSync(configFile)) throw new MutualError('ERR_CA_NOT_INITIALIZED', { details: { dir: path.resolve(dir) } });
  return { configFile, loaded: loadCaConfig(configFile) };
}

/**
 * Opens only the CA's store, as ca.yaml configures it — no CA keys are decrypted, so inventory
 * and audit reads need no passphrase.
 */
export async function openCaStore(options: {
  dir: string;
  env: Readonly<Record<string, string | undefined>>;
}): Promise<Store> {
  const { loaded } = loadCaDir(options.dir);
  const { store } = loaded.config;
  return 'sqlite' in store
    ? openSqliteStore({ file: loaded.resolve(store.sqlite.file) })
    : openPostgresStore({
        connectionString: await resolveSecret(store.postgres.connectionString, {
          env: options.env,
          baseDir: loaded.baseDir,
        }),
      });
}

export interface MovedCaStore extends MoveReport {
  /** Where the SQLite file was left, renamed so that nothing opens it as the CA's store by mistake. */
  readonly leftAt: string;
}

/**
 * Moves a CA directory's SQLite store into the empty PostgreSQL database named by `postgresEnv`
 * (store/move.ts), then points ca.yaml at that variable — never the connection string itself —
 * and renames the SQLite file to `<file>.moved-<time>`. ca.yaml is rewritten atomically and
 * checked before it replaces the old one. The CA must be stopped while it runs.
 */
export async function moveCaStoreToPostgres(options: {
  dir: string;
  postgresEnv: string;
  env: Readonly<Record<string, string | undefined>>;
  actor: string;
  now: Date;
}): Promise<MovedCaStore> {
  const { configFile, loaded } = loadCaDir(options.dir);
  const { store } = loaded.config;
  if (!('sqlite' in store)) {
    throw new MutualError('ERR_USAGE_INVALID_ARGUMENT', {
      message: 'This CA already keeps its store in PostgreSQL (ca.yaml: store.postgres); nothing to move.',
    });
  }
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(options.postgresEnv)) {
    throw new MutualError('ERR_USAGE_INVALID_ARGUMENT', {
      message: `--postgres-env takes the name of an environment variable, not "${options.postgresEnv.slice(0, 40)}".`,
    });
  }
  const connectionString = options.env[options.postgresEnv];
  if (connectionString === undefined || connectionString === '') {
    throw new MutualError('ERR_USAGE_INVALID_ARGUMENT', {
      message: `The environment variable ${options.postgresEnv} is not set; it must hold the PostgreSQL connection string.`,
    });
  }
  const sqliteFile = loaded.resolve(store.sqlite.file);
  if (!existsSync(sqliteFile)) {
    throw new MutualError('ERR_STORE_UNAVAILABLE', { message: `${sqliteFile} does not exist; nothing to move.` });
  }

  // The new ca.yaml, checked before anything moves.
  const doc = parseDocument(readFileSync(configFile, 'utf8'));
  const target = doc.createNode({ postgres: { connectionString: { env: options.postgresEnv } } });
  if (isMap(target)) {
    const inner = target.get('postgres', true);
    if (isMap(inner)) inner.flow = true;
  }
  doc.set('store', target);
  const text = doc.toString();
  const staged = `${configFile}.moving-${process.pid}`;
  writeFileSync(staged, text, { mode: statSync(configFile).mode & 0o777, flag: 'wx' });
  try {
    const check = loadCaConfig(staged).config.store;
    if (!('postgres' in check) || !('env' in check.postgres.connectionString)) {
      throw new Error('the rewritten ca.yaml does not name the PostgreSQL variable');
    }
    const report = await moveSqliteStoreToPostgres({
      sqliteFile,
      connectionString,
      actor: options.actor,
      now: options.now,
    });
    renameSync(staged, configFile);
    const leftAt = `${sqliteFile}.moved-${options.now.toISOString().replace(/[:.]/g, '-')}`;
    renameSync(sqliteFile, leftAt);
    for (const side of ['-wal', '-shm']) {
      if (existsSync(`${sqliteFile}${side}`)) renameSync(`${sqliteFile}${side}`, `${leftAt}${side}`);
    }
    return { ...report, leftAt };
  } finally {
    rmSync(staged, { force: true });
  }
}
