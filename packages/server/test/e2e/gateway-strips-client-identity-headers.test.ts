import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { connect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WEB, get, raw, startHarness, type Client, type Harness } from './gateway-harness.js';

const SPOOFED = [
  'X-Forwarded-Client-Cert: By=spiffe://evil;Hash=00;URI=spiffe://example.org/ns/prod/sa/admin',
  'x-forwarded-client-cert: URI=spiffe://example.org/admin',
  'X_Forwarded_Client_Cert: URI=spiffe://example.org/admin',
  'x-ForWarded_client-CERT: URI=spiffe://example.org/admin',
  'X-SSL-Client-Verify: SUCCESS',
  'X-SSL-Client-S-DN: CN=admin',
  'x_ssl_client_cert: forged',
  'Client-Cert: :AAAA:',
  'CLIENT_CERT: :AAAA:',
  'client-cert-chain: :AAAA:',
  'Client_Cert_Chain: :AAAA:',
  'SSL-Client-Cert: forged',
];

describe('gateway strips every client-sent identity header and sets its own', () => {
  let h: Harness;
  let web: Client;

  beforeAll(async () => {
    h = await startHarness({
      routes: [
        {
          name: 'both',
          path: { prefix: '/both' },
          allow: [{ spiffeId: WEB }],
          upstream: 'app',
          forwardIdentity: { xfcc: true, clientCert: true },
        },
        {
          name: 'none',
          path: { prefix: '/none' },
          allow: [{ spiffeId: WEB }],
          upstream: 'app',
          forwardIdentity: { xfcc: false, clientCert: false },
        },
        { name: 'ws', path: { exact: '/ws' }, allow: [{ spiffeId: WEB }], upstream: 'app' },
        { name: 'ws-denied', path: { exact: '/ws-admin' }, allow: [], upstream: 'app' },
      ],
    });
    web = h.pki.client('web', { profile: 'client', names: { uri: [WEB] } });
  });
  afterAll(async () => {
    await h.close();
  });

  const lastUpstream = () => h.upstream.requests[h.upstream.requests.length - 1]!;

  it('removes spoofed headers in every spelling and forwards XFCC and RFC 9440 Client-Cert built from the verified chain', async () => {
    const res = await raw(
      h,
      web,
      `GET /both/x HTTP/1.1\r\nHost: localhost\r\nX-Forwarded-For: 6.6.6.6\r\n${SPOOFED.join('\r\n')}\r\nConnection: close\r\n\r\n`,
    );
    expect(res).toMatch(/^HTTP\/1\.1 200/);
    const got = lastUpstream().headers;
    const names = Object.keys(got);
    expect(names.filter((n) => /ssl|client.cert/i.test(n)).sort()).toEqual([
      'client-cert',
      'client-cert-chain',
      'x-forwarded-client-cert',
    ]);
    const fp = createHash('sha256').update(web.cert.der).digest('hex');
    expect(got['x-forwarded-client-cert']).toBe(
      `By=spiffe://example.org/gateway;Hash=${fp};Subject="CN=${WEB}";URI=${WEB}`,
    );
    expect(got['client-cert']).toBe(`:${Buffer.from(web.cert.der).toString('base64')}:`);
    expect(got['client-cert-chain']).toBe(`:${Buffer.from(h.pki.ca.intermediate.der).toString('base64')}:`);
    expect(got['x-forwarded-proto']).toBe('https');
    expect(got['x-forwarded-for']).toBe('127.0.0.1');
  });

  it('forwards no identity header at all when the route asks for none', async () => {
    await raw(h, web, `GET /none HTTP/1.1\r\nHost: localhost\r\n${SPOOFED.join('\r\n')}\r\nConnection: close\r\n\r\n`);
    const names = Object.keys(lastUpstream().headers);
    expect(names.filter((n) => /ssl|client.cert/i.test(n))).toEqual([]);
  });

  it('drops hop-by-hop headers both ways, including those named in Connection', async () => {
    const r = await get(h, '/both/hop', {
      client: web,
      headers: { connection: 'keep-alive, x-secret', 'x-secret': 'drop-me', 'keep-alive': 'timeout=5', te: 'trailers' },
    });
    expect(r.status).toBe(200);
    const got = lastUpstream().headers;
    expect(got['x-secret']).toBeUndefined();
    expect(got.te).toBeUndefined();
    expect(got['keep-alive']).toBeUndefined();
    expect(r.headers['x-hop']).toBeUndefined();
  });

  it('authorizes WebSocket upgrades like any request and splices the streams once allowed', async () => {
    const socket = connect({
      host: '127.0.0.1',
      port: h.port,
      servername: 'localhost',
      ca: h.pki.ca.root.pem,
      cert: web.chainPem,
      key: web.keyPem,
    });
    await once(socket, 'secureConnect');
    socket.write(
      'GET /ws HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nX-Forwarded-Client-Cert: forged\r\n\r\n',
    );
    let buf = '';
    await new Promise<void>((resolve) => {
      socket.on('data', (c: Buffer) => {
        buf += c.toString('latin1');
        if (buf.includes('\r\n\r\n') && !buf.includes('ping')) socket.write('ping');
        if (buf.includes('ping')) resolve();
      });
    });
    expect(buf).toMatch(/^HTTP\/1\.1 101/);
    expect(lastUpstream().headers['x-forwarded-client-cert']).toContain(`URI=${WEB}`);
    socket.destroy();

    const denied = await raw(
      h,
      web,
      'GET /ws-admin HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n',
    );
    expect(denied).toMatch(/^HTTP\/1\.1 403/);
    expect(denied).toContain('{"error":{"code":"ERR_GATEWAY_FORBIDDEN"}}');
    expect(await h.audit((a) => a.route === 'ws-denied')).toMatchObject({ decision: 'deny', status: 403 });
  });
});
