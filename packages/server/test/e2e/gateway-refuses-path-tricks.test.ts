import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WEB, raw, startHarness, type Client, type Harness } from './gateway-harness.js';

/** Authorization is decided on exactly the path the upstream receives; ambiguous encodings are 400. */
describe('gateway refuses path tricks against path rules', () => {
  let h: Harness;
  let web: Client;

  beforeAll(async () => {
    h = await startHarness({
      routes: [
        { name: 'admin', path: { prefix: '/admin' }, allow: [], upstream: 'app' },
        { name: 'public', path: { prefix: '/public' }, allow: [{ spiffeId: WEB }], upstream: 'app' },
      ],
    });
    web = h.pki.client('web', { profile: 'client', names: { uri: [WEB] } });
  });
  afterAll(async () => {
    await h.close();
  });

  const send = async (target: string): Promise<{ status: number; upstreamUrl: string | undefined }> => {
    const before = h.upstream.requests.length;
    const res = await raw(h, web, `GET ${target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`);
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(res)?.[1] ?? 0);
    const reached = h.upstream.requests.slice(before);
    return { status, upstreamUrl: reached[0]?.url };
  };

  it.each([
    '/public/../admin',
    '/public/%2e%2e/admin',
    '/public/%2E%2E/%61dmin',
    '/public/./../admin/x',
    '//admin',
    '/public/..//admin',
  ])('%s is normalized to /admin… and denied before reaching the upstream', async (target) => {
    const r = await send(target);
    expect(r.status).toBe(403);
    expect(r.upstreamUrl).toBeUndefined();
  });

  it.each([
    '/public/%2Fadmin',
    '/public/..%2Fadmin',
    '/public/%2e%2e%2fadmin',
    '/public/..%5Cadmin',
    '/public/..\\admin',
    '/public/%00/admin',
    '/public/..;/admin',
    '/public/%C0%AE%C0%AE/admin',
    'http://localhost/admin',
  ])('%s is refused with 400 and never forwarded', async (target) => {
    const r = await send(target);
    expect(r.status).toBe(400);
    expect(r.upstreamUrl).toBeUndefined();
  });

  it('forwards exactly the normalized path it authorized', async () => {
    const r = await send('/public//a/./b/../%7Ec/%41?q=%2F..');
    expect(r.status).toBe(200);
    expect(r.upstreamUrl).toBe('/public/a/~c/A?q=%2F..');
    const rec = await h.audit((a) => a.path === '/public/a/~c/A');
    expect(rec).toMatchObject({ decision: 'allow', route: 'public' });
  });

  it('audits a refused path with its reason', async () => {
    await send('/public/%2fadmin');
    expect(await h.audit((a) => a.reason === 'bad-path:encoded-slash')).toMatchObject({
      status: 400,
      decision: 'deny',
    });
  });
});
