import path from 'node:path';
import { MutualError, readFileCapped } from '@mutual/sdk';
import type { SecretRef } from '../config/index.js';

/**
 * Resolves a secret reference ({ file } or { env }) to its value. The environment is passed in
 * (only composition roots read process.env). A file's trailing newline is dropped.
 */
export async function resolveSecret(
  ref: SecretRef,
  ctx: { readonly env: Readonly<Record<string, string | undefined>>; readonly baseDir: string },
): Promise<string> {
  if ('env' in ref) {
    const value = ctx.env[ref.env];
    if (value === undefined || value === '') {
      throw new MutualError('ERR_CA_PASSPHRASE_MISSING', { details: { env: ref.env } });
    }
    return value;
  }
  const file = path.resolve(ctx.baseDir, ref.file);
  let text: string;
  try {
    text = (await readFileCapped(file, 64 * 1024)).toString('utf8');
  } catch (err) {
    throw new MutualError('ERR_CA_PASSPHRASE_MISSING', { details: { file }, cause: err });
  }
  const value = text.replace(/\r?\n$/, '');
  if (value === '')
    throw new MutualError('ERR_CA_PASSPHRASE_MISSING', { message: 'The passphrase file is empty.', details: { file } });
  return value;
}
