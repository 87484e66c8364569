import path from 'node:path';
import { readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import type { Command } from 'commander';
import { MutualError } from '@mutual/sdk';
import type { HsmCheckResult, HsmKeyToCheck } from '@mutual/server';
import { loadServer } from '../server.js';
import type { CliContext } from '../context.js';
import { caDir, collect } from '../options.js';
import { json } from '../output/index.js';

interface CheckOptions {
  dir?: string;
  module?: string;
  token?: string;
  pinFile?: string;
  pinEnv?: string;
  key?: string[];
  certificate?: string[];
  json?: boolean;
}

const MARK: Record<HsmCheckResult['steps'][number]['outcome'], string> = {
  ok: 'ok  ',
  failed: 'FAIL',
  skipped: '--  ',
};

/** The report of `mutual ca hsm check`, a line per step and the hint under a failed one. */
export function renderHsmCheck(result: HsmCheckResult): string {
  const lines = [`PKCS#11 check of ${result.module}`];
  for (const s of result.steps) {
    lines.push(`  ${MARK[s.outcome]}  ${s.step.padEnd(9)} ${s.detail}${s.code === undefined ? '' : ` [${s.code}]`}`);
    if (s.hint !== undefined) lines.push(`${' '.repeat(18)}→ ${s.hint}`);
  }
  lines.push(
    '',
    result.ok
      ? result.steps.some((s) => s.step === 'signature' && s.outcome === 'ok')
        ? 'Ready: the CA can sign with these keys.'
        : 'No failure so far; name keys (--key) to check them too.'
      : 'Not ready: fix the first failed step and run this again.',
    '',
  );
  return lines.join('\n');
}

export function registerCaHsmCommands(ca: Command, ctx: CliContext): void {
  const hsm = ca.command('hsm').description('CA keys on a PKCS#11 token (an HSM, or SoftHSM)');
  hsm
    .command('check')
    .description(
      'Check step by step that the CA can use keys on a PKCS#11 token — module, token, PIN, each key and a test signature — and say what to fix',
    )
    .option('--dir <dir>', "check the module, PIN and keys a CA directory's ca.yaml names (the default)")
    .option('--module <path>', 'check this PKCS#11 library instead (before `ca init --pkcs11-module`)')
    .option('--token <label>', 'the token to use (default: the only one, or the one the keys name)')
    .option('--pin-file <file>', "the token's user PIN is in this file")
    .option('--pin-env <var>', "the token's user PIN is in this environment variable")
    .option('--key <uri>', 'a pkcs11: URI of a key to check (repeatable)', collect)
    .option('--certificate <file>', 'the certificate of the --key at the same position (repeatable)', collect)
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      '\nExit status 0 when every step passed, 1 when one failed. The PIN never appears in the output.',
    )
    .action(async (opts: CheckOptions) => {
      const server = await loadServer();
      let result: HsmCheckResult | null;
      if (opts.module === undefined) {
        if (opts.key !== undefined || opts.pinFile !== undefined || opts.pinEnv !== undefined) {
          throw new MutualError('ERR_USAGE_INVALID_ARGUMENT', {
            message:
              '--key, --pin-file and --pin-env go with --module; without it the CA directory says what to check.',
          });
        }
        result = await server.checkCaHsm({ dir: caDir(ctx, opts.dir), env: ctx.env });
        if (result === null) {
          throw new MutualError('ERR_USAGE_INVALID_ARGUMENT', {
            message: 'This CA keeps its keys in files (ca.yaml has no keys.pkcs11); give --module to check a token.',
          });
        }
      } else {
        if (opts.pinFile !== undefined && opts.pinEnv !== undefined) {
          throw new MutualError('ERR_USAGE_INVALID_ARGUMENT', { message: 'Give one of --pin-file and --pin-env.' });
        }
        const certificates = opts.certificate ?? [];
        if (certificates.length > (opts.key ?? []).length) {
          throw new MutualError('ERR_USAGE_INVALID_ARGUMENT', { message: 'Each --certificate goes with a --key.' });
        }
        const keys: HsmKeyToCheck[] = (opts.key ?? []).map((uri, i) => {
          const file = certificates[i];
          if (file === undefined) return { name: `key ${String(i + 1)}`, uri };
          const resolved = path.resolve(ctx.cwd, file);
          return {
            name: `key ${String(i + 1)}`,
            uri,
            certificate: { file: resolved, publicKey: new X509Certificate(readFileSync(resolved)).publicKey },
          };
        });
        const pinRef =
          opts.pinFile !== undefined
            ? { file: path.resolve(ctx.cwd, opts.pinFile) }
            : opts.pinEnv !== undefined
              ? { env: opts.pinEnv }
              : null;
        const pin = pinRef === null ? null : await server.resolveSecret(pinRef, { env: ctx.env, baseDir: ctx.cwd });
        result = server.checkHsm({
          module: path.resolve(ctx.cwd, opts.module),
          ...(opts.token === undefined ? {} : { token: opts.token }),
          pin,
          ...(pinRef === null
            ? {}
            : { pinSource: 'file' in pinRef ? `--pin-file ${pinRef.file}` : `--pin-env ${pinRef.env}` }),
          keys,
        });
      }
      ctx.stdout(opts.json === true ? json(result) : renderHsmCheck(result));
      if (!result.ok) ctx.exitCode = 1;
    });
}
