import { spawn } from 'node:child_process';
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestCa } from '../../src/pki/test-support.js';
import {
  WEB,
  get,
  makePki,
  startHarness,
  curlVia,
  run,
  type Client,
  type Harness,
  type Run,
  CERTIFICATE_REFUSED,
} from './gateway-harness.js';
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** Runs a TLS client, writes `input` once `ready` shows on its output, closes stdin once `done` shows. */
function talk(cmd: string, args: string[], ready: RegExp, input: string, done: RegExp): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args);
    let stdout = '';
    let stderr = '';
    let sent = false;
    let ended = false;
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    const check = (): void => {
      const all = stdout + stderr;
      if (!sent && ready.test(all)) {
        sent = true;
        child.stdin.write(input);
      }
      if (sent && !ended && done.test(stdout)) {
        ended = true;
        child.stdin.end();
      }
    };
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
      check();
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
      check();
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? 1, stdout, stderr });
    });
  });
}

function adminGet(port: number, p: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port, path: p }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, body });
      });
    })
      .on('error', reject)
      .end();
  });
}

describe('gateway handshakes: accepted only when OpenSSL and mutual both accept (judged by curl, openssl, gnutls-cli)', () => {
  let h: Harness;
  let web: Client;
  let serverEku: Client;
  let stranger: Client;
  let pinned: Client;

  beforeAll(async () => {
    const pki = makePki();
    web = pki.client('web', { profile: 'client', names: { uri: [WEB] } });
    pinned = pki.client('pinned', { profile: 'client', names: { uri: [WEB] } });
    serverEku = pki.client('server-eku', { profile: 'server', names: { dns: ['web.example.org'] } });
    const other = createTestCa({ now: new Date(), organization: 'stranger' });
    const s = other.issue({ profile: 'client', names: { uri: [WEB] } });
    const strangerCert = path.join(pki.dir, 'stranger.crt');
    const strangerKey = path.join(pki.dir, 'stranger.key');
    writeFileSync(strangerCert, `${s.pem}\n${other.intermediate.pem}\n`);
    writeFileSync(strangerKey, s.keyPem ?? '');
    stranger = {
      cert: s,
      certFile: strangerCert,
      keyFile: strangerKey,
      chainPem: `${s.pem}\n${other.intermediate.pem}\n`,
      keyPem: s.keyPem ?? '',
    };
    const { createHash } = await import('node:crypto');
    const sha = (der: Uint8Array): string => createHash('sha256').update(der).digest('hex');
    h = await startHarness(
      {
        routes: [
          {
            name: 'all',
            path: { prefix: '/' },
            allow: [{ trustDomain: 'example.org' }, { dns: 'web.example.org' }],
            upstream: 'app',
          },
        ],
        listener: {
          clientAuth: {
            pins: [
              { certificate: sha(web.cert.der) },
              { certificate: sha(serverEku.cert.der) },
              { certificate: sha(stranger.cert.der) },
            ],
          },
        },
      },
      { pki },
    );
  });
  afterAll(async () => {
    await h.close();
  });

  const curl = (client: Client | undefined, extra: string[] = []): Promise<Run> => curlVia(h, client, '/hello', extra);

  it('curl with a valid client certificate gets through', async () => {
    const r = await curl(web);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ url: '/hello' });
  });

  it('refuses a client without a certificate, and audits NO_CERTIFICATE', async () => {
    const r = await curl(undefined);
    // curl gets an answer (not a reset) that says only that the certificate was refused.
    expect(r.stdout).toBe(CERTIFICATE_REFUSED.body);
    expect(await h.audit((a) => a.type === 'handshake' && a.reason === 'NO_CERTIFICATE')).toMatchObject({
      decision: 'refused',
      listener: 'main',
    });
  });

  it('refuses a certificate from an unknown CA (UNKNOWN_ISSUER)', async () => {
    const r = await curl(stranger);
    expect(r.stdout).toBe(CERTIFICATE_REFUSED.body);
    const rec = await h.audit((a) => a.type === 'handshake' && a.reason === 'UNKNOWN_ISSUER');
    expect(rec.detail).toMatch(/OpenSSL/);
  });

  it('refuses a certificate without clientAuth EKU (LEAF_EKU)', async () => {
    const r = await curl(serverEku);
    expect(r.stdout).toBe(CERTIFICATE_REFUSED.body);
    await h.audit((a) => a.type === 'handshake' && a.reason === 'LEAF_EKU');
  });

  it('refuses a valid certificate that matches no listener pin (PIN_MISMATCH)', async () => {
    const r = await curl(pinned);
    expect(r.stdout).toBe(CERTIFICATE_REFUSED.body);
    const rec = await h.audit((a) => a.type === 'handshake' && a.reason === 'PIN_MISMATCH');
    expect(rec.identity).toBe(WEB);
  });

  it('openssl s_client: TLS 1.1 and CBC suites are refused, TLS 1.3 is negotiated', async () => {
    const base = [
      's_client',
      '-connect',
      `127.0.0.1:${h.port}`,
      '-servername',
      'localhost',
      '-CAfile',
      h.pki.trustFile,
    ];
    const withCert = [...base, '-cert', web.certFile, '-key', web.keyFile, '-cert_chain', web.certFile];
    const old = await run('openssl', [...withCert, '-tls1_1', '-cipher', 'DEFAULT:@SECLEVEL=0']);
    expect(old.code).not.toBe(0);
    await h.audit((a) => a.type === 'handshake' && a.reason === 'TLS_PROTOCOL_VERSION');
    const cbc = await run('openssl', [...withCert, '-tls1_2', '-cipher', 'ECDHE-ECDSA-AES128-SHA:AES128-SHA']);
    expect(cbc.code).not.toBe(0);
    await h.audit((a) => a.type === 'handshake' && a.reason === 'TLS_NO_SHARED_CIPHER');
    const ok = await talk(
      'openssl',
      [...withCert, '-brief'],
      /Verification: OK/,
      'GET /x HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n',
      /HTTP\/1\.1 \d{3}[\s\S]*\}/,
    );
    expect(ok.stderr + ok.stdout).toMatch(/TLSv1\.3/);
    expect(ok.stdout).toMatch(/HTTP\/1\.1 200/);
  });

  it('openssl s_client: client-initiated renegotiation is refused', async () => {
    const child = spawn('openssl', [
      's_client',
      '-connect',
      `127.0.0.1:${h.port}`,
      '-tls1_2',
      '-CAfile',
      h.pki.trustFile,
      '-cert',
      web.certFile,
      '-key',
      web.keyFile,
      '-cert_chain',
      web.certFile,
    ]);
    let out = '';
    const done = new Promise<number>((resolve) =>
      child.on('close', (code) => {
        resolve(code ?? 1);
      }),
    );
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      if (out.includes('Verify return code') && !out.includes('RENEGOTIATING')) child.stdin.write('R\n');
    });
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    await done;
    expect(out).toMatch(/RENEGOTIATING/);
    expect(out).toMatch(/no renegotiation/);
  });

  it('openssl s_client: a saved session is never resumed (TLS 1.2 and 1.3)', async () => {
    for (const version of ['-tls1_2', '-tls1_3']) {
      const sess = path.join(h.pki.dir, `session${version}.pem`);
      const base = ['s_client', '-connect', `127.0.0.1:${h.port}`, version, '-CAfile', h.pki.trustFile];
      const auth = ['-cert', web.certFile, '-key', web.keyFile, '-cert_chain', web.certFile];
      const req = 'GET /s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n';
      const first = await talk('openssl', [...base, ...auth, '-sess_out', sess], /Verify return code/, req, /\}/);
      expect(first.stdout).toMatch(/^New, /m);
      expect(existsSync(sess)).toBe(true);
      const second = await talk('openssl', [...base, ...auth, '-sess_in', sess], /Verify return code/, req, /\}/);
      expect(second.stdout).toMatch(/^New, /m);
      expect(second.stdout).not.toMatch(/^Reused, /m);
      expect(second.stdout).toMatch(/HTTP\/1\.1 200/);
    }
  });

  it('gnutls-cli: accepted with a certificate, refused when it offers only TLS 1.1', async () => {
    const common = [
      '--port',
      String(h.port),
      '--x509cafile',
      h.pki.trustFile,
      '--x509certfile',
      web.certFile,
      '--x509keyfile',
      web.keyFile,
      '--sni-hostname',
      'localhost',
      '--verify-hostname',
      'localhost',
      '127.0.0.1',
    ];
    const ok = await talk(
      'gnutls-cli',
      common,
      /Handshake was completed/,
      'GET /g HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n',
      /HTTP\/1\.1 \d{3}[\s\S]*\}/,
    );
    expect(ok.stdout).toMatch(/Handshake was completed/);
    expect(ok.stdout).toMatch(/HTTP\/1\.1 200/);
    const bad = await run('gnutls-cli', ['--priority', 'NORMAL:-VERS-ALL:+VERS-TLS1.1', ...common], '');
    expect(bad.code).not.toBe(0);
    expect(bad.stdout + bad.stderr).not.toMatch(/Handshake was completed/);
  });

  it('counts handshakes by outcome and reason on /metrics; /healthz and /readyz answer', async () => {
    const m = await adminGet(h.gw.adminPort, '/metrics');
    expect(m.status).toBe(200);
    expect(m.body).toMatch(
      /mutual_gateway_handshakes_total\{listener="main",outcome="refused",reason="UNKNOWN_ISSUER"\} [1-9]/,
    );
    expect(m.body).toMatch(
      /mutual_gateway_handshakes_total\{listener="main",outcome="accepted",reason="verified"\} [1-9]/,
    );
    expect(m.body).toMatch(/mutual_gateway_certificate_expiry_seconds\{listener="main"\} \d+/);
    expect(m.body).toMatch(
      /mutual_gateway_client_certificate_expiry_seconds\{identity="spiffe:\/\/example.org\/ns\/prod\/sa\/web"/,
    );
    expect((await adminGet(h.gw.adminPort, '/healthz')).status).toBe(200);
    expect((await adminGet(h.gw.adminPort, '/readyz')).status).toBe(200);
  });
});

describe('gateway handshakes with an injected clock', () => {
  it("refuses a certificate OpenSSL accepts but that is expired on the gateway's clock (EXPIRED)", async () => {
    const later = () => new Date(Date.now() + 3 * 24 * 3600 * 1000);
    const h = await startHarness(
      { routes: [{ name: 'all', path: { prefix: '/' }, allow: [{ spiffeId: WEB }], upstream: 'app' }] },
      { now: later },
    );
    try {
      const web = h.pki.client('web', { profile: 'client', names: { uri: [WEB] } });
      expect(await get(h, '/x', { client: web })).toMatchObject(CERTIFICATE_REFUSED);
      const rec = await h.audit((a) => a.type === 'handshake');
      expect(rec.reason).toBe('EXPIRED');
      expect(rec.detail).not.toMatch(/OpenSSL/);
    } finally {
      await h.close();
    }
  });
});
