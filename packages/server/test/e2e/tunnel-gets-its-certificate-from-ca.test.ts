// `startTunnel` with `fromCa`: the tunnel enrolls its client certificate with a one-time token
// from a real CA, presents it to an mTLS server (the SDK's createMtlsServer, which admits only
// that identity), and after a renewal new connections present the new certificate while an open
// relayed connection keeps working.
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { X509Certificate, createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { writeFileSync } from 'node:fs';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { authorizeID, createCredentials, createMtlsServer, type MtlsDecision } from '@mutual/sdk';
import { startTunnel } from '../../src/index.js';
import { admin, call, cleanupDirs, mintToken, startTestCa } from './support/ca-server.js';

const BIN = fileURLToPath(new URL('../../../cli/dist/bin.js', import.meta.url));
const API = 'spiffe://example.test/api';
const CLIENT = 'spiffe://example.test/tunnel';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
afterAll(cleanupDirs);

/** Opens a plain TCP connection to the tunnel and reads the server's first line. */
async function greet(port: number): Promise<{ line: string; socket: Socket }> {
  const socket = connect(port, '127.0.0.1');
  socket.setEncoding('utf8');
  cleanups.push(() => {
    socket.destroy();
  });
  let text = '';
  await new Promise<void>((resolve, reject) => {
    socket.on('data', (c: string) => {
      text += c;
      if (text.includes('\n')) resolve();
    });
    socket.on('error', reject);
    socket.on('close', () => {
      reject(new Error(`closed after ${JSON.stringify(text)}`));
    });
  });
  return { line: text.split('\n')[0] ?? '', socket };
}

async function echo(socket: Socket, msg: string): Promise<string> {
  let text = '';
  const got = new Promise<string>((resolve) => {
    const on = (c: string): void => {
      text += c;
      if (text.includes(msg)) {
        socket.off('data', on);
        resolve(text);
      }
    };
    socket.on('data', on);
  });
  socket.write(msg);
  return got;
}

describe('tunnel with a certificate from the CA', () => {
  it('enrolls, is admitted by identity, and presents the renewed certificate on new connections', async () => {
    const ca = await startTestCa();
    cleanups.push(() => ca.close());
    const server = createCredentials({
      ca: { url: ca.server.url, root: ca.server.rootPem },
      token: await mintToken(ca, { uri: [API] }, 'server'),
    });
    cleanups.push(() => {
      server.stop();
    });
    await server.ready();
    const decisions: MtlsDecision[] = [];
    const mtls = createMtlsServer(server, {
      authorize: authorizeID(CLIENT),
      onDecision: (d) => decisions.push(d),
      onConnection: (socket, peer) => {
        socket.write(`hello ${peer.identity.spiffeId ?? ''} ${peer.identity.serialHex}\n`);
        socket.pipe(socket);
      },
    });
    mtls.listen(0, '127.0.0.1');
    await once(mtls, 'listening');
    cleanups.push(
      () =>
        new Promise<void>((r) =>
          mtls.close(() => {
            r();
          }),
        ),
    );

    const tokenFile = ca.work('tunnel.token');
    writeFileSync(tokenFile, await mintToken(ca, { uri: [CLIENT] }, 'client'), { mode: 0o600 });
    const tunnel = await startTunnel({
      listen: '127.0.0.1:0',
      target: `127.0.0.1:${(mtls.address() as AddressInfo).port}`,
      fromCa: {
        url: ca.server.url,
        rootFile: ca.files.root,
        tokenFile,
        lifetime: '1h',
        report: { name: 'db tunnel' },
      },
      expectSpiffeId: API,
    });
    cleanups.push(() => tunnel.close());
    const first = tunnel.credentials?.current();
    expect(first?.identity.spiffeId).toBe(CLIENT);

    // It reports to the CA: its certificate and the root it checks the server with, which `ca trust` compares.
    const component = async (): Promise<unknown> => {
      await tunnel.reporting?.reportNow();
      const r = await call(ca, { path: '/v1/components', ...admin(ca) });
      expect(r.status).toBe(200);
      return r.json<{ items: { kind: string }[] }>().items.find((c) => c.kind === 'tunnel');
    };
    const rootFp = createHash('sha256').update(new X509Certificate(ca.server.rootPem).raw).digest('hex');
    expect(await component()).toMatchObject({
      name: 'db tunnel',
      reportedBy: CLIENT,
      health: { status: 'ok', trustAnchors: [rootFp] },
      certificates: [{ name: 'db tunnel', serial: first?.serial, overdue: false }],
    });

    const a = await greet(tunnel.port);
    expect(a.line).toBe(`hello ${CLIENT} ${first?.serial ?? ''}`);

    const reloaded = once(tunnel.events, 'reload') as Promise<[{ ok: boolean }]>;
    const renewed = await tunnel.credentials?.renewNow();
    expect((await reloaded)[0].ok).toBe(true);
    expect(renewed?.serial).not.toBe(first?.serial);

    const b = await greet(tunnel.port);
    expect(b.line).toBe(`hello ${CLIENT} ${renewed?.serial ?? ''}`);
    // The connection relayed before the renewal is still open and carries bytes.
    expect(await echo(a.socket, 'still here')).toContain('still here');
    expect(decisions.map((d) => [d.decision, d.serial])).toEqual([
      ['allow', first?.serial],
      ['allow', renewed?.serial],
    ]);
    // Reported with the renewed certificate (and authenticated by it).
    expect(await component()).toMatchObject({ certificates: [{ serial: renewed?.serial }] });
  });

  it('mutual tunnel --from-ca enrolls from the built CLI and is admitted; missing flags are usage errors', async () => {
    const ca = await startTestCa();
    cleanups.push(() => ca.close());
    const server = createCredentials({
      ca: { url: ca.server.url, root: ca.server.rootPem },
      token: await mintToken(ca, { uri: [API] }, 'server'),
    });
    cleanups.push(() => {
      server.stop();
    });
    await server.ready();
    const mtls = createMtlsServer(server, {
      authorize: authorizeID(CLIENT),
      onConnection: (socket, peer) => {
        socket.end(`hello ${peer.identity.spiffeId ?? ''}\n`);
      },
    });
    mtls.listen(0, '127.0.0.1');
    await once(mtls, 'listening');
    cleanups.push(
      () =>
        new Promise<void>((r) =>
          mtls.close(() => {
            r();
          }),
        ),
    );
    const tokenFile = ca.work('cli.token');
    writeFileSync(tokenFile, await mintToken(ca, { uri: [CLIENT] }, 'client'), { mode: 0o600 });
    const base = [
      BIN,
      'tunnel',
      '--listen',
      '127.0.0.1:0',
      '--target',
      `127.0.0.1:${(mtls.address() as AddressInfo).port}`,
      '--from-ca',
      ca.server.url,
      '--expect-spiffe-id',
      API,
    ];
    const run = (args: string[]): Promise<{ code: number; stderr: string }> =>
      new Promise((resolve) => {
        execFile(process.execPath, args, (err, _stdout, stderr) => {
          resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stderr });
        });
      });
    const noToken = await run([...base, '--ca', ca.files.root]);
    expect([noToken.code, noToken.stderr]).toEqual([2, expect.stringContaining('--token-file')]);
    const noRoot = await run([...base, '--token-file', tokenFile]);
    expect([noRoot.code, noRoot.stderr]).toEqual([2, expect.stringContaining('--fingerprint')]);

    const child = spawn(process.execPath, [...base, '--ca', ca.files.root, '--token-file', tokenFile], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    cleanups.push(() => {
      child.kill('SIGKILL');
    });
    let err = '';
    const port = await new Promise<number>((resolve, reject) => {
      child.stderr.setEncoding('utf8').on('data', (d: string) => {
        err += d;
        const m = /mutual tunnel ready: 127\.0\.0\.1:(\d+)/.exec(err);
        if (m) resolve(Number(m[1]));
      });
      child.once('exit', (code) => {
        reject(new Error(`exited ${String(code)}: ${err}`));
      });
    });
    expect((await greet(port)).line).toBe(`hello ${CLIENT}`);
    expect(ca.audit().filter((a) => a.action === 'token.use')).toHaveLength(2); // the server's and the tunnel's
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    expect(((await exited) as [number | null])[0]).toBe(0);
  });
});
