import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { Option, type Command } from 'commander';
import {
  MutualError,
  describePublicKey,
  importPrivateKey,
  exportPrivateKeyPem,
  extractIdentity,
  readDerObjects,
  readFileCapped,
  writeFileAtomic,
  type KeyType,
} from '@mutual/sdk';
import { REVOCATION_REASONS, type RevocationReason } from '@mutual/sdk/contract';
import type { CliContext } from '../context.js';
import { caClientFrom, withClientOptions, type ClientOptions } from '../client-context.js';
import { classifyNames, fileBaseFor } from '../names.js';
import { collect, keyTypeArg } from '../options.js';
import { formatTimeLeft } from '../output/index.js';

interface RequestOptions extends ClientOptions {
  token?: string;
  tokenFile?: string;
  spiffeId?: string[];
  keyType: KeyType;
  lifetime?: string;
  out: string;
  force?: boolean;
}

async function readToken(ctx: CliContext, opts: RequestOptions): Promise<string> {
  if ((opts.token === undefined) === (opts.tokenFile === undefined)) {
    throw new MutualError('ERR_USAGE_INVALID_ARGUMENT', {
      message: 'Give the enrollment token with exactly one of --token and --token-file.',
    });
  }
  if (opts.token !== undefined) return opts.token.trim();
  return (await readFileCapped(path.resolve(ctx.cwd, opts.tokenFile ?? ''), 16 * 1024)).toString('utf8').trim();
}

/** Writes key then certificate; on a failed certificate write the new key is removed again. */
async function writePair(
  keyFile: string,
  certFile: string,
  keyPem: string,
  chainPem: string,
  replace: boolean,
): Promise<void> {
  await writeFileAtomic(keyFile, keyPem, { mode: 0o600, exclusive: !replace });
  try {
    await writeFileAtomic(certFile, chainPem, { exclusive: !replace });
  } catch (err) {
    if (!replace) await fs.unlink(keyFile).catch(() => undefined);
    throw err;
  }
}

export function registerOnlineCertCommands(cert: Command, ctx: CliContext): void {
  withClientOptions(
    cert
      .command('request')
      .description('Get a certificate from the online CA with a one-time token; the key is made here and never leaves')
      .argument('<name...>', 'names the token allows')
      .option('--token <token>', 'one-time enrollment token')
      .option('--token-file <file>', 'file holding the token')
      .option('--spiffe-id <id>', 'SPIFFE ID (URI SAN)', collect)
      .option('--key-type <type>', 'p256, p384, rsa2048, rsa3072, rsa4096, ed25519', keyTypeArg, 'p256')
      .option('--lifetime <duration>', 'requested validity (the CA caps it)')
      .option('--out <dir>', 'output directory', '.')
      .option('--force', 'replace existing files'),
  ).action(async (names: string[], opts: RequestOptions) => {
    const token = await readToken(ctx, opts);
    const requested = classifyNames(names, { uri: opts.spiffeId ?? [] });
    const outDir = path.resolve(ctx.cwd, opts.out);
    const base = fileBaseFor(names[0] ?? 'certificate');
    const certFile = path.join(outDir, `${base}.crt`);
    const keyFile = path.join(outDir, `${base}.key`);
    if (opts.force !== true) {
      for (const f of [certFile, keyFile])
        if (existsSync(f)) throw new MutualError('ERR_FILE_EXISTS', { details: { file: f } });
    }
    const client = await caClientFrom(ctx, opts);
    const { createKeyAndCsr } = await import('../csr.js');
    const { privateKey, csrPem } = await createKeyAndCsr(opts.keyType, requested);
    const res = await client.sign({
      token,
      csr: csrPem,
      ...(opts.lifetime === undefined ? {} : { lifetime: opts.lifetime }),
    });
    await fs.mkdir(outDir, { recursive: true });
    await writePair(keyFile, certFile, exportPrivateKeyPem(privateKey), res.chain.join(''), opts.force === true);
    ctx.stdout(
      `Issued ${res.profile} certificate ${res.serial}, valid until ${res.notAfter} (${formatTimeLeft(new Date(res.notAfter), ctx.now())})\n` +
        `  certificate + chain: ${certFile}\n  private key:         ${keyFile} (mode 0600)\n`,
    );
  });

  withClientOptions(
    cert
      .command('renew')
      .description(
        'Renew a certificate by presenting it over mTLS; a new key replaces the old one (same names and profile)',
      )
      .argument('<certificate>', 'the current certificate (chain) file')
      .option('--lifetime <duration>', 'requested validity (the CA caps it)')
      .option('--key-type <type>', 'type of the new key (default: same as the current key)', keyTypeArg),
  ).action(async (certArg: string, opts: ClientOptions & { lifetime?: string; keyType?: KeyType }) => {
    const certFile = path.resolve(ctx.cwd, certArg);
    const keyFile = opts.key === undefined ? certFile.replace(/\.(crt|pem)$/, '.key') : path.resolve(ctx.cwd, opts.key);
    const [leaf] = readDerObjects(await readFileCapped(certFile), ['CERTIFICATE']);
    if (leaf === undefined) throw new MutualError('ERR_PEM_EMPTY', { details: { file: certFile } });
    const id = extractIdentity(leaf);
    const client = await caClientFrom(ctx, { ...opts, cert: certFile, key: keyFile });
    const keyType: KeyType = opts.keyType ?? (await currentKeyType(keyFile));
    const { createKeyAndCsr } = await import('../csr.js');
    const { privateKey, csrPem } = await createKeyAndCsr(keyType, {
      dns: id.dnsNames,
      ip: id.ipAddresses,
      uri: id.uris,
      email: id.emails,
    });
    const res = await client.renew({
      csr: csrPem,
      ...(opts.lifetime === undefined ? {} : { lifetime: opts.lifetime }),
    });
    await writePair(keyFile, certFile, exportPrivateKeyPem(privateKey), res.chain.join(''), true);
    ctx.stdout(`Renewed: ${res.serial} replaces ${id.serialHex}, valid until ${res.notAfter}; new key in ${keyFile}\n`);
  });

  withClientOptions(
    cert
      .command('revoke')
      .description('Revoke a certificate (as an admin, or as its holder with --cert/--key of that certificate)')
      .argument('<serial|certificate>', 'hex serial, or a certificate file')
      .addOption(
        new Option('--reason <reason>', 'RFC 5280 reason').choices([...REVOCATION_REASONS]).default('unspecified'),
      ),
  ).action(async (target: string, opts: ClientOptions & { reason: string }) => {
    let serial = target.toLowerCase().replace(/:/g, '');
    const file = path.resolve(ctx.cwd, target);
    if (existsSync(file)) {
      const [leaf] = readDerObjects(await readFileCapped(file), ['CERTIFICATE']);
      if (leaf === undefined) throw new MutualError('ERR_PEM_EMPTY', { details: { file } });
      serial = extractIdentity(leaf).serialHex;
    }
    if (!/^[0-9a-f]{1,64}$/.test(serial)) {
      throw new MutualError('ERR_USAGE_INVALID_ARGUMENT', {
        message: 'Expected a hex serial or a certificate file.',
        details: { target },
      });
    }
    const client = await caClientFrom(ctx, opts, true);
    const res = await client.revoke({
      serial: serial.replace(/^0+(?=.)/, ''),
      reason: opts.reason as RevocationReason,
    });
    ctx.stdout(`Revoked ${res.serial} (${res.reason}) at ${res.revokedAt}\n`);
  });
}

async function currentKeyType(keyFile: string): Promise<KeyType> {
  return describePublicKey(importPrivateKey(await readFileCapped(keyFile))).type ?? 'p256';
}
