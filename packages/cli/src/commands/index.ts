import type { Command } from 'commander';
import type { CliContext } from '../context.js';

/** Registers every `mutual` subcommand. One file per command group in this folder. */
export function registerCommands(_program: Command, _ctx: CliContext): void {
  // Command groups are added here as they land.
}
