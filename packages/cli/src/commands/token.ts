import type { Command } from 'commander';
import { Option } from 'commander';
import type { CliContext } from '../context.js';
import { caClientFrom, withClientOptions, type ClientOptions } from '../client-context.js';
import { classifyNames } from '../names.js';
import { collect } from '../options.js';

interface TokenOptions extends ClientOptions {
  profile: 'server' | 'client' | 'both';
  spiffeId?: string[];
  ttl: string;
  json?: boolean;
}

export function registerTokenCommands(program: Command, ctx: CliContext): void {
  const token = program.command('token').description('One-time enrollment tokens (admin)');
  withClientOptions(
    token
      .command('create')
      .description('Mint a one-time token bound to names, a profile and an expiry; prints the token on stdout')
      .argument('[name...]', 'DNS names, IP addresses, spiffe:// IDs or emails the token allows')
      .addOption(
        new Option('--profile <profile>', 'certificate profile')
          .choices(['server', 'client', 'both'])
          .makeOptionMandatory(),
      )
      .option('--spiffe-id <id>', 'SPIFFE ID the token allows', collect)
      .option('--ttl <duration>', 'how long the token can be used', '5m')
      .option('--json', 'print token, jti and expiry as JSON'),
  ).action(async (names: string[], opts: TokenOptions) => {
    const client = await caClientFrom(ctx, opts, true);
    const requested = classifyNames(names, { uri: opts.spiffeId ?? [] });
    const res = await client.createToken({ names: requested, profile: opts.profile, ttl: opts.ttl });
    if (opts.json === true) {
      ctx.stdout(JSON.stringify(res, null, 2) + '\n');
      return;
    }
    ctx.stdout(`${res.token}\n`);
    const shown = [...requested.uri, ...requested.dns, ...requested.ip, ...requested.email];
    ctx.stderr(
      `One-time token for ${shown.join(', ')} (${opts.profile}), valid until ${res.expiresAt}.\n` +
        `Use it with: mutual cert request ${shown.join(' ')} --token <token> --out DIR\n`,
    );
  });
}
