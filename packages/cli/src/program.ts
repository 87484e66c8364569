import { Command, CommanderError } from 'commander';
import { MutualError, toMutualError } from '@mutual/sdk';
import type { CliContext } from './context.js';
import { registerCommands } from './commands/index.js';

/** Builds the `mutual` program; every command registers itself from commands/. */
export function buildProgram(ctx: CliContext): Command {
  const program = new Command('mutual')
    .description('mutual — mutual TLS done whole: CA, certificates, gateway, client tools.')
    .version('0.1.0')
    .exitOverride()
    .configureOutput({ writeOut: ctx.stdout, writeErr: ctx.stderr })
    .showHelpAfterError('(run with --help for usage)');
  registerCommands(program, ctx);
  return program;
}

/** Runs one command line and returns the exit code. Errors become `error[CODE]: message`, never a stack. */
export async function runCli(argv: readonly string[], ctx: CliContext): Promise<number> {
  const program = buildProgram(ctx);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return ctx.exitCode;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') {
        return 0;
      }
      return 2;
    }
    const error = toMutualError(err);
    reportError(error, ctx);
    return error.exitCode;
  }
}

function reportError(error: MutualError, ctx: CliContext): void {
  const details = Object.entries(error.details)
    .filter(([k]) => k !== 'issues') // configuration issues are already listed in the message
    .map(([k, v]) => `  ${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join('\n');
  ctx.stderr(`error[${error.code}]: ${error.message}\n${details ? details + '\n' : ''}`);
  if (error.code === 'ERR_INTERNAL_UNEXPECTED' && ctx.env['MUTUAL_DEBUG'] === '1' && error.cause instanceof Error) {
    ctx.stderr(`${error.cause.stack ?? error.cause.message}\n`);
  }
}
