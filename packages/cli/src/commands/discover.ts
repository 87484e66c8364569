import { X509Certificate } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { connect, type DetailedPeerCertificate } from 'node:tls';
import type { Command } from 'commander';
import { MutualError, decodePem, encodePem, extractIdentity, readDerObjects, readFileCapped } from '@mutual/sdk';
import type { SightingEvent } from '@mutual/sdk/contract';
import { caClientFrom } from '../client-context.js';
import type { CliContext } from '../context.js';
import { formatTimeLeft, json, table } from '../output/index.js';

/**
 * `mutual discover`: finds certificates in use — presented by a TLS server (host:port, with or
 * without a client certificate; the chain is recorded whether or not it verifies) or held in
 * files and directories — prints them and records them at the CA as sightings.
 */

const MAX_FILES = 1000;
const MAX_DEPTH = 8;
const MAX_CHAIN = 10;
const CONNECT_TIMEOUT_MS = 10_000;

export interface Found {
  readonly where: string;
  readonly role: 'server' | 'file';
  readonly chain: Uint8Array[];
  /** TLS targets: whether the presented chain verified against --ca (or the system's roots). */
  readonly verified?: boolean;
  readonly verifyError?: string;
}

export interface Failed {
  readonly where: string;
  readonly error: string;
}

const HOST_PORT = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/;

/** Certificates of a TLS server's handshake, leaf first. */
export function scanTls(
  target: string,
  options: { cert?: string; key?: string; ca?: string; servername?: string },
): Promise<Found> {
  const m = HOST_PORT.exec(target);
  const host = (m?.[1] ?? '').replace(/^\[|\]$/g, '');
  const port = Number(m?.[2]);
  const isIp = /^[\d.]+$/.test(host) || host.includes(':');
  return new Promise((resolve, reject) => {
    const socket = connect({
      host,
      port,
      ...(options.servername !== undefined ? { servername: options.servername } : isIp ? {} : { servername: host }),
      rejectUnauthorized: false,
      ...(options.cert === undefined ? {} : { cert: options.cert }),
      ...(options.key === undefined ? {} : { key: options.key }),
      ...(options.ca === undefined ? {} : { ca: options.ca }),
      timeout: CONNECT_TIMEOUT_MS,
    });
    socket.once('timeout', () => socket.destroy(new Error('timed out')));
    socket.once('error', reject);
    socket.once('secureConnect', () => {
      const chain: Uint8Array[] = [];
      const seen = new Set<string>();
      // An absent certificate is an empty object at run time, whatever the types say.
      let cert: Partial<DetailedPeerCertificate> | undefined = socket.getPeerCertificate(true);
      while (cert?.raw !== undefined && cert.fingerprint256 !== undefined && chain.length < MAX_CHAIN) {
        if (seen.has(cert.fingerprint256)) break;
        seen.add(cert.fingerprint256);
        chain.push(new Uint8Array(cert.raw));
        cert = cert.issuerCertificate;
      }
      const authorized = socket.authorized;
      const verifyError = authorized ? undefined : String(socket.authorizationError);
      socket.end();
      if (chain.length === 0) {
        reject(new Error('the server presented no certificate'));
        return;
      }
      resolve({
        where: target,
        role: 'server',
        chain,
        verified: authorized,
        ...(verifyError === undefined ? {} : { verifyError }),
      });
    });
  });
}

/** The certificates of one file (PEM, possibly with other blocks, or one DER certificate), in file order. */
async function certificatesInFile(file: string): Promise<Uint8Array[]> {
  const bytes = await readFileCapped(file, 1024 * 1024);
  if (bytes[0] === 0x30) return readDerObjects(bytes, ['CERTIFICATE']);
  return decodePem(bytes.toString('utf8'))
    .filter((b) => b.label === 'CERTIFICATE' || b.label === 'TRUSTED CERTIFICATE')
    .map((b) => b.der);
}

/** Files and directories (recursively, bounded) → one finding per file that holds a certificate. */
export async function scanPath(
  target: string,
  found: Found[],
  failed: Failed[],
  depth = 0,
  budget = { files: MAX_FILES },
): Promise<void> {
  const stat = await fs.stat(target);
  if (stat.isDirectory()) {
    if (depth >= MAX_DEPTH) return;
    const names = (await fs.readdir(target)).sort();
    for (const name of names) {
      if (budget.files <= 0) return;
      await scanPath(path.join(target, name), found, failed, depth + 1, budget).catch((err: unknown) => {
        failed.push({ where: path.join(target, name), error: err instanceof Error ? err.message : String(err) });
      });
    }
    return;
  }
  if (!stat.isFile()) return;
  budget.files--;
  let ders: Uint8Array[];
  try {
    ders = await certificatesInFile(target);
  } catch (err) {
    // In a directory, files that are not certificates are skipped; a file named on the command line is an error.
    if (depth === 0) throw err;
    return;
  }
  if (ders.length === 0) {
    if (depth === 0) throw new Error('holds no certificate');
    return;
  }
  for (const der of ders.slice(0, 1)) new X509Certificate(der); // the leaf must parse
  found.push({ where: target, role: 'file', chain: ders.slice(0, MAX_CHAIN) });
}

interface DiscoverOptions {
  cert?: string;
  key?: string;
  ca?: string;
  servername?: string;
  name: string;
  report: boolean;
  json?: boolean;
  caUrl?: string;
  root?: string;
  contextDir?: string;
}

export function registerDiscoverCommand(program: Command, ctx: CliContext): void {
  program
    .command('discover')
    .description(
      'Find certificates in use on TLS servers (host:port) or in files and directories, and record them at the CA',
    )
    .argument('<target...>', 'host:port of a TLS server, or a file or directory of certificates')
    .option('--cert <file>', 'client certificate (chain) to present to TLS servers')
    .option('--key <file>', 'private key of --cert')
    .option('--ca <file>', 'CA certificates to verify TLS servers against (the result is shown, never required)')
    .option('--servername <name>', 'SNI name to send (default: the host, unless it is an IP address)')
    .option('--name <name>', 'name of this discovery source at the CA', 'cli')
    .option('--no-report', 'only print what was found; do not send it to the CA')
    .option('--json', 'print as JSON')
    .option('--ca-url <url>', 'CA URL (default: the saved context)')
    .option('--root <file>', "CA root certificate to trust (default: the saved context's)")
    .option('--context-dir <dir>', 'where `ca bootstrap` saved the admin context')
    .action(async (targets: string[], opts: DiscoverOptions) => {
      if ((opts.cert === undefined) !== (opts.key === undefined)) {
        throw new MutualError('ERR_USAGE_INVALID_ARGUMENT', { message: 'Pass --cert and --key together.' });
      }
      const read = async (f: string | undefined): Promise<string | undefined> =>
        f === undefined ? undefined : (await readFileCapped(path.resolve(ctx.cwd, f), 1024 * 1024)).toString('utf8');
      const tlsOptions = {
        ...(opts.cert === undefined ? {} : { cert: await read(opts.cert) }),
        ...(opts.key === undefined ? {} : { key: await read(opts.key) }),
        ...(opts.ca === undefined ? {} : { ca: await read(opts.ca) }),
        ...(opts.servername === undefined ? {} : { servername: opts.servername }),
      } as { cert?: string; key?: string; ca?: string; servername?: string };
      const found: Found[] = [];
      const failed: Failed[] = [];
      for (const target of targets) {
        try {
          if (HOST_PORT.test(target) && !(await fs.stat(path.resolve(ctx.cwd, target)).catch(() => undefined))) {
            found.push(await scanTls(target, tlsOptions));
          } else {
            await scanPath(path.resolve(ctx.cwd, target), found, failed);
          }
        } catch (err) {
          failed.push({ where: target, error: err instanceof Error ? err.message : String(err) });
        }
      }

      const at = ctx.now();
      const rows = found.map((f) => {
        const id = extractIdentity(f.chain[0] as Uint8Array);
        return { found: f, id };
      });
      let reported = false;
      if (opts.report && found.length > 0) {
        const client = await caClientFrom(
          ctx,
          {
            ...(opts.caUrl === undefined ? {} : { caUrl: opts.caUrl }),
            ...(opts.root === undefined ? {} : { root: opts.root }),
            ...(opts.contextDir === undefined ? {} : { contextDir: opts.contextDir }),
          },
          true,
        );
        const sightings: SightingEvent[] = found.map((f) => ({
          where: f.where.slice(0, 512),
          role: f.role,
          at: at.toISOString(),
          chain: f.chain.map((d) => encodePem(d, 'CERTIFICATE')),
        }));
        // Each report stays well under the CA's 4 MiB limit for reports.
        for (let i = 0; i < sightings.length; i += 200) {
          await client.report({
            component: { kind: 'discover', name: opts.name },
            at: at.toISOString(),
            health: { status: failed.length === 0 ? 'ok' : 'degraded' },
            sightings: sightings.slice(i, i + 200),
          });
        }
        reported = true;
      }

      if (opts.json === true) {
        ctx.stdout(
          json({
            reported,
            found: rows.map(({ found: f, id }) => ({
              where: f.where,
              role: f.role,
              serial: id.serialHex,
              fingerprintSha256: id.fingerprintSha256,
              identity: id.value,
              subject: id.subject,
              issuer: id.issuer,
              notBefore: id.notBefore.toISOString(),
              notAfter: id.notAfter.toISOString(),
              chainLength: f.chain.length,
              ...(f.verified === undefined ? {} : { verified: f.verified, verifyError: f.verifyError ?? null }),
            })),
            failed,
          }),
        );
      } else {
        if (rows.length > 0) {
          ctx.stdout(
            table(
              ['WHERE', 'ROLE', 'IDENTITY', 'EXPIRES', 'VERIFIED', 'SERIAL'],
              rows.map(({ found: f, id }) => [
                f.where,
                f.role,
                id.value ?? id.subject,
                `${id.notAfter.toISOString().slice(0, 16).replace('T', ' ')} (${formatTimeLeft(id.notAfter, at)})`,
                f.verified === undefined ? '-' : f.verified ? 'yes' : `no (${f.verifyError ?? 'unverified'})`,
                id.serialHex,
              ]),
            ),
          );
        }
        for (const f of failed) ctx.stderr(`${f.where}: ${f.error}\n`);
        if (reported)
          ctx.stderr(`Recorded ${found.length} certificate(s) at the CA as discovered by "${opts.name}".\n`);
      }
      if (failed.length > 0 || found.length === 0) ctx.exitCode = 1;
    });
}
