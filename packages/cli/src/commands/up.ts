import { existsSync, promises as fs } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Command } from 'commander';
import type { LocalCa } from '@mutual/server';
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
import { loadServer } from '../server.js';

interface UpOptions {
  dir?: string;
  listen: string;
  port: string;
  caPort: string;
  adminPort: string;
  trustDomain: string;
}

type Names = { dns: string[]; ip: string[]; uri: string[]; email: string[] };

/** Issues (or re-issues when past 2/3 of its life) a certificate for the quickstart into certs/. */
async function ensureCertificate(
  ca: LocalCa,
  certsDir: string,
  base: string,
  profile: 'server' | 'client',
  names: Names,
  now: Date,
): Promise<{ cert: string; key: string }> {
  const cert = path.join(certsDir, `${base}.crt`);
  const key = path.join(certsDir, `${base}.key`);
  if (existsSync(cert) && existsSync(key)) {
    const [leaf] = readDerObjects(await readFileCapped(cert), ['CERTIFICATE']);
    if (leaf === undefined) throw new MutualError('ERR_PEM_EMPTY', { details: { file: cert } });
    const id = extractIdentity(leaf);
    const life = id.notAfter.getTime() - id.notBefore.getTime();
    if (now.getTime() < id.notBefore.getTime() + (life * 2) / 3) return { cert, key };
  }
  const keys = generateKeyPair('p256');
  const issued = await ca.issuance.issue({ profile, names, publicKey: keys.publicKey, requester: 'mutual-up' });
  await writeFileAtomic(key, exportPrivateKeyPem(keys.privateKey), { mode: 0o600 });
  await writeFileAtomic(cert, issued.chainPem);
  return { cert, key };
}

/**
 * The demo upstream behind the gateway: plain HTTP on loopback, answering with the identity the
 * gateway verified and forwarded in X-Forwarded-Client-Cert (it trusts that header only because
 * nothing but the gateway can reach it).
 */
async function startDemoUpstream(host: string): Promise<Server> {
  const server = createHttpServer((req, res) => {
    const xfcc = req.headers['x-forwarded-client-cert'];
    const value = Array.isArray(xfcc) ? (xfcc[0] ?? '') : (xfcc ?? '');
    const uri = /(?:^|;)URI=([^;,]+)/.exec(value)?.[1];
    const dns = /(?:^|;)DNS=([^;,]+)/.exec(value)?.[1];
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ hello: uri ?? dns ?? null, path: req.url, via: 'mutual gateway' }) + '\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, resolve);
  });
  return server;
}

function gatewayYaml(o: {
  host: string;
  port: number;
  adminPort: number;
  cert: string;
  key: string;
  root: string;
  upstreamPort: number;
  allowed: string;
  audit: string;
  caUrl: string;
}): string {
  const q = JSON.stringify;
  return `# Written by \`mutual up\` at every start (the demo upstream's port changes). Reference: docs/reference/gateway.md
version: 1
listeners:
  - name: demo
    listen: { host: ${q(o.host)}, port: ${o.port} }
    tls: { certificate: ${q(o.cert)}, key: ${q(o.key)} }
    clientAuth: { trustBundles: [${q(o.root)}] }
    routes:
      - name: demo
        path: { prefix: / }
        allow:
          - spiffeId: ${q(o.allowed)}
        upstream: demo
upstreams:
  demo: { url: ${q(`http://127.0.0.1:${o.upstreamPort}`)} }
admin:
  listen: { host: "127.0.0.1", port: ${o.adminPort} }
audit:
  file: ${q(o.audit)}
watch: false
report: { url: ${q(o.caUrl)}, ca: ${q(o.root)}, name: demo }
`;
}

export function registerUpCommand(program: Command, ctx: CliContext): void {
  program
    .command('up')
    .description('Quickstart: a local CA (online), demo certificates, and the mTLS gateway in front of a demo service')
    .option('--dir <dir>', 'CA directory (default: $MUTUAL_DIR or ./.mutual)')
    .option('--listen <address>', 'address of the CA and the gateway', '127.0.0.1')
    .option('--port <port>', 'port of the gateway (0 picks a free one)', '8444')
    .option('--ca-port <port>', 'port of the online CA (0 picks a free one)', '8443')
    .option('--admin-port <port>', "port of the gateway's metrics and health listener", '9090')
    .option('--trust-domain <domain>', 'SPIFFE trust domain for a new CA', 'mutual.local')
    .action(async (opts: UpOptions) => {
      const { CA_FILES, DEFAULT_ALLOW_DNS, initCa, openLocalCa, startCaServer, startGateway } = await loadServer();
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
      const allowedId = `spiffe://${td}/demo/client`;
      const otherId = `spiffe://${td}/demo/other`;
      const rootFingerprint = ca.rootFingerprint;
      let server: { cert: string; key: string };
      let client: { cert: string; key: string };
      let other: { cert: string; key: string };
      try {
        const names = (n: Partial<Names>): Names => ({ dns: [], ip: [], uri: [], email: [], ...n });
        server = await ensureCertificate(
          ca,
          certsDir,
          'localhost',
          'server',
          names({ dns: ['localhost'], ip: ['127.0.0.1', '::1'] }),
          now,
        );
        client = await ensureCertificate(ca, certsDir, 'demo-client', 'client', names({ uri: [allowedId] }), now);
        other = await ensureCertificate(ca, certsDir, 'demo-other', 'client', names({ uri: [otherId] }), now);
      } finally {
        await ca.close();
      }
      const rootFile = path.join(dir, CA_FILES.rootCert);

      const stops: (() => Promise<void>)[] = [];
      const stopAll = async (): Promise<void> => {
        for (const stop of stops.reverse()) await stop().catch(() => undefined);
      };
      let caUrl: string;
      let loginLink: string;
      let gatewayPort: number;
      let adminPort: number;
      try {
        const caServer = await startCaServer({
          dir,
          env: ctx.env,
          clock: { now: ctx.now },
          listen: { host: opts.listen, port: Number(opts.caPort) },
        });
        stops.push(() => caServer.close());
        caUrl = caServer.url;
        loginLink = caServer.loginLink();
        const upstream = await startDemoUpstream('127.0.0.1');
        stops.push(
          () =>
            new Promise<void>((resolve) => {
              upstream.close(() => {
                resolve();
              });
              upstream.closeAllConnections();
            }),
        );
        const configFile = path.join(dir, 'gateway.yaml');
        await writeFileAtomic(
          configFile,
          gatewayYaml({
            host: opts.listen,
            port: Number(opts.port),
            adminPort: Number(opts.adminPort),
            cert: server.cert,
            key: server.key,
            root: rootFile,
            upstreamPort: (upstream.address() as AddressInfo).port,
            allowed: allowedId,
            audit: path.join(dir, 'gateway-audit.jsonl'),
            caUrl,
          }),
        );
        const gateway = await startGateway({ configFile, env: ctx.env, clock: { now: ctx.now } });
        // The gateway reports to the CA (its certificate, refusals): the first report is in before the banner.
        await gateway.reporter?.flush();
        stops.push(() => gateway.close());
        gatewayPort = gateway.listeners[0]?.port ?? Number(opts.port);
        adminPort = gateway.adminPort;
      } catch (err) {
        await stopAll();
        throw err;
      }

      // Listen for Ctrl-C before announcing readiness, so a signal sent right after the banner is handled.
      const stopped = waitForStop();
      const rel = (p: string): string => path.relative(ctx.cwd, p) || p;
      const curl = (c: { cert: string; key: string } | undefined): string =>
        `curl --cacert ${rel(rootFile)}${c ? ` --cert ${rel(c.cert)} --key ${rel(c.key)}` : ''} https://localhost:${gatewayPort}/`;
      ctx.stdout(
        [
          '',
          `mutual is up. Root CA fingerprint: ${rootFingerprint}`,
          '',
          `Gateway (mTLS) listening on https://localhost:${gatewayPort}/ in front of a demo service; it admits ${allowedId} only.`,
          `  let in:              ${curl(client)}`,
          `  refused (403):       ${curl(other)}`,
          `  refused (no cert):   ${curl(undefined)}`,
          `  config: ${rel(path.join(dir, 'gateway.yaml'))}  audit: ${rel(path.join(dir, 'gateway-audit.jsonl'))}  metrics: http://127.0.0.1:${adminPort}/metrics`,
          '',
          `Online CA on ${caUrl}/ — get a first certificate from another terminal:`,
          `  npx mutual ca bootstrap --ca-url ${caUrl} --fingerprint ${rootFingerprint} --cert ${rel(path.join(dir, 'admin', 'admin.crt'))} --key ${rel(path.join(dir, 'admin', 'admin.key'))}`,
          `  npx mutual cert request api.internal --token "$(npx mutual token create api.internal --profile server)" --out certs/`,
          '',
          `Dashboard: ${loginLink}`,
          '  (one-time login link, valid 15 minutes; or use the admin certificate in your browser)',
          '',
          'Press Ctrl-C to stop.',
          '',
        ].join('\n'),
      );
      await stopped;
      await stopAll();
      ctx.stdout('Stopped.\n');
    });
}
