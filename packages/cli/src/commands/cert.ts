import { promises as fs } from 'node:fs';
import { userInfo } from 'node:os';
import path from 'node:path';
import { Option, type Command } from 'commander';
import type { LocalCa, Store } from '@mutual/server';
import { loadServer } from '../server.js';
import {
  MutualError,
  exportPrivateKeyPem,
  generateKeyPair,
  readFileCapped,
  writeFileAtomic,
  type KeyType,
} from '@mutual/sdk';
import type { CliContext } from '../context.js';
import { classifyNames, fileBaseFor } from '../names.js';
import { caDir, collect, durationArg, keyTypeArg } from '../options.js';
import { colonHex, formatTimeLeft, json } from '../output/index.js';
import { registerCertExport } from './cert-export.js';
import { registerCertInspect } from './cert-inspect.js';
import { registerCertList } from './cert-list.js';
import { registerOnlineCertCommands } from './cert-online.js';

const profileOption = (): Option =>
  new Option('--profile <profile>', 'certificate profile').choices(['server', 'client', 'both']).makeOptionMandatory();

function requester(): string {
  try {
    return `cli:${userInfo().username}`;
  } catch {
    return 'cli';
  }
}

export async function withLocalCa<T>(
  ctx: CliContext,
  dir: string | undefined,
  fn: (ca: LocalCa) => Promise<T>,
): Promise<T> {
  const { openLocalCa } = await loadServer();
  const ca = await openLocalCa({ dir: caDir(ctx, dir), env: ctx.env, clock: { now: ctx.now } });
  try {
    return await fn(ca);
  } finally {
    await ca.close();
  }
}

/** Opens only the CA's store (no keys needed): for inventory and audit reads. */
export async function withLocalStore<T>(
  ctx: CliContext,
  dir: string | undefined,
  fn: (store: Store) => Promise<T>,
): Promise<T> {
  const { openCaStore } = await loadServer();
  const store = await openCaStore({ dir: caDir(ctx, dir), env: ctx.env });
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

async function refuseExisting(files: readonly string[], force: boolean): Promise<void> {
  if (force) return;
  for (const file of files) {
    const exists = await fs.lstat(file).then(
      () => true,
      () => false,
    );
    if (exists) {
      throw new MutualError('ERR_FILE_EXISTS', { details: { file, hint: 'pass --force to replace it' } });
    }
  }
}

interface IssueOptions {
  profile: string;
  spiffeId?: string[];
  ip?: string[];
  email?: string[];
  lifetime?: number;
  keyType?: KeyType;
  out?: string;
  dir?: string;
  force?: boolean;
  json?: boolean;
}

export function registerCertCommands(program: Command, ctx: CliContext): void {
  const cert = program.command('cert').description('Issue, sign, inspect, export and list certificates');

  cert
    .command('issue')
    .description('Make a key and a certificate signed by the local CA (key, certificate + chain files)')
    .argument('<name...>', 'DNS names, IP addresses, spiffe:// IDs or emails')
    .addOption(profileOption())
    .option('--spiffe-id <id>', 'SPIFFE ID for the URI SAN', collect)
    .option('--ip <address>', 'IP address SAN (repeatable)', collect)
    .option('--email <address>', 'email SAN (repeatable)', collect)
    .option('--lifetime <duration>', 'validity, e.g. 24h, 30d (default from ca.yaml)', durationArg)
    .option('--key-type <type>', 'p256, p384, rsa2048, rsa3072, rsa4096, ed25519 (default from ca.yaml)', keyTypeArg)
    .option('--out <dir>', 'directory for the files (default: current directory)')
    .option('--dir <dir>', 'CA directory (default: $MUTUAL_DIR or ./.mutual)')
    .option('--force', 'replace existing files')
    .option('--json', 'print the result as JSON')
    .action(async (names: string[], opts: IssueOptions) => {
      const requested = classifyNames(names, { uri: opts.spiffeId ?? [], ip: opts.ip ?? [], email: opts.email ?? [] });
      const outDir = path.resolve(ctx.cwd, opts.out ?? '.');
      const base = fileBaseFor(names[0] ?? opts.spiffeId?.[0] ?? 'certificate');
      const certFile = path.join(outDir, `${base}.crt`);
      const keyFile = path.join(outDir, `${base}.key`);
      await refuseExisting([certFile, keyFile], opts.force === true);

      await withLocalCa(ctx, opts.dir, async (ca) => {
        const keyType = opts.keyType ?? ca.loaded.config.defaults.keyType;
        const keys = generateKeyPair(keyType);
        const issued = await ca.issuance.issue({
          profile: opts.profile,
          names: requested,
          publicKey: keys.publicKey,
          ...(opts.lifetime === undefined ? {} : { lifetimeMs: opts.lifetime }),
          requester: requester(),
        });
        await fs.mkdir(outDir, { recursive: true });
        await writeFileAtomic(keyFile, exportPrivateKeyPem(keys.privateKey), {
          mode: 0o600,
          exclusive: opts.force !== true,
        });
        try {
          await writeFileAtomic(certFile, issued.chainPem, { exclusive: opts.force !== true });
        } catch (err) {
          await fs.unlink(keyFile).catch(() => undefined);
          throw err;
        }
        const rootFile = ca.loaded.resolve(ca.loaded.config.root.certificate);
        if (opts.json === true) {
          ctx.stdout(
            json({
              serial: issued.serial,
              profile: issued.profile,
              names: issued.names,
              notBefore: issued.notBefore.toISOString(),
              notAfter: issued.notAfter.toISOString(),
              fingerprintSha256: issued.fingerprintSha256,
              certificateFile: certFile,
              keyFile,
              rootFile,
            }),
          );
          return;
        }
        const shown = [...issued.names.uri, ...issued.names.dns, ...issued.names.ip, ...issued.names.email];
        ctx.stdout(
          [
            `Issued a ${issued.profile} certificate for ${shown.join(', ')}`,
            `  certificate + chain: ${certFile}`,
            `  private key:         ${keyFile} (mode 0600)`,
            `  trust anchor (root): ${rootFile}`,
            `  serial:              ${issued.serial}`,
            `  valid until:         ${issued.notAfter.toISOString()} (${formatTimeLeft(issued.notAfter, ctx.now())})`,
            `  fingerprint:         SHA256 ${colonHex(issued.fingerprintSha256)}`,
            '',
          ].join('\n'),
        );
      });
    });

  cert
    .command('sign')
    .description("Sign a CSR under the CA's name policy (the CSR's extensions are ignored; the profile decides)")
    .argument('<csr>', 'PKCS#10 request, PEM or DER')
    .addOption(profileOption())
    .option('--name <name>', 'add a name to those the CSR requests (repeatable)', collect)
    .option('--lifetime <duration>', 'validity, e.g. 24h (default from ca.yaml)', durationArg)
    .option('--out <file>', 'write the certificate + chain here instead of stdout')
    .option('--dir <dir>', 'CA directory')
    .option('--force', 'replace an existing output file')
    .action(
      async (
        csrFile: string,
        opts: { profile: string; name?: string[]; lifetime?: number; out?: string; dir?: string; force?: boolean },
      ) => {
        const { parseCsr } = await loadServer();
        const csr = parseCsr(await readFileCapped(path.resolve(ctx.cwd, csrFile), 64 * 1024));
        const extra = classifyNames(opts.name ?? []);
        const names = {
          dns: [...csr.requestedNames.dns, ...extra.dns],
          ip: [...csr.requestedNames.ip, ...extra.ip],
          uri: [...csr.requestedNames.uri, ...extra.uri],
          email: [...csr.requestedNames.email, ...extra.email],
        };
        const out = opts.out === undefined ? undefined : path.resolve(ctx.cwd, opts.out);
        if (out !== undefined) await refuseExisting([out], opts.force === true);
        await withLocalCa(ctx, opts.dir, async (ca) => {
          const issued = await ca.issuance.issue({
            profile: opts.profile,
            names,
            publicKey: csr.publicKey,
            ...(opts.lifetime === undefined ? {} : { lifetimeMs: opts.lifetime }),
            requester: requester(),
          });
          if (out === undefined) {
            ctx.stdout(issued.chainPem);
          } else {
            await writeFileAtomic(out, issued.chainPem, { exclusive: opts.force !== true });
            ctx.stderr(`Signed ${issued.serial}, valid until ${issued.notAfter.toISOString()}: ${out}\n`);
          }
        });
      },
    );

  registerCertInspect(cert, ctx);
  registerCertExport(cert, ctx);
  registerCertList(cert, ctx);
  registerOnlineCertCommands(cert, ctx);
}
