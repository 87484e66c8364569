import { existsSync } from 'node:fs';
import { connect, type PeerCertificate } from 'node:tls';
import path from 'node:path';
import type { Command } from 'commander';
import { MutualError, readDerObjects, readFileCapped } from '@mutual/sdk';
import type { CliContext } from '../context.js';
import type { CertificateView } from './describe-certificate.js';
import { colonHex, json } from '../output/index.js';

function render(view: CertificateView, count: number): string {
  const row = (k: string, v: string): string => `  ${k.padEnd(18)} ${v}\n`;
  let out = `Certificate ${view.index + 1} of ${count} (${view.role})\n`;
  out += row('subject:', view.subject || '(empty)');
  out += row('issuer:', view.issuer + (view.selfSigned ? ' (self-signed)' : ''));
  out += row('identity:', view.identity.value === null ? 'none' : `${view.identity.kind} ${view.identity.value}`);
  const sans = [
    ...view.sans.dns.map((n) => `DNS:${n}`),
    ...view.sans.ip.map((n) => `IP:${n}`),
    ...view.sans.uri.map((n) => `URI:${n}`),
    ...view.sans.email.map((n) => `email:${n}`),
  ];
  if (sans.length > 0) out += row('names (SAN):', sans.join(', '));
  out += row('serial:', view.serial);
  const status = view.expired ? 'EXPIRED' : view.notYetValid ? 'NOT YET VALID' : view.timeLeft;
  out += row('valid:', `${view.notBefore} → ${view.notAfter} (${view.expired ? view.timeLeft : status})`);
  out += row('key:', view.key);
  if (view.basicConstraints) {
    out += row(
      'basic constraints:',
      view.basicConstraints.ca
        ? `CA${view.basicConstraints.pathLength === null ? '' : `, pathlen ${view.basicConstraints.pathLength}`}`
        : 'not a CA',
    );
  }
  if (view.keyUsage.length > 0) out += row('key usage:', view.keyUsage.join(', '));
  if (view.extendedKeyUsage.length > 0) out += row('ext. key usage:', view.extendedKeyUsage.join(', '));
  out += row('SHA-256:', colonHex(view.fingerprintSha256));
  out += row('SPKI SHA-256:', view.spkiSha256);
  return out;
}

const HOST_PORT = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/;

async function fetchPeerChain(
  target: string,
  servername: string | undefined,
  timeoutMs: number,
): Promise<Uint8Array[]> {
  const m = HOST_PORT.exec(target);
  if (!m)
    throw new MutualError('ERR_USAGE_INVALID_ARGUMENT', {
      message: 'Expected a file or host:port.',
      details: { target },
    });
  const host = (m[1] ?? '').replace(/^\[|\]$/g, '');
  const port = Number(m[2]);
  return new Promise((resolve, reject) => {
    const sni = servername ?? (/^[\d.:]+$/.test(host) ? undefined : host);
    const socket = connect({
      host,
      port,
      ...(sni === undefined ? {} : { servername: sni }),
      rejectUnauthorized: false, // we only look: nothing is trusted here
      timeout: timeoutMs,
    });
    socket.once('secureConnect', () => {
      const chain: Uint8Array[] = [];
      const seen = new Set<string>();
      let cert: PeerCertificate | undefined = socket.getPeerCertificate(true);
      while (cert?.raw !== undefined && !seen.has(cert.fingerprint256)) {
        seen.add(cert.fingerprint256);
        chain.push(new Uint8Array(cert.raw));
        cert = (cert as { issuerCertificate?: PeerCertificate }).issuerCertificate;
      }
      socket.destroy();
      resolve(chain);
    });
    socket.once('timeout', () => {
      socket.destroy();
      reject(
        new MutualError('ERR_CLI_CONNECT_FAILED', {
          message: `No TLS handshake with ${target} within ${timeoutMs} ms.`,
        }),
      );
    });
    socket.once('error', (err: Error) => {
      reject(
        new MutualError('ERR_CLI_CONNECT_FAILED', {
          message: `Could not get a certificate from ${target}: ${err.message}`,
          cause: err,
        }),
      );
    });
  });
}

export function registerCertInspect(cert: Command, ctx: CliContext): void {
  cert
    .command('inspect')
    .description('Show a certificate or chain from a file (PEM or DER) or from a TLS server (host:port)')
    .argument('<source>', 'file or host:port')
    .option('--servername <name>', 'SNI name to send when connecting')
    .option('--json', 'print as JSON')
    .action(async (source: string, opts: { servername?: string; json?: boolean }) => {
      const file = path.resolve(ctx.cwd, source);
      const ders = existsSync(file)
        ? readDerObjects(await readFileCapped(file, 4 * 1024 * 1024), ['CERTIFICATE', 'TRUSTED CERTIFICATE'])
        : await fetchPeerChain(source, opts.servername, 10_000);
      if (ders.length === 0) throw new MutualError('ERR_PEM_EMPTY', { details: { source } });
      const now = ctx.now();
      const { describeCertificate } = await import('./describe-certificate.js');
      const views = ders.map((der, i) => describeCertificate(der, i, now));
      if (opts.json === true) {
        ctx.stdout(json(views));
        return;
      }
      ctx.stdout(views.map((v) => render(v, views.length)).join('\n'));
    });
}
