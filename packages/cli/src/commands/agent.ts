import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Option, type Command } from 'commander';
import { MutualError, parseDuration } from '@mutual/sdk';
import type { CliContext } from '../context.js';
import { contextDir } from '../client-context.js';
import { parseListen, waitForStop } from '../process.js';
import { json } from '../output/index.js';

interface AgentOptions {
  config?: string;
  once?: boolean;
  clockOffset?: string;
  json?: boolean;
}

function requireConfig(ctx: CliContext, opts: AgentOptions): string {
  if (opts.config === undefined) {
    throw new MutualError('ERR_USAGE_INVALID_ARGUMENT', { message: 'Pass the configuration with --config <file>.' });
  }
  return path.resolve(ctx.cwd, opts.config);
}

/** `+5m`, `-5m`, `5m` → milliseconds (a test and drill aid: run the agent with a skewed clock). */
function parseOffset(text: string | undefined): number {
  if (text === undefined) return 0;
  const sign = text.startsWith('-') ? -1 : 1;
  const ms = parseDuration(text.replace(/^[+-]/, ''));
  if (ms === undefined) {
    throw new MutualError('ERR_USAGE_INVALID_ARGUMENT', {
      message: 'Expected a duration such as +5m or -5m.',
      details: { clockOffset: text },
    });
  }
  return sign * ms;
}

export function registerAgentCommands(program: Command, ctx: CliContext): void {
  const agent = program
    .command('agent')
    .description(
      'Keep certificates fresh: enroll with a token, renew over mTLS at 2/3 of the lifetime with a new key, reload the program using them',
    )
    .option('--config <file>', 'agent configuration (YAML or JSON)')
    .option('--once', 'one pass (enroll or renew what is due), then exit: 1 if a renewal is overdue')
    .addOption(new Option('--clock-offset <duration>', 'shift the agent clock (drills)').hideHelp())
    .addHelpText(
      'after',
      '\nLogs are JSON lines on stdout. SIGHUP reloads the configuration; SIGTERM/SIGINT stop after the rotation in progress.\nSee docs/lifecycle.md for the configuration, the file layout and the metrics.',
    )
    .action(async (opts: AgentOptions) => {
      const configFile = requireConfig(ctx, opts);
      const offset = parseOffset(opts.clockOffset);
      const clock = { now: (): Date => new Date(ctx.now().getTime() + offset) };
      const log = (level: string, message: string, fields: Record<string, unknown> = {}): void => {
        ctx.stdout(`${JSON.stringify({ time: clock.now().toISOString(), level, message, ...fields })}\n`);
      };
      const {
        loadAgentConfig,
        RenewalAgent,
        TrustedRoots,
        httpAgentCa,
        resolveCaEndpoint,
        renderMetrics,
        serveMetrics,
      } = await import('../agent/index.js');

      const build = async (): Promise<InstanceType<typeof RenewalAgent>> => {
        const loaded = await loadAgentConfig(configFile);
        const c = loaded.config.ca;
        const ctxDir = c.contextDir === undefined ? contextDir(ctx) : loaded.resolve(c.contextDir);
        const saved = path.join(ctxDir, 'context.json');
        const endpoint = await resolveCaEndpoint(
          { url: c.url, rootFile: c.rootFile === undefined ? undefined : loaded.resolve(c.rootFile) },
          saved,
        );
        // The roots the agent trusts: its root file's and, when it keeps a trust bundle, the roots it learnt
        // there. Checked against for the CA, reported (so `mutual ca finish-root-rotation` knows whether this
        // host trusts the new root), and published as identities' ca.pem.
        const trustBundle = c.trustBundle === undefined ? undefined : loaded.resolve(c.trustBundle);
        const bundlePem = trustBundle === undefined ? undefined : await readFile(trustBundle).catch(() => undefined);
        const trust = new TrustedRoots([endpoint.rootPem, ...(bundlePem === undefined ? [] : [bundlePem])]);
        const built = new RenewalAgent({
          config: loaded,
          ca: httpAgentCa(endpoint.url, () => trust.pem()),
          clock,
          log,
          env: ctx.env,
          pid: process.pid,
          trust,
          ...(trustBundle === undefined ? {} : { trustBundle }),
          ...(loaded.config.publishIdentities
            ? { identities: { dir: path.join(ctxDir, 'identities'), rootPem: endpoint.rootPem } }
            : {}),
        });
        await built.init();
        return built;
      };

      let current = await build();
      if (opts.once === true) {
        await current.tick();
        await current.stop();
        if (current.views().some((v) => v.overdue)) ctx.exitCode = 1;
        return;
      }

      const first = await loadAgentConfig(configFile);
      let metrics: Awaited<ReturnType<typeof serveMetrics>> | undefined;
      if (first.config.metrics !== undefined) {
        const where = parseListen(first.config.metrics.listen);
        metrics = await serveMetrics(where.host, where.port, () =>
          renderMetrics(current.views(), clock.now(), current.revocations()),
        );
        log('info', 'metrics listening', { port: metrics.port, path: '/metrics' });
      }
      const stopped = waitForStop();
      let reloading = Promise.resolve();
      const onHup = (): void => {
        reloading = reloading.then(async () => {
          try {
            const next = await build();
            await current.stop();
            current = next;
            current.start();
            log('info', 'configuration reloaded', { config: configFile });
          } catch (err) {
            const e = err instanceof MutualError ? err : new MutualError('ERR_INTERNAL_UNEXPECTED', { cause: err });
            log('error', 'configuration reload failed; keeping the running one', { error: e.code, detail: e.message });
          }
        });
      };
      process.on('SIGHUP', onHup);
      current.start();
      log('info', 'agent started', {
        config: configFile,
        certificates: first.config.certificates.map((x) => x.name),
        pid: process.pid,
      });
      await stopped;
      process.off('SIGHUP', onHup);
      await reloading;
      await current.stop();
      await new Promise<void>((resolve) => {
        if (metrics === undefined) resolve();
        else
          metrics.server.close(() => {
            resolve();
          });
      });
      log('info', 'agent stopped');
    });

  agent
    .command('status')
    .description("Show each managed certificate from the agent's state: serial, expiry, renewal point, last error")
    .option('--config <file>', 'agent configuration (YAML or JSON)')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', '\nExit code 1 when a renewal is overdue or a certificate expired.')
    .action(async (_opts: unknown, cmd: Command) => {
      const opts = cmd.optsWithGlobals<AgentOptions>();
      const configFile = requireConfig(ctx, opts);
      const { loadAgentConfig, readAgentState, statusRows, formatStatus } = await import('../agent/index.js');
      const loaded = await loadAgentConfig(configFile);
      const state = await readAgentState(loaded.stateFile);
      if (state === null) throw new MutualError('ERR_AGENT_NO_STATE', { details: { file: loaded.stateFile } });
      const now = ctx.now();
      const rows = statusRows(state, now);
      if (rows.some((r) => r.overdue || r.expired)) ctx.exitCode = 1;
      if (opts.json === true) {
        ctx.stdout(json({ agent: state.agent, pid: state.pid, updatedAt: state.updatedAt, certificates: rows }));
        return;
      }
      ctx.stdout(formatStatus(state, rows, now));
    });
}
