import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { TLSSocket, type PeerCertificate } from 'node:tls';
import type { Command } from 'commander';
import { MutualError } from '@mutual/sdk';
import type { CliContext } from '../context.js';
import { collect } from '../options.js';

interface CurlFlags {
  cert?: string;
  key?: string;
  ca?: string[];
  identity?: string;
  request?: string;
  header?: string[];
  data?: string;
  include?: boolean;
  verbose?: boolean;
}

/**
 * `mutual curl <url>`: an HTTP client that presents a client certificate. Exit 0 whenever a response
 * arrives (like curl without -f), 1 when the connection or the handshake fails, 2 on usage errors.
 */
export function registerCurlCommand(program: Command, ctx: CliContext): void {
  program
    .command('curl')
    .description('Make an HTTPS request that presents your client certificate; -v shows the whole handshake')
    .argument('<url>', 'https:// URL')
    .option('--cert <file>', 'client certificate (leaf first, then intermediates)')
    .option('--key <file>', 'private key of --cert')
    .option(
      '--ca <file>',
      'trust anchors for the server (repeatable; default: the saved context, else the system roots)',
      collect,
    )
    .option('--identity <name>', 'use an identity the agent manages: <context dir>/identities/NAME/{cert,key,ca}.pem')
    .option('-X, --request <method>', 'HTTP method (default GET, or POST with -d)')
    .option('-H, --header <header>', '"Name: value" (repeatable)', collect)
    .option('-d, --data <data>', 'request body; @file reads a file')
    .option('-i, --include', 'print the response status line and headers before the body')
    .option(
      '-v, --verbose',
      'print the handshake (TLS version, cipher, group, both identities, acceptable CAs) to stderr',
    )
    .action(async (url: string, flags: CurlFlags) => {
      await runCurl(ctx, url, flags);
    });
}

async function runCurl(ctx: CliContext, urlText: string, flags: CurlFlags): Promise<void> {
  const { loadMaterial, parseTarget, explainTlsError, oneLine, summarize } = await import('../doctor/index.js');
  const target = parseTarget(urlText);
  if (typeof target === 'string' || target.url === undefined) {
    ctx.stderr(`error[ERR_USAGE_INVALID_ARGUMENT]: ${typeof target === 'string' ? target : 'give an https:// URL'}\n`);
    ctx.exitCode = 2;
    return;
  }
  const url = target.url;
  const material = await loadMaterial(ctx, flags);
  const headers: Record<string, string> = {};
  for (const h of flags.header ?? []) {
    const i = h.indexOf(':');
    if (i <= 0) {
      ctx.stderr(`error[ERR_USAGE_INVALID_ARGUMENT]: header "${h}" is not "Name: value"\n`);
      ctx.exitCode = 2;
      return;
    }
    headers[h.slice(0, i).trim()] = h.slice(i + 1).trim();
  }
  let body: Buffer | undefined;
  if (flags.data !== undefined) {
    body = flags.data.startsWith('@')
      ? await readFile(path.resolve(ctx.cwd, flags.data.slice(1)))
      : Buffer.from(flags.data, 'utf8');
    if (!Object.keys(headers).some((k) => k.toLowerCase() === 'content-type')) {
      headers['Content-Type'] = 'application/x-www-form-urlencoded';
    }
    headers['Content-Length'] = String(body.length);
  }
  const method = (flags.request ?? (body ? 'POST' : 'GET')).toUpperCase();
  const v = (line: string): void => {
    if (flags.verbose) ctx.stderr(`${line}\n`);
  };

  if (flags.verbose) {
    // What the server asks for is not exposed by Node; openssl s_client reads it from the CertificateRequest.
    const { opensslProbe } = await import('../doctor/openssl.js');
    const probe = await opensslProbe(target, 5000);
    if (!probe.available) v('* (openssl not found: cannot show whether the server asks for a client certificate)');
    else if (!probe.certificateRequested) v('* The server does not ask for a client certificate');
    else if (probe.caNames.length === 0) v('* The server asks for a client certificate (no acceptable CA names sent)');
    else {
      v('* The server asks for a client certificate; acceptable CA names:');
      for (const n of probe.caNames) v(`*   ${n}`);
    }
  }

  const { request } = await import('node:https');
  await new Promise<void>((resolve, reject) => {
    const req = request(
      url,
      {
        method,
        headers,
        agent: false,
        ...(target.servername !== undefined ? { servername: target.servername } : {}),
        ...(material.anchorsExplicit ? { ca: material.anchors } : {}),
        ...(material.chainPem !== undefined ? { cert: material.chainPem } : {}),
        ...(material.keyPem !== undefined ? { key: material.keyPem } : {}),
      },
      (res) => {
        v(`< HTTP/${res.httpVersion} ${res.statusCode ?? 0} ${res.statusMessage ?? ''}`);
        for (let i = 0; i + 1 < res.rawHeaders.length; i += 2)
          v(`< ${res.rawHeaders[i] ?? ''}: ${res.rawHeaders[i + 1] ?? ''}`);
        if (flags.include) {
          let head = `HTTP/${res.httpVersion} ${res.statusCode ?? 0} ${res.statusMessage ?? ''}\r\n`;
          for (let i = 0; i + 1 < res.rawHeaders.length; i += 2)
            head += `${res.rawHeaders[i] ?? ''}: ${res.rawHeaders[i + 1] ?? ''}\r\n`;
          ctx.stdout(`${head}\r\n`);
        }
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          ctx.stdout(Buffer.concat(chunks).toString('utf8'));
          resolve();
        });
        res.on('error', reject);
      },
    );
    req.on('socket', (socket) => {
      socket.on('connect', () => {
        v(`* Connected to ${target.host} (${socket.remoteAddress ?? '?'}) port ${target.port}`);
      });
      if (!(socket instanceof TLSSocket)) return;
      const tls = socket;
      socket.on('secureConnect', () => {
        const eph = tls.getEphemeralKeyInfo();
        const group = eph && 'name' in eph ? String(eph.name) : 'none';
        v(`* TLS ${tls.getProtocol() ?? '?'}, cipher ${tls.getCipher().standardName}, key exchange group ${group}`);
        const peer = tls.getPeerCertificate(true);
        const seen = new Set<string>();
        v('* Server certificate chain:');
        let c: (Partial<PeerCertificate> & { issuerCertificate?: PeerCertificate }) | undefined = peer;
        let i = 0;
        while (c?.raw !== undefined && !seen.has(c.fingerprint256 ?? '')) {
          seen.add(c.fingerprint256 ?? '');
          const s = summarize(c.raw);
          const anchor = i > 0 && s.subject === s.issuer ? ' (trust anchor: yours, not sent by the server)' : '';
          v(`*  ${i}: ${s.subject}${s.names.length > 0 ? ` [${s.names.join(', ')}]` : ''}${anchor}`);
          v(`*     issuer ${s.issuer}; valid ${s.notBefore} → ${s.notAfter}`);
          c = c.issuerCertificate;
          i++;
        }
        v(`* Server certificate verified by OpenSSL against ${material.anchorSource}`);
        if (material.chainPem !== undefined) {
          const leaf =
            material.chainPem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/)?.[0] ?? '';
          const s = summarize(Buffer.from(leaf.replace(/-----[^-]+-----|\s/g, ''), 'base64'));
          v(`* Client certificate sent: ${s.names[0] ?? s.subject} (issuer ${s.issuer}; valid until ${s.notAfter})`);
        } else {
          v('* No client certificate configured');
        }
        v(`> ${method} ${url.pathname}${url.search} HTTP/1.1`);
        v(`> Host: ${url.host}`);
        for (const [k, val] of Object.entries(headers)) v(`> ${k}: ${val}`);
      });
    });
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ECONNREFUSED' || err.code === 'ENOTFOUND' || err.code === 'ETIMEDOUT') {
        reject(
          new MutualError('ERR_CLI_CONNECT_FAILED', {
            message: `Could not connect to ${target.host}:${target.port}: ${err.code}.`,
          }),
        );
        return;
      }
      const f = explainTlsError(err);
      reject(
        new MutualError('ERR_CLI_TLS_REFUSED', {
          message: `${oneLine(f)}. Run \`mutual doctor ${url.href}\` with the same --cert/--key/--ca for the diagnosis and the fix.`,
        }),
      );
    });
    req.end(body);
  });
}
