import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import type { CertificateState } from '@mutual/server';
import type { CliContext } from '../context.js';
import { durationArg } from '../options.js';
import { formatTimeLeft, json, table } from '../output/index.js';
import { withLocalStore } from './cert.js';

const STATES: readonly CertificateState[] = ['valid', 'expiring', 'expired', 'revoked', 'pending', 'failed'];

function statesArg(value: string): CertificateState[] {
  const parts = value.split(',').map((s) => s.trim());
  for (const p of parts) {
    if (!(STATES as readonly string[]).includes(p))
      throw new InvalidArgumentError(`expected a comma list of ${STATES.join(', ')}`);
  }
  return parts as CertificateState[];
}

interface ListOptions {
  status?: CertificateState[];
  expiringWithin?: number;
  profile?: string;
  search?: string;
  limit: string;
  dir?: string;
  json?: boolean;
}

export function registerCertList(cert: Command, ctx: CliContext): void {
  cert
    .command('list')
    .description('List the certificates this CA issued, from its inventory')
    .option('--status <states>', `comma list of ${STATES.join(', ')}`, statesArg)
    .option(
      '--expiring-within <duration>',
      'only certificates that expire within this time (e.g. 30d); marks them "expiring"',
      durationArg,
    )
    .option('--profile <profile>', 'only this profile (server, client, both, root, intermediate)')
    .option('--search <text>', 'only certificates whose identity, subject or serial contains this text')
    .option('--limit <n>', 'at most this many rows', '100')
    .option('--dir <dir>', 'CA directory')
    .option('--json', 'print as JSON')
    .action(async (opts: ListOptions) => {
      const limit = Number(opts.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 1000)
        throw new InvalidArgumentError('--limit must be 1..1000');
      const now = ctx.now();
      await withLocalStore(ctx, opts.dir, async (store) => {
        const result = await store.listCertificates({
          now,
          limit,
          ...(opts.expiringWithin === undefined ? {} : { expiringWithinMs: opts.expiringWithin }),
          ...(opts.status === undefined ? {} : { states: opts.status }),
          ...(opts.expiringWithin === undefined
            ? {}
            : { expiresBefore: new Date(now.getTime() + opts.expiringWithin), states: opts.status ?? ['expiring'] }),
          ...(opts.profile === undefined ? {} : { profile: opts.profile }),
          ...(opts.search === undefined ? {} : { search: opts.search }),
        });
        if (opts.json === true) {
          ctx.stdout(
            json(
              result.items.map((c) => ({
                serial: c.serial,
                state: c.state,
                profile: c.profile,
                identity: c.identity,
                subject: c.subject,
                sans: c.sans,
                notBefore: c.notBefore.toISOString(),
                notAfter: c.notAfter.toISOString(),
                fingerprintSha256: c.fingerprintSha256,
                requester: c.requester,
                revokedAt: c.revokedAt?.toISOString() ?? null,
              })),
            ),
          );
          return;
        }
        if (result.items.length === 0) {
          ctx.stdout('No certificates match.\n');
          return;
        }
        ctx.stdout(
          table(
            ['STATE', 'PROFILE', 'IDENTITY', 'EXPIRES', 'SERIAL'],
            result.items.map((c) => [
              c.state,
              c.profile,
              c.identity ?? c.commonName ?? '-',
              `${c.notAfter.toISOString().slice(0, 16).replace('T', ' ')} (${formatTimeLeft(c.notAfter, now)})`,
              c.serial,
            ]),
          ),
        );
        if (result.nextCursor !== null) ctx.stdout(`… more; raise --limit or narrow the filter.\n`);
      });
    });
}
