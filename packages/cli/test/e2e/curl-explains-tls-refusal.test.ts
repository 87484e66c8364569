import { afterAll, describe, expect, it } from 'vitest';
import { freePort, mutual } from '../support.js';
import { CLIENT, SERVER, makeTestPki, sServer } from '../doctor-support.js';

const pki = makeTestPki();
const server = pki.write('server', SERVER);
const stops: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const s of stops) await s();
});

describe('mutual curl when the handshake fails', () => {
  it('says in one line that the server refused the certificate (alert 48, unknown CA), points to doctor, exits 1', async () => {
    const other = makeTestPki(new Date(), 'other org');
    const stranger = other.write('stranger', CLIENT);
    const s = await sServer(server, ['-Verify', '1', '-verify_return_error', '-CAfile', pki.root]);
    stops.push(s.stop);
    const url = `https://localhost:${s.port}/`;
    const r = await mutual(['curl', url, '--ca', pki.root, '--cert', stranger.cert, '--key', stranger.key]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^error\[ERR_CLI_TLS_REFUSED\]: the server refused the handshake \(TLS alert 48/);
    expect(r.stderr).toContain('does not trust the CA that issued your client certificate');
    expect(r.stderr).toContain(`mutual doctor ${url}`);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('says when the server is not trusted here, and when nothing listens', async () => {
    const client = pki.write('client', CLIENT);
    const s = await sServer(server, ['-Verify', '1', '-CAfile', pki.root]);
    stops.push(s.stop);
    const other = makeTestPki(new Date(), 'other org 2');
    const untrusted = await mutual([
      'curl',
      `https://localhost:${s.port}/`,
      '--ca',
      other.root,
      '--cert',
      client.cert,
      '--key',
      client.key,
    ]);
    expect(untrusted.code).toBe(1);
    expect(untrusted.stderr).toMatch(
      /^error\[ERR_CLI_TLS_REFUSED\]: the handshake failed on this side \(UNABLE_TO_GET_ISSUER_CERT_LOCALLY\)/,
    );

    const port = await freePort();
    const closed = await mutual(['curl', `https://localhost:${port}/`, '--ca', pki.root]);
    expect(closed.code).toBe(1);
    expect(closed.stderr).toContain('error[ERR_CLI_CONNECT_FAILED]');
  });
});
