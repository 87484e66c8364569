import { existsSync, promises as fs } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { CaClient, MutualError, readFileCapped, writeFileAtomic } from '@mutual/sdk';
import type { CliContext } from './context.js';

/**
 * The saved CA context of the client commands: which CA to talk to, its pinned root, and
 * optionally the client certificate used for admin calls. Written by `mutual ca bootstrap` into
 * `--context-dir`, else $MUTUAL_CONTEXT_DIR, else ~/.config/mutual.
 */
const contextSchema = z.strictObject({
  caUrl: z.url(),
  fingerprint: z.string().regex(/^[0-9a-f]{64}$/),
  root: z.string(),
  cert: z.string().optional(),
  key: z.string().optional(),
});
export type SavedContext = z.infer<typeof contextSchema>;

export function contextDir(ctx: CliContext, dir?: string): string {
  return path.resolve(
    ctx.cwd,
    dir ?? ctx.env['MUTUAL_CONTEXT_DIR'] ?? path.join(ctx.env['HOME'] ?? homedir(), '.config', 'mutual'),
  );
}

export async function saveContext(
  ctx: CliContext,
  dir: string | undefined,
  value: SavedContext,
  rootPem: string,
): Promise<string> {
  const d = contextDir(ctx, dir);
  await fs.mkdir(d, { recursive: true, mode: 0o700 });
  await writeFileAtomic(path.join(d, 'root.crt'), rootPem);
  await writeFileAtomic(
    path.join(d, 'context.json'),
    JSON.stringify({ ...value, root: path.join(d, 'root.crt') }, null, 2) + '\n',
    {
      mode: 0o600,
    },
  );
  return d;
}

export interface ClientOptions {
  caUrl?: string;
  root?: string;
  cert?: string;
  key?: string;
  contextDir?: string;
}

/** Builds a CA client from flags, falling back to the saved context for anything not given. */
export async function caClientFrom(ctx: CliContext, opts: ClientOptions, needsIdentity = false): Promise<CaClient> {
  const file = path.join(contextDir(ctx, opts.contextDir), 'context.json');
  let saved: SavedContext | undefined;
  if (existsSync(file)) {
    const parsed = contextSchema.safeParse(JSON.parse((await readFileCapped(file, 64 * 1024)).toString('utf8')));
    if (!parsed.success)
      throw new MutualError('ERR_CONFIG_INVALID', {
        message: `The saved context in ${file} is invalid.`,
        details: { file },
      });
    saved = parsed.data;
  }
  const url = opts.caUrl ?? saved?.caUrl;
  const root = opts.root === undefined ? saved?.root : path.resolve(ctx.cwd, opts.root);
  if (url === undefined || root === undefined) throw new MutualError('ERR_CLI_NO_CONTEXT');
  const cert = opts.cert === undefined ? saved?.cert : path.resolve(ctx.cwd, opts.cert);
  const key = opts.key === undefined ? saved?.key : path.resolve(ctx.cwd, opts.key);
  if (needsIdentity && (cert === undefined || key === undefined)) {
    throw new MutualError('ERR_USAGE_INVALID_ARGUMENT', {
      message:
        'This call authenticates with a client certificate: pass --cert and --key (or save them with `mutual ca bootstrap`).',
    });
  }
  return new CaClient({
    url,
    ca: await readFileCapped(root),
    ...(cert === undefined ? {} : { cert: await readFileCapped(cert) }),
    ...(key === undefined ? {} : { key: await readFileCapped(key) }),
  });
}

/** Adds --ca-url, --root, --cert, --key and --context-dir to a command. */
export function withClientOptions<T extends import('commander').Command>(cmd: T): T {
  return cmd
    .option('--ca-url <url>', 'CA URL (default: the saved context)')
    .option('--root <file>', "CA root certificate to trust (default: the saved context's)")
    .option('--cert <file>', 'client certificate (chain) for calls that authenticate by mTLS')
    .option('--key <file>', 'private key of --cert')
    .option(
      '--context-dir <dir>',
      'where `ca bootstrap` saved the context (default: $MUTUAL_CONTEXT_DIR or ~/.config/mutual)',
    );
}
