import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { readAll, type CliContext } from '../context.js';

interface VerifyFlags {
  limboCase?: string;
  ca?: string[];
  crl?: string[];
  at?: string;
  purpose: string;
  name?: string[];
  spiffeId?: string;
  pin?: string[];
  json?: boolean;
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----/g;

function pemBlocks(text: string, label: string): string[] {
  return [...text.matchAll(PEM_BLOCK)].filter((m) => m[1] === label).map((m) => m[0]);
}

function usage(ctx: CliContext, message: string): void {
  ctx.stderr(`error[ERR_USAGE_INVALID_ARGUMENT]: ${message}\n`);
  ctx.exitCode = 2;
}

/**
 * `mutual verify`: mutual's own path validator from the command line.
 *  - `mutual verify --limbo-case <file|->` runs one x509-limbo test case (conformance harness).
 *  - `mutual verify <chain.pem> --ca <roots.pem> [--crl f] [--at t] [--purpose p] [--name n|--spiffe-id id]`
 *    prints the verdict and every reason in words; exit 0 accepted, 1 refused, 2 usage.
 * The verifier is imported lazily so the harness's process-per-case cost stays small.
 */
export function registerVerifyCommand(program: Command, ctx: CliContext): void {
  program
    .command('verify')
    .description("verify a certificate chain with mutual's own RFC 5280 / mTLS / SPIFFE path validator")
    .argument('[chain]', 'PEM file with the leaf first, then any intermediates')
    .option(
      '--limbo-case <file>',
      'run one x509-limbo test case (JSON, "-" for stdin); prints ACCEPT, REJECT or SKIP and the reason',
    )
    .option('--ca <file...>', 'trust anchors (PEM)')
    .option('--crl <file...>', 'CRLs to check revocation against (PEM)')
    .option('--at <time>', 'validation time (ISO 8601); default now')
    .option('--purpose <purpose>', 'client or server', 'client')
    .option('--name <name...>', 'expected DNS name, IP address or email (any one must match)')
    .option('--spiffe-id <id>', 'expected SPIFFE ID')
    .option('--pin <pin...>', 'SPKI pin sha256/<base64> that the validated path must contain')
    .option('--json', 'print the result as JSON')
    .action(async (chain: string | undefined, flags: VerifyFlags) => {
      if (flags.limboCase !== undefined) {
        await runLimbo(ctx, flags.limboCase);
        return;
      }
      await runChain(ctx, chain, flags);
    });
}

async function readInput(ctx: CliContext, file: string): Promise<string> {
  if (file === '-') return (await readAll(ctx.stdin)).toString('utf8');
  return readFile(path.resolve(ctx.cwd, file), 'utf8');
}

async function runLimbo(ctx: CliContext, file: string): Promise<void> {
  const { runLimboCase } = await import('@mutual/sdk/verify');
  let testcase: unknown;
  try {
    testcase = JSON.parse(await readInput(ctx, file)) as unknown;
  } catch (err) {
    ctx.stdout(`SKIP input is not a JSON test case: ${err instanceof Error ? err.message : String(err)}\n`);
    return;
  }
  const out = runLimboCase(testcase, ctx.now());
  ctx.stdout(`${out.verdict} ${out.reason.replace(/\n/g, ' ')}\n`);
}

async function runChain(ctx: CliContext, chain: string | undefined, flags: VerifyFlags): Promise<void> {
  if (chain === undefined) {
    usage(ctx, 'give a chain file (or --limbo-case); see mutual verify --help');
    return;
  }
  if (!flags.ca || flags.ca.length === 0) {
    usage(ctx, '--ca is required: the trust anchors to verify against');
    return;
  }
  if (flags.purpose !== 'client' && flags.purpose !== 'server') {
    usage(ctx, '--purpose must be client or server');
    return;
  }
  if (flags.name && flags.spiffeId !== undefined) {
    usage(ctx, 'give --name or --spiffe-id, not both');
    return;
  }
  const at = flags.at !== undefined ? new Date(flags.at) : ctx.now();
  if (Number.isNaN(at.getTime())) {
    usage(ctx, `--at "${flags.at ?? ''}" is not a date`);
    return;
  }

  let chainPems: string[];
  const anchors: string[] = [];
  const crls: string[] = [];
  try {
    chainPems = pemBlocks(await readInput(ctx, chain), 'CERTIFICATE');
    for (const f of flags.ca) anchors.push(...pemBlocks(await readInput(ctx, f), 'CERTIFICATE'));
    for (const f of flags.crl ?? []) {
      const text = await readInput(ctx, f);
      crls.push(...pemBlocks(text, 'X509 CRL'), ...pemBlocks(text, 'CRL'));
    }
  } catch (err) {
    ctx.stderr(`error[ERR_FILE_READ]: ${err instanceof Error ? err.message : String(err)}\n`);
    ctx.exitCode = 2;
    return;
  }
  const [leaf, ...intermediates] = chainPems;
  if (leaf === undefined) {
    usage(ctx, `${chain} holds no CERTIFICATE block`);
    return;
  }
  if (anchors.length === 0) {
    usage(ctx, '--ca files hold no CERTIFICATE block');
    return;
  }

  const { createVerifier, describeReason } = await import('@mutual/sdk/verify');
  const verifier = createVerifier({ anchors, crls });
  const result = verifier.verify({
    leaf,
    intermediates,
    at,
    purpose: flags.purpose,
    ...(flags.name ? { expectedNames: flags.name } : {}),
    ...(flags.spiffeId !== undefined ? { expectedSpiffeId: flags.spiffeId } : {}),
    ...(flags.pin ? { pins: flags.pin } : {}),
  });
  ctx.exitCode = result.ok ? 0 : 1;
  if (flags.json) {
    ctx.stdout(`${JSON.stringify(result, null, 2)}\n`);
    return;
  }
  if (result.ok) {
    const id = result.identity;
    ctx.stdout(`ACCEPT ${id?.type ?? 'none'}${id?.value !== undefined ? ` ${id.value}` : ''}\n`);
    for (const p of result.path) {
      ctx.stdout(
        `  ${p.index}: ${p.subject}${p.anchor ? ' (trust anchor)' : ''}  not after ${p.notAfter}  sha256 ${p.fingerprint}\n`,
      );
    }
    return;
  }
  ctx.stdout('REJECT\n');
  for (const r of result.reasons) ctx.stdout(`  ${r.code}: ${describeReason(r)}\n`);
}
