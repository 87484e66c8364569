import { existsSync } from 'node:fs';
import path from 'node:path';
import { MutualError } from '@mutual/sdk';
import { loadCaConfig } from '../config/index.js';
import { resolveSecret } from '../keys/index.js';
import { openPostgresStore, openSqliteStore, type Store } from '../store/index.js';
import { CA_FILES } from './ca-files.js';

/**
 * Opens only the CA's store, as ca.yaml configures it — no CA keys are decrypted, so inventory
 * and audit reads need no passphrase.
 */
export async function openCaStore(options: {
  dir: string;
  env: Readonly<Record<string, string | undefined>>;
}): Promise<Store> {
  const configFile = path.join(path.resolve(options.dir), CA_FILES.config);
  if (!existsSync(configFile))
    throw new MutualError('ERR_CA_NOT_INITIALIZED', { details: { dir: path.resolve(options.dir) } });
  const loaded = loadCaConfig(configFile);
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
