import path from 'node:path';
import type { Command } from 'commander';
import { MutualError } from '@mutual/sdk';
import { loadServer } from '../server.js';
import type { CliContext } from '../context.js';
import { waitForStop } from '../process.js';
import { json } from '../output/index.js';

interface GatewayOptions {
  config: string;
  json?: boolean;
  workers?: string;
}

function parseWorkers(value: string | undefined): number | 'auto' | undefined {
  if (value === undefined) return undefined;
  if (value === 'auto') return 'auto';
  const n = Number(value);
  if (!/^\d{1,3}$/.test(value) || n < 1 || n > 256) {
    throw new MutualError('ERR_USAGE_INVALID_ARGUMENT', {
      message: 'Expected --workers <1-256|auto>.',
      details: { workers: value },
    });
  }
  return n;
}

export function registerGatewayCommands(program: Command, ctx: CliContext): void {
  const gateway = program
    .command('gateway')
    .description('Run the mTLS gateway: verify client certificates, authorize each request by identity, forward, audit')
    .option('--config <file>', 'gateway configuration (YAML or JSON)')
    .option(
      '--workers <n|auto>',
      'processes serving the listeners (overrides `workers` of the config; auto: one per core)',
    )
    .addHelpText(
      'after',
      '\nReloads certificates, keys, trust bundles and the configuration on file change and on SIGHUP.\nSee docs/reference/gateway.md for the configuration format.',
    )
    .action(async (opts: Partial<GatewayOptions>) => {
      if (opts.config === undefined) {
        throw new MutualError('ERR_USAGE_INVALID_ARGUMENT', {
          message: 'Pass the configuration with --config <file>.',
        });
      }
      const workers = parseWorkers(opts.workers);
      const { runGateway } = await loadServer();
      const configFile = path.resolve(ctx.cwd, opts.config);
      const running = await runGateway({
        configFile,
        ...(workers === undefined ? {} : { workers }),
        env: ctx.env,
        clock: { now: ctx.now },
        log: (level, message, fields) => {
          ctx.stderr(`${JSON.stringify({ time: ctx.now().toISOString(), level, message, ...fields })}\n`);
        },
      });
      // Listen for Ctrl-C before announcing readiness, so a signal sent right after the banner is handled.
      const stopped = waitForStop();
      const lines = running.listeners.map((l) => `  listener ${l.name}: port ${l.port}`);
      ctx.stderr(
        [
          `mutual gateway ready (${configFile})`,
          ...lines,
          ...(running.workers > 1 ? [`  workers: ${running.workers} (pids ${running.pids().join(' ')})`] : []),
          `  admin: port ${running.adminPort} (/healthz /readyz /metrics)`,
          '',
        ].join('\n'),
      );
      await stopped;
      await running.close();
      ctx.stderr('Stopped.\n');
    });

  gateway
    .command('check')
    .description('Validate the configuration and every file it names, without listening')
    .option('--config <file>', 'gateway configuration (YAML or JSON)')
    .option('--json', 'print the result as JSON')
    .action(async (_opts: unknown, cmd: Command) => {
      // `--config` may be parsed by `gateway` itself (mutual gateway check --config f): read both.
      const opts = cmd.optsWithGlobals<Partial<GatewayOptions>>();
      if (opts.config === undefined) {
        throw new MutualError('ERR_USAGE_INVALID_ARGUMENT', {
          message: 'Pass the configuration with --config <file>.',
        });
      }
      const { checkGateway } = await loadServer();
      const report = await checkGateway({ configFile: path.resolve(ctx.cwd, opts.config) });
      if (opts.json === true) {
        ctx.stdout(json({ ok: true, ...report }));
        return;
      }
      const out = [`OK: ${opts.config}`];
      for (const l of report.listeners) {
        out.push(
          `  listener ${l.name} on ${l.address}: ${l.routes} route(s), ${l.anchors} trust anchor(s), server certificate valid until ${l.serverNotAfter}`,
        );
        if (l.anonymousRoutes.length > 0) out.push(`    anonymous routes: ${l.anonymousRoutes.join(', ')}`);
        if (l.emptyAllowRoutes.length > 0)
          out.push(`    routes that admit nobody (empty allow-list): ${l.emptyAllowRoutes.join(', ')}`);
        if (l.endedPins.length > 0)
          out.push(`    pins that no longer count (past their until): ${l.endedPins.join('; ')}`);
      }
      out.push(`  upstreams: ${report.upstreams.join(', ')}`, '');
      ctx.stdout(out.join('\n'));
    });
}
