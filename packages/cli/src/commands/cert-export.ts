import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { Command } from 'commander';
import {
  MutualError,
  exportPkcs12,
  importPrivateKey,
  publicKeyMatches,
  readDerObjects,
  readFileCapped,
  writeFileAtomic,
} from '@mutual/sdk';
import type { CliContext } from '../context.js';

interface ExportOptions {
  p12?: boolean;
  in?: string;
  out?: string;
  passphraseFile?: string;
  passphraseEnv?: string;
  force?: boolean;
}

async function bundlePassphrase(ctx: CliContext, opts: ExportOptions): Promise<{ value: string; generated: boolean }> {
  if (opts.passphraseFile !== undefined && opts.passphraseEnv !== undefined) {
    throw new MutualError('ERR_USAGE_INVALID_ARGUMENT', {
      message: 'Choose one of --passphrase-file and --passphrase-env.',
    });
  }
  if (opts.passphraseEnv !== undefined) {
    const v = ctx.env[opts.passphraseEnv];
    if (v === undefined || v === '')
      throw new MutualError('ERR_CLI_PASSPHRASE_REQUIRED', { details: { env: opts.passphraseEnv } });
    return { value: v, generated: false };
  }
  if (opts.passphraseFile !== undefined) {
    const file = path.resolve(ctx.cwd, opts.passphraseFile);
    const v = (await readFileCapped(file, 64 * 1024)).toString('utf8').replace(/\r?\n$/, '');
    if (v === '') throw new MutualError('ERR_CLI_PASSPHRASE_REQUIRED', { details: { file } });
    return { value: v, generated: false };
  }
  return { value: randomBytes(12).toString('base64url'), generated: true };
}

export function registerCertExport(cert: Command, ctx: CliContext): void {
  cert
    .command('export')
    .description('Bundle a certificate, its chain and its key as PKCS#12 (for browsers and OS key stores)')
    .argument('<name>', 'base name of the files from `cert issue` (NAME.crt, NAME.key), or a path to NAME.crt')
    .option('--p12', 'write a PKCS#12 bundle (the only format for now)')
    .option('--in <dir>', 'directory holding NAME.crt and NAME.key (default: current directory)')
    .option('--out <file>', 'output file (default: NAME.p12 beside the certificate)')
    .option('--passphrase-file <file>', 'protect the bundle with the passphrase in this file')
    .option('--passphrase-env <var>', 'protect the bundle with the passphrase in this environment variable')
    .option('--force', 'replace an existing output file')
    .action(async (name: string, opts: ExportOptions) => {
      if (opts.p12 !== true) {
        throw new MutualError('ERR_USAGE_INVALID_ARGUMENT', { message: 'Choose the bundle format: --p12.' });
      }
      const dir = path.resolve(ctx.cwd, opts.in ?? '.');
      const certFile = name.endsWith('.crt') ? path.resolve(ctx.cwd, name) : path.join(dir, `${name}.crt`);
      const base = certFile.replace(/\.crt$/, '');
      const keyFile = `${base}.key`;
      const out = path.resolve(ctx.cwd, opts.out ?? `${base}.p12`);
      const [leaf, ...chain] = readDerObjects(await readFileCapped(certFile, 1024 * 1024), ['CERTIFICATE']);
      if (leaf === undefined) throw new MutualError('ERR_PEM_EMPTY', { details: { file: certFile } });
      const privateKey = importPrivateKey(await readFileCapped(keyFile, 1024 * 1024));
      if (!publicKeyMatches(privateKey, leaf)) {
        throw new MutualError('ERR_KEY_MISMATCH', { details: { certificate: certFile, key: keyFile } });
      }
      const passphrase = await bundlePassphrase(ctx, opts);
      const p12 = exportPkcs12({
        privateKey,
        certificate: leaf,
        chain,
        passphrase: passphrase.value,
        friendlyName: path.basename(base),
      });
      await writeFileAtomic(out, p12, { mode: 0o600, exclusive: opts.force !== true });
      ctx.stdout(`Wrote ${out} (PKCS#12: key, certificate and ${chain.length} chain certificate(s), mode 0600)\n`);
      if (passphrase.generated) ctx.stdout(`Bundle passphrase: ${passphrase.value}\n`);
    });
}
