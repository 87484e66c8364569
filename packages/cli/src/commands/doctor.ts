import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { collect, durationArg } from '../options.js';

interface DoctorFlags {
  cert?: string;
  key?: string;
  ca?: string[];
  crl?: string[];
  identity?: string;
  timeout?: number;
  json?: boolean;
}

/**
 * `mutual doctor <url|host:port>`: runs the mTLS exchange step by step and explains what fails, on
 * which side, with a fix. Exit 0 only when the whole exchange (and the HTTP request of a URL) works.
 * The engine (src/doctor) is loaded only when the command runs.
 */
export function registerDoctorCommand(program: Command, ctx: CliContext): void {
  program
    .command('doctor')
    .description('Explain why an mTLS connection fails — which side refused, and why — with the command that fixes it')
    .argument('<target>', 'https:// URL (then an HTTP request is made too) or host:port')
    .option('--cert <file>', 'client certificate (leaf first, then intermediates)')
    .option('--key <file>', 'private key of --cert')
    .option(
      '--ca <file>',
      'trust anchors for the server (repeatable; default: the saved context, else the system roots)',
      collect,
    )
    .option(
      '--crl <file>',
      'CRL to check your certificate against (repeatable; default: fetched from its CRL distribution point)',
      collect,
    )
    .option('--identity <name>', 'use an identity the agent manages: <context dir>/identities/NAME/{cert,key,ca}.pem')
    .option('--timeout <duration>', 'per-step network timeout (default 5s)', durationArg)
    .option('--json', 'print the report as JSON')
    .action(async (target: string, flags: DoctorFlags) => {
      const { diagnose, loadMaterial, parseTarget, renderReport } = await import('../doctor/index.js');
      const parsed = parseTarget(target);
      if (typeof parsed === 'string') {
        ctx.stderr(`error[ERR_USAGE_INVALID_ARGUMENT]: ${parsed}\n`);
        ctx.exitCode = 2;
        return;
      }
      const material = await loadMaterial(ctx, flags);
      const clientFlags =
        flags.identity !== undefined
          ? `--identity ${flags.identity}`
          : material.certFile !== undefined
            ? `--cert ${flags.cert ?? ''} --key ${flags.key ?? ''}`
            : '--cert <client.crt> --key <client.key>';
      const report = await diagnose({
        target: parsed,
        material,
        now: ctx.now(),
        timeoutMs: flags.timeout ?? 5000,
        clientFlags,
      });
      ctx.stdout(flags.json ? `${JSON.stringify(report, null, 2)}\n` : renderReport(report));
      ctx.exitCode = report.ok ? 0 : 1;
    });
}
