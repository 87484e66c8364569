// `startTunnel` with `fromCa`: the tunnel enrolls its client certificate with a one-time token
// from a real CA, presents it to an mTLS server (the SDK's createMtlsServer, which admits only
// that identity), and after a renewal new connections present the new certificate while an open
// relayed connection keeps working.
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { authorizeID, createCredentials, createMtlsServer, type MtlsDecision } from '@mutual/sdk';
import { startTunnel } from '../../src/index.js';
import { cleanupDirs, mintToken, startTestCa } from './support/ca-server.js';

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
      fromCa: { url: ca.server.url, rootFile: ca.files.root, tokenFile, lifetime: '1h' },
      expectSpiffeId: API,
    });
    cleanups.push(() => tunnel.close());
    const first = tunnel.credentials?.current();
    expect(first?.identity.spiffeId).toBe(CLIENT);

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
  });
});
