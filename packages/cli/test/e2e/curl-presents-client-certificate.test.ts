import { mkdirSync, copyFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BATCH, WEB, makePki, startHarness, type Harness } from '../../../server/test/e2e/gateway-harness.js';
import { mutual, tempDir } from '../support.js';

// `mutual curl` through a real mutual gateway to an upstream that echoes what it receives.
const pki = makePki();
let h: Harness;
const web = pki.client('web', { profile: 'client', names: { uri: [WEB] } });
const batch = pki.client('batch', { profile: 'client', names: { uri: [BATCH] } });

beforeAll(async () => {
  h = await startHarness(
    {
      routes: [{ name: 'api', path: { prefix: '/' }, allow: [{ spiffeId: WEB }], upstream: 'app' }],
    },
    { pki },
  );
});
afterAll(async () => {
  await h.close();
});

const ctx = tempDir('mutual-ctx-');
const curl = (args: string[], env: Record<string, string> = {}) =>
  mutual(['curl', ...args], { env: { MUTUAL_CONTEXT_DIR: ctx, ...env } });
const url = (p = '/echo'): string => `https://localhost:${h.port}${p}`;
const as = (c: typeof web) => ['--cert', c.certFile, '--key', c.keyFile, '--ca', pki.trustFile];

describe('mutual curl', () => {
  it('sends -X, -H and -d with the client certificate; the upstream sees the identity the gateway verified', async () => {
    const r = await curl([
      url('/orders?id=7'),
      ...as(web),
      '-X',
      'PUT',
      '-H',
      'X-Test: one',
      '-H',
      'Content-Type: application/json',
      '-d',
      '{"qty":2}',
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const echo = JSON.parse(r.stdout) as { method: string; url: string; headers: Record<string, string>; body: string };
    expect(echo).toMatchObject({ method: 'PUT', url: '/orders?id=7', body: '{"qty":2}' });
    expect(echo.headers['x-test']).toBe('one');
    expect(echo.headers['content-type']).toBe('application/json');
    expect(echo.headers['x-forwarded-client-cert']).toContain(`URI=${WEB}`);
  });

  it('-d @file sends the file and defaults to POST', async () => {
    const file = path.join(ctx, 'body.txt');
    writeFileSync(file, 'from a file');
    const r = await curl([url(), ...as(web), '-d', `@${file}`]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ method: 'POST', body: 'from a file' });
  });

  it('-i prints the status line and headers before the body', async () => {
    const r = await curl([url(), ...as(web), '-i']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(r.stdout).toMatch(/\r\ncontent-type: application\/json\r\n[\s\S]*\r\n\r\n\{"method":"GET"/i);
  });

  it('-v prints the handshake to stderr: version, cipher, group, both identities and the acceptable CA names', async () => {
    const r = await curl([url(), ...as(web), '-v']);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/\* TLS TLSv1\.3, cipher TLS_\w+, key exchange group \w+/);
    expect(r.stderr).toContain('* Server certificate chain:');
    expect(r.stderr).toMatch(/\* {2}0: CN=localhost \[DNS:localhost, .*URI:spiffe:\/\/example\.org\/gateway/);
    expect(r.stderr).toMatch(/\* {2}1: O=mutual test, CN=mutual test intermediate/);
    expect(r.stderr).toMatch(
      /\* {2}2: O=mutual test, CN=mutual test root p256 \(trust anchor: yours, not sent by the server\)/,
    );
    expect(r.stderr).toContain(`* Client certificate sent: URI:${WEB}`);
    expect(r.stderr).toMatch(/acceptable CA names:\n\* {3}O = mutual test, CN = mutual test root/);
    expect(r.stderr).toContain('< HTTP/1.1 200 OK');
    expect(JSON.parse(r.stdout)).toMatchObject({ method: 'GET' });
  });

  it('exits 0 on any response, like curl without -f: a 403 is printed, not an error', async () => {
    const r = await curl([url(), ...as(batch)]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('{"error":{"code":"ERR_GATEWAY_FORBIDDEN"}}');
  });

  it('--identity NAME reads <MUTUAL_CONTEXT_DIR>/identities/NAME/{cert,key,ca}.pem', async () => {
    const dir = path.join(ctx, 'identities', 'web');
    mkdirSync(dir, { recursive: true });
    copyFileSync(web.certFile, path.join(dir, 'cert.pem'));
    copyFileSync(web.keyFile, path.join(dir, 'key.pem'));
    copyFileSync(pki.trustFile, path.join(dir, 'ca.pem'));
    const r = await curl([url(), '--identity', 'web']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ method: 'GET' });

    const missing = await curl([url(), '--identity', 'nobody']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('error[ERR_CLI_IDENTITY_NOT_FOUND]');
    expect(missing.stderr).toContain(path.join(ctx, 'identities', 'nobody', 'cert.pem'));
  });
});
