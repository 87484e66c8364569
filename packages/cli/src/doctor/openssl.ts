/**
 * What Node does not expose: whether the server sent a CertificateRequest and the CA names it lists.
 * Read from one run of `openssl s_client -msg -showcerts` (no client certificate); absent openssl → unknown.
 */
import { spawn } from 'node:child_process';
import type { Target } from './target.js';

export interface OpensslProbe {
  readonly available: boolean;
  readonly serverHello: boolean;
  readonly certificateRequested: boolean;
  /** DNs as OpenSSL prints them (`O = X, CN = Y`). */
  readonly caNames: string[];
  /** The chain as presented (PEM), even when the handshake failed afterwards. */
  readonly chainPem: string[];
}

export function parseSClient(out: string): Omit<OpensslProbe, 'available'> {
  const caNames: string[] = [];
  const m =
    /\nAcceptable client certificate CA names\n([\s\S]*?)\n(?:Requested Signature|Client Certificate Types|Shared Requested|Peer signing|Server Temp Key|---)/.exec(
      out,
    );
  if (m?.[1])
    caNames.push(
      ...m[1]
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => l !== ''),
    );
  const chainSection = /\nCertificate chain\n([\s\S]*?)\n---\n/.exec(out)?.[1] ?? '';
  const chainPem = [...chainSection.matchAll(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g)].map(
    (x) => x[0],
  );
  return {
    serverHello: /<<< [^\n]*Handshake \[[^\]]*\], ServerHello\b/.test(out),
    certificateRequested: /<<< [^\n]*Handshake \[[^\]]*\], CertificateRequest\b/.test(out),
    caNames,
    chainPem,
  };
}

export function opensslProbe(
  target: Target,
  timeoutMs: number,
  openssl = 'openssl',
  ip?: string,
): Promise<OpensslProbe> {
  return new Promise((resolve) => {
    const addr = ip ?? target.host;
    const host = addr.includes(':') ? `[${addr}]` : addr;
    const args = ['s_client', '-connect', `${host}:${target.port}`, '-msg', '-showcerts'];
    if (target.servername !== undefined) args.push('-servername', target.servername);
    let out = '';
    let settled = false;
    const none: OpensslProbe = {
      available: false,
      serverHello: false,
      certificateRequested: false,
      caNames: [],
      chainPem: [],
    };
    const child = spawn(openssl, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const finish = (available: boolean): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      child.kill('SIGKILL');
      resolve(available ? { available, ...parseSClient(out) } : none);
    };
    const timer = setTimeout(() => {
      finish(out !== '');
    }, timeoutMs);
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      out += d;
    });
    child.once('error', () => {
      finish(false);
    });
    child.once('close', () => {
      finish(out !== '');
    });
    child.stdin.end();
  });
}
