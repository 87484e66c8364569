// A gateway listener with `tls.fromCa`: it enrolls with a one-time token from a real CA before it
// listens, serves that certificate (openssl s_client and curl verify it against the CA root), and
// swaps in a renewed one without dropping a keep-alive connection. `gateway check` never spends
// the token, and a used token cannot start a second gateway.
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { Agent, request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import type { MutualError } from '@mutual/sdk';
import { checkGateway, startGateway, type RunningGateway } from '../../src/index.js';
import type { GatewayReloadResult } from '../../src/index.js';
import { cleanupDirs, enroll, mintToken, runAsync, startTestCa, type TestCa } from './support/ca-server.js';

const WEB = 'spiffe://example.test/web';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
afterAll(cleanupDirs);

async function upstream(): Promise<number> {
  const server: Server = createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ path: req.url, xfcc: req.headers['x-forwarded-client-cert'] ?? null }));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(
    () =>
      new Promise<void>((r) =>
        server.close(() => {
          r();
        }),
      ),
  );
  return (server.address() as AddressInfo).port;
}

async function setup(persist = false): Promise<{ ca: TestCa; configFile: string; tokenFile: string }> {
  const ca = await startTestCa();
  cleanups.push(() => ca.close());
  const tokenFile = ca.work('gateway.token');
  writeFileSync(tokenFile, await mintToken(ca, { dns: ['localhost'] }, 'server'), { mode: 0o600 });
  const configFile = ca.work('gateway.yaml');
  writeFileSync(
    configFile,
    stringify({
      version: 1,
      listeners: [
        {
          name: 'web',
          listen: { host: '127.0.0.1', port: 0 },
          tls: {
            fromCa: {
              url: ca.server.url,
              rootFile: ca.files.root,
              tokenFile,
              lifetime: '1h',
              ...(persist ? { persist: { certificate: ca.work('gw.crt'), key: ca.work('gw.key') } } : {}),
            },
          },
          clientAuth: { trustBundles: [ca.files.root] },
          routes: [{ name: 'api', path: { prefix: '/' }, allow: [{ spiffeId: WEB }], upstream: 'app' }],
        },
      ],
      upstreams: { app: { url: `http://127.0.0.1:${await upstream()}` } },
      admin: { listen: { host: '127.0.0.1', port: 0 } },
      audit: { file: ca.work('audit.jsonl') },
      watch: false,
    }),
  );
  return { ca, configFile, tokenFile };
}

async function servedSerial(ca: TestCa, port: number): Promise<{ serial: string; verify: string }> {
  const r = await runAsync('sh', [
    '-c',
    `out=$(openssl s_client -connect 127.0.0.1:${port} -servername localhost -verify_hostname localhost -CAfile ${ca.files.root} </dev/null 2>/dev/null); ` +
      `echo "$out" | grep 'Verify return code' >&2; echo "$out" | openssl x509 -noout -serial`,
  ]);
  const verify = /Verify return code: (\d+ \([^)]*\))/.exec(r.stderr)?.[1] ?? r.stderr;
  return { serial: (r.stdout.trim().split('=')[1] ?? '').toLowerCase().replace(/^0+/, ''), verify };
}

describe('gateway listener with a certificate from the CA', () => {
  it('serves a CA-issued certificate, renews it in place and keeps open connections', async () => {
    const { ca, configFile } = await setup();
    const checked = await checkGateway({ configFile });
    expect(checked.listeners[0]?.serverNotAfter).toBe(`from the CA at ${ca.server.url}`);
    expect(ca.audit().filter((a) => a.action === 'token.use')).toHaveLength(0); // check never enrolls

    const logs: string[] = [];
    const gw: RunningGateway = await startGateway({
      configFile,
      env: {},
      sighup: false,
      log: (level, message, fields) => logs.push(`${level} ${message} ${JSON.stringify(fields ?? {})}`),
    });
    cleanups.push(() => gw.close());
    const port = gw.listeners[0]?.port ?? 0;
    const creds = gw.credentials.get('web');
    const first = creds?.current();
    expect(first?.identity.dnsNames).toEqual(['localhost']);

    // openssl verifies the served chain and host name against the CA root; it is the enrolled certificate.
    const served = await servedSerial(ca, port);
    expect(served).toEqual({ serial: first?.serial, verify: '0 (ok)' });

    // curl, with a client certificate from the same CA, gets through to the upstream.
    const web = await enroll(ca, 'web', `URI:${WEB}`, { uri: [WEB] }, 'client');
    const curl = await runAsync('curl', [
      '-sS',
      '--cacert',
      ca.files.root,
      '--cert',
      web.certFile,
      '--key',
      web.keyFile,
      '--resolve',
      `localhost:${port}:127.0.0.1`,
      `https://localhost:${port}/hello`,
    ]);
    expect(curl.stderr).toBe('');
    expect(JSON.parse(curl.stdout)).toMatchObject({ path: '/hello' });

    // A keep-alive connection opened before the renewal keeps working after it.
    const agent = new Agent({ keepAlive: true, maxSockets: 1, ca: ca.server.rootPem, cert: web.chain, key: web.key });
    cleanups.push(() => {
      agent.destroy();
    });
    const get = (): Promise<{ status: number; serial: string; socket: object }> =>
      new Promise((resolve, reject) => {
        const req = httpsRequest({ host: '127.0.0.1', port, servername: 'localhost', path: '/k', agent }, (res) => {
          // Read the connection now: once the response ends, the socket goes back to the pool.
          const socket: object = res.socket;
          const cert = (socket as { getPeerCertificate(): { serialNumber: string } }).getPeerCertificate();
          res.resume();
          res.on('end', () => {
            resolve({
              status: res.statusCode ?? 0,
              serial: cert.serialNumber.toLowerCase().replace(/^0+/, ''),
              socket,
            });
          });
        });
        req.on('error', reject);
        req.end();
      });
    const before = await get();
    expect(before).toMatchObject({ status: 200, serial: first?.serial });

    const reloaded = once(gw.gateway.events, 'reload') as Promise<[GatewayReloadResult]>;
    const renewed = await creds?.renewNow();
    expect((await reloaded)[0].ok).toBe(true);
    expect(renewed?.serial).not.toBe(first?.serial);
    expect(ca.audit().find((a) => a.action === 'certificate.renew')).toMatchObject({
      actor: `cert:${first?.serial ?? ''}`,
      subject: renewed?.serial,
    });

    const after = await get();
    expect(after).toMatchObject({ status: 200, serial: first?.serial });
    expect(after.socket).toBe(before.socket); // the same connection, not dropped
    expect(await servedSerial(ca, port)).toEqual({ serial: renewed?.serial, verify: '0 (ok)' });
    expect(logs.some((l) => l.includes('listener certificate renewed from the CA'))).toBe(true);
  });

  it('a spent token cannot start a second gateway (tokens work once)', async () => {
    const { configFile } = await setup();
    const gw = await startGateway({ configFile, env: {}, sighup: false, log: () => undefined });
    await gw.close();
    const err = await startGateway({ configFile, env: {}, sighup: false, log: () => undefined }).then(
      () => undefined,
      (e: unknown) => e as MutualError,
    );
    expect(err?.code).toBe('ERR_CREDENTIALS_CANNOT_ENROLL');
    expect(err?.details).toMatchObject({ last: 'ERR_TOKEN_REPLAYED' });
  });

  it('with persist, a restarted gateway serves its stored certificate without a new token', async () => {
    const { ca, configFile } = await setup(true);
    const gw = await startGateway({ configFile, env: {}, sighup: false, log: () => undefined });
    const serial = gw.credentials.get('web')?.current().serial;
    await gw.close();
    const again = await startGateway({ configFile, env: {}, sighup: false, log: () => undefined });
    cleanups.push(() => again.close());
    expect(again.credentials.get('web')?.current().serial).toBe(serial);
    expect(await servedSerial(ca, again.listeners[0]?.port ?? 0)).toEqual({ serial, verify: '0 (ok)' });
    expect(ca.audit().filter((a) => a.action === 'token.use')).toHaveLength(1);
  });
});
