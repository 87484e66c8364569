import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { registerAgentCommands } from './agent.js';
import { registerAuditCommands } from './audit.js';
import { registerCaCommands } from './ca.js';
import { registerCertCommands } from './cert.js';
import { registerGatewayCommands } from './gateway.js';
import { registerTokenCommands } from './token.js';
import { registerTunnelCommand } from './tunnel.js';
import { registerUpCommand } from './up.js';
import { registerVerifyCommand } from './verify.js';

/** Registers every `mutual` subcommand. One file per command group in this folder. */
export function registerCommands(program: Command, ctx: CliContext): void {
  registerUpCommand(program, ctx);
  registerCaCommands(program, ctx);
  registerCertCommands(program, ctx);
  registerTokenCommands(program, ctx);
  registerVerifyCommand(program, ctx);
  registerAuditCommands(program, ctx);
  registerGatewayCommands(program, ctx);
  registerTunnelCommand(program, ctx);
  registerAgentCommands(program, ctx);
}
