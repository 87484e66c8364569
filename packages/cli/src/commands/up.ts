import { existsSync, promises as fs } from 'node:fs';
import { createServer } from 'node:https';
import { TLSSocket } from 'node:tls';
import path from 'node:path';
import type { Command } from 'commander';
import type { LocalCa } from '@mutual/server';
import { loadServer } from '../server.js';
import {
  MutualError,
  exportPrivateKeyPem,
  extractIdentity,
  generateKeyPair,
  readDerObjects,
  readFileCapped,
  writeFileAtomic,
} from '@mutual/sdk';
import type { CliContext } from '../context.js';
import { caDir } from '../options.js';
import { waitForStop } from '../process.js';
import { colonHex } from '../output/index.js';

interface UpOptions {
  dir?: string;
  listen: string;
  port: string;
  caPort: string;
  trustDomain: string;
}

/** Issues (or re-issues when past 2/3 of its life) a certificate for the quickstart into certs/. */
async function ensureCertificate(
  ca: LocalCa,
  certsDir: string,
  base: string,
  profile: 'server' | 'client',
  names: { dns: string[]; ip: string[]; uri: string[]; email: string[] },
  now: Date,
): Promise<{ cert: string; key: string; fresh: boolean }> {
  const cert = path.join(certsDir, `${base}.crt`);
  const key = path.join(certsDir, `${base}.key`);
  if (existsSync(cert) && existsSync(key)) {
    const [leaf] = readDerObjects(await readFileCapped(cert), ['CERTIFICATE']);
    if (leaf === undefined) throw new MutualError('ERR_PEM_EMPTY', { details: { file: cert } });
    const id = extractIdentity(leaf);
    const life = id.notAfter.getTime() - id.notBefore.getTime();
    if (now.getTime() < id.notBefore.getTime() + (life * 2) / 3) return { cert, key, fresh: false };
  }
  const keys = generateKeyPair('p256');
  const issued = await ca.issuance.issue({ profile, names, publicKey: keys.publicKey, requester: 'mutual-up' });
  await writeFileAtomic(key, exportPrivateKeyPem(keys.privateKey), { mode: 0o600 });
  await writeFileAtomic(cert, issued.chainPem);
  return { cert, key, fresh: true };
}

export function registerUpCommand(program: Command, ctx: CliContext): void {
  program
    .command('up')
    .description(
      'Quickstart: create a local CA if there is none, issue demo certificates and serve an mTLS echo endpoint',
    )
    .option('--dir <dir>', 'CA directory (default: $MUTUAL_DIR or ./.mutual)')
    .option('--listen <address>', 'address of the demo mTLS endpoint', '127.0.0.1')
    .option('--port <port>', 'port of the demo mTLS endpoint (0 picks a free one)', '8444')
    .option('--ca-port <port>', 'port of the online CA (0 picks a free one)', '8443')
    .option('--trust-domain <domain>', 'SPIFFE trust domain for a new CA', 'mutual.local')
    .action(async (opts: UpOptions) => {
      const { CA_FILES, DEFAULT_ALLOW_DNS, initCa, openLocalCa, startCaServer } = await loadServer();
      const dir = caDir(ctx, opts.dir);
      const now = ctx.now();
      if (!existsSync(path.join(dir, CA_FILES.config))) {
        const created = await initCa({
          dir,
          name: 'mutual local',
          keyType: 'p256',
          passphrase: { mode: 'generate' },
          trustDomain: opts.trustDomain,
          allowDns: [...DEFAULT_ALLOW_DNS],
          env: ctx.env,
          now,
        });
        ctx.stdout(`Created a local CA in ${created.dir} (key passphrase in ${created.passphraseFile ?? '-'})\n`);
      }
      const ca = await openLocalCa({ dir, env: ctx.env, clock: { now: ctx.now } });
      const certsDir = path.join(dir, 'certs');
      await fs.mkdir(certsDir, { recursive: true, mode: 0o700 });
      const td = ca.loaded.config.policy.client.spiffe.trustDomain ?? opts.trustDomain;
      let server: { cert: string; key: string };
      let client: { cert: string; key: string };
      try {
        server = await ensureCertificate(
          ca,
          certsDir,
          'localhost',
          'server',
          { dns: ['localhost'], ip: ['127.0.0.1', '::1'], uri: [], email: [] },
          now,
        );
        client = await ensureCertificate(
          ca,
          certsDir,
          'demo-client',
          'client',
          { dns: [], ip: [], uri: [`spiffe://${td}/demo/client`], email: [] },
          now,
        );
      } finally {
        await ca.close();
      }
      const rootFile = path.join(dir, CA_FILES.rootCert);
      const caServer = await startCaServer({
        dir,
        env: ctx.env,
        clock: { now: ctx.now },
        listen: { host: opts.listen, port: Number(opts.caPort) },
      });

      const https = createServer(
        {
          cert: await fs.readFile(server.cert),
          key: await fs.readFile(server.key),
          ca: await fs.readFile(rootFile),
          requestCert: true,
          rejectUnauthorized: true,
          minVersion: 'TLSv1.2',
        },
        (req, res) => {
          const socket = req.socket;
          if (!(socket instanceof TLSSocket)) throw new Error('not a TLS connection');
          const peer = socket.getPeerCertificate();
          const identity = extractIdentity(new Uint8Array(peer.raw));
          res.setHeader('content-type', 'application/json');
          res.end(JSON.stringify({ hello: identity.value, kind: identity.kind, serial: identity.serialHex }) + '\n');
        },
      );
      try {
        await new Promise<void>((resolve, reject) => {
          https.once('error', reject);
          https.listen(Number(opts.port), opts.listen, () => {
            resolve();
          });
        });
      } catch (err) {
        await caServer.close();
        throw new MutualError('ERR_CLI_LISTEN_FAILED', {
          details: { address: `${opts.listen}:${opts.port}` },
          cause: err,
        });
      }
      const address = https.address();
      const port = typeof address === 'object' && address !== null ? address.port : Number(opts.port);
      // Listen for Ctrl-C before announcing readiness, so a signal sent right after the banner is handled.
      const stopped = waitForStop();
      const rel = (p: string): string => path.relative(ctx.cwd, p) || p;
      ctx.stdout(
        [
          '',
          `mutual is up. Root CA fingerprint: SHA256 ${colonHex(ca.rootFingerprint)}`,
          `  trust anchor:  ${rel(rootFile)}`,
          `  server cert:   ${rel(server.cert)}`,
          `  client cert:   ${rel(client.cert)}  (spiffe://${td}/demo/client)`,
          '',
          `Demo mTLS endpoint listening on https://localhost:${port}/`,
          `  let in:   curl --cacert ${rel(rootFile)} --cert ${rel(client.cert)} --key ${rel(client.key)} https://localhost:${port}/`,
          `  refused:  curl --cacert ${rel(rootFile)} https://localhost:${port}/`,
          '',
          `Online CA on ${caServer.url}/ — get a first certificate from another terminal:`,
          `  mutual ca bootstrap --ca-url ${caServer.url} --fingerprint ${ca.rootFingerprint} --cert ${rel(path.join(dir, 'admin', 'admin.crt'))} --key ${rel(path.join(dir, 'admin', 'admin.key'))}`,
          `  mutual cert request api.internal --token "$(mutual token create api.internal --profile server)" --out certs/`,
          '',
          'More: mutual cert issue <name> --profile server|client|both, mutual cert list, mutual cert inspect <file>.',
          'Press Ctrl-C to stop.',
          '',
        ].join('\n'),
      );
      await stopped;
      await caServer.close();
      await new Promise<void>((resolve) => {
        https.close(() => {
          resolve();
        });
        https.closeAllConnections();
      });
      ctx.stdout('Stopped.\n');
    });
}
