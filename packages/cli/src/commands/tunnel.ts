import path from 'node:path';
import type { Command } from 'commander';
import { MutualError, type KeyType } from '@mutual/sdk';
import { loadServer } from '../server.js';
import type { CliContext } from '../context.js';
import { waitForStop } from '../process.js';
import { keyTypeArg } from '../options.js';

interface TunnelCliOptions {
  listen?: string;
  target?: string;
  cert?: string;
  key?: string;
  ca?: string;
  expectSpiffeId?: string;
  expectName?: string;
  servername?: string;
  watch?: boolean;
  fromCa?: string;
  tokenFile?: string;
  fingerprint?: string;
  lifetime?: string;
  keyType?: KeyType;
  name?: string;
  report?: boolean;
}

export function registerTunnelCommand(program: Command, ctx: CliContext): void {
  program
    .command('tunnel')
    .description('Carry plain local TCP connections to a server over mutual TLS, verifying the server identity')
    .option('--listen <host:port>', 'local address plain clients connect to (e.g. 127.0.0.1:15432)')
    .option('--target <host:port>', 'the mTLS server')
    .option('--cert <file>', 'PEM: client certificate followed by its intermediates')
    .option('--key <file>', 'PEM: the client private key')
    .option('--ca <file>', 'PEM: trust anchors for the server chain')
    .option('--expect-spiffe-id <id>', 'the server must be an X509-SVID for exactly this SPIFFE ID')
    .option('--expect-name <name>', 'the server certificate must carry this DNS name or IP address')
    .option('--servername <name>', 'SNI to send (default: --expect-name when it is a DNS name)')
    .option('--no-watch', 'do not reload the certificate, key and trust bundle when their files change')
    .option(
      '--from-ca <url>',
      'get the client certificate from this mutual CA (renewed in memory) instead of --cert/--key',
    )
    .option('--token-file <file>', 'with --from-ca: file holding a one-time enrollment token')
    .option('--fingerprint <sha256>', 'with --from-ca and no --ca: SHA-256 of the CA root to pin')
    .option('--lifetime <duration>', 'with --from-ca: requested certificate lifetime (the CA caps it)')
    .option('--key-type <type>', 'with --from-ca: p256, p384, rsa2048, rsa3072, rsa4096, ed25519', keyTypeArg)
    .option(
      '--name <name>',
      'with --from-ca: how the tunnel names itself in reports to the CA (default: tunnel <listen> to <target>)',
    )
    .option('--no-report', 'with --from-ca: do not report to the CA (health, certificate, trusted roots) every minute')
    .addHelpText(
      'after',
      '\nEach connection is accepted only when OpenSSL and mutual’s verifier both accept the server chain and its identity.\nOne JSON line per connection on stderr. See docs/reference/gateway.md (Tunnel).',
    )
    .action(async (opts: TunnelCliOptions) => {
      const fromCa = opts.fromCa !== undefined;
      const required = fromCa
        ? (['listen', 'target', 'tokenFile'] as const)
        : (['listen', 'target', 'cert', 'key', 'ca'] as const);
      const missing = required.filter((k) => opts[k] === undefined);
      if (fromCa && (opts.cert !== undefined || opts.key !== undefined)) {
        throw new MutualError('ERR_USAGE_INVALID_ARGUMENT', {
          message: '--from-ca gets the certificate from the CA: leave out --cert and --key.',
        });
      }
      if (fromCa && opts.ca === undefined && opts.fingerprint === undefined) {
        throw new MutualError('ERR_USAGE_INVALID_ARGUMENT', {
          message: '--from-ca needs the CA root: --ca <file> or --fingerprint <sha256>.',
        });
      }
      if (missing.length > 0) {
        throw new MutualError('ERR_USAGE_INVALID_ARGUMENT', {
          message: `Missing ${missing.map((k) => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`).join(', ')}.`,
        });
      }
      if (opts.expectSpiffeId === undefined && opts.expectName === undefined) {
        throw new MutualError('ERR_USAGE_INVALID_ARGUMENT', {
          message: 'Say which server to expect with --expect-spiffe-id <id> or --expect-name <name>.',
        });
      }
      const { startTunnel } = await loadServer();
      const resolve = (f: string | undefined): string => path.resolve(ctx.cwd, f ?? '');
      const line = (level: string, message: string, fields: object): void => {
        ctx.stderr(`${JSON.stringify({ time: ctx.now().toISOString(), level, message, ...fields })}\n`);
      };
      const tunnel = await startTunnel({
        listen: opts.listen ?? '',
        target: opts.target ?? '',
        ...(fromCa
          ? {
              fromCa: {
                url: opts.fromCa ?? '',
                tokenFile: resolve(opts.tokenFile),
                ...(opts.ca === undefined ? {} : { rootFile: resolve(opts.ca) }),
                ...(opts.fingerprint === undefined ? {} : { fingerprint: opts.fingerprint }),
                ...(opts.lifetime === undefined ? {} : { lifetime: opts.lifetime }),
                ...(opts.keyType === undefined ? {} : { keyType: opts.keyType }),
                onError: (error: MutualError) => {
                  line('warn', 'certificate renewal failed; keeping the current certificate', { code: error.code });
                },
                ...(opts.report === false
                  ? {}
                  : {
                      report: {
                        name: (opts.name ?? `tunnel ${opts.listen ?? ''} to ${opts.target ?? ''}`).slice(0, 128),
                        onError: (error: MutualError) => {
                          line('warn', 'report to the CA not delivered', { code: error.code });
                        },
                      },
                    }),
              },
              ...(opts.ca === undefined ? {} : { caFile: resolve(opts.ca) }),
            }
          : { certFile: resolve(opts.cert), keyFile: resolve(opts.key), caFile: resolve(opts.ca) }),
        ...(opts.expectSpiffeId === undefined ? {} : { expectSpiffeId: opts.expectSpiffeId }),
        ...(opts.expectName === undefined ? {} : { expectName: opts.expectName }),
        ...(opts.servername === undefined ? {} : { servername: opts.servername }),
        watch: opts.watch !== false,
        now: ctx.now,
      });
      tunnel.events.on('connection', (e: { ok: boolean }) => {
        line(e.ok ? 'info' : 'warn', e.ok ? 'connection relayed' : 'server refused', e);
      });
      tunnel.events.on('reload', (r: { ok: boolean; error?: MutualError }) => {
        if (r.ok) line('info', 'certificate reloaded', {});
        else line('error', 'reload refused; keeping the running certificate', { code: r.error?.code });
      });
      const stopped = waitForStop();
      const host = (opts.listen ?? '').replace(/:\d+$/, '');
      ctx.stderr(`mutual tunnel ready: ${host}:${tunnel.port} → ${opts.target ?? ''} (mTLS)\n`);
      await stopped;
      await tunnel.close();
      ctx.stderr('Stopped.\n');
    });
}
