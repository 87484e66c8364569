import { lstat, mkdir, readlink, rename, symlink, unlink } from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '@mutual/sdk';

/**
 * Publishes a managed certificate as an identity for the client tools: `<dir>/<name>/cert.pem` and
 * `key.pem` are symlinks to the certificate and key the agent keeps fresh (so they always resolve to
 * the current pair), `ca.pem` is the CA's root. `mutual curl --identity NAME` and `mutual doctor
 * --identity NAME` read them. Each link is replaced atomically (a temporary link renamed over it).
 */
export async function publishIdentity(
  dir: string,
  name: string,
  files: { readonly cert: string; readonly key: string },
  rootPem: string | Uint8Array,
): Promise<void> {
  const home = path.join(dir, name);
  await mkdir(home, { recursive: true, mode: 0o700 });
  await link(path.join(home, 'cert.pem'), path.resolve(files.cert));
  await link(path.join(home, 'key.pem'), path.resolve(files.key));
  await writeFileAtomic(path.join(home, 'ca.pem'), rootPem, { mode: 0o644 });
}

async function link(at: string, target: string): Promise<void> {
  try {
    if ((await lstat(at)).isSymbolicLink() && (await readlink(at)) === target) return;
  } catch {
    // absent: created below
  }
  const tmp = `${at}.tmp-${process.pid}`;
  await unlink(tmp).catch(() => undefined);
  await symlink(target, tmp);
  await rename(tmp, at);
}
