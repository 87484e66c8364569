// The dashboard in a real browser (playwright-core driving Debian's chromium, headless) against a
// real `mutual ca serve`: sign in with a one-time link (and with the admin client certificate), find
// a certificate the test issued, revoke it with a reason after a confirmation, and see the
// revocation in the list and in the audit log with the chain verified.
import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { CaClient } from '@mutual/sdk';
import { chromium, type Browser, type BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, mutual, startUntil, tempDir, waitExit } from '../../../cli/test/support.js';

const CHROMIUM = '/usr/bin/chromium';
const work = tempDir('mutual-dashboard-');
const ca = path.join(work, 'ca');
const env = { MUTUAL_CONTEXT_DIR: path.join(work, 'ctx') };
let server: Awaited<ReturnType<typeof startUntil>>;
let url = '';
let link = '';
let serial = '';
let browser: Browser;

/**
 * A browser context for this test's throwaway CA. `ignoreHTTPSErrors` is only acceptable because the
 * CA was made by this test a moment ago and listens on loopback; never for a real CA.
 */
const context = (extra: Parameters<Browser['newContext']>[0] = {}): Promise<BrowserContext> =>
  browser.newContext({ ignoreHTTPSErrors: true, ...extra });

beforeAll(async () => {
  expect(existsSync(CHROMIUM), 'Debian chromium is needed: apt-get install chromium').toBe(true);
  expect((await mutual(['ca', 'init', '--dir', ca])).code).toBe(0);
  server = await startUntil(
    process.execPath,
    [BIN, 'ca', 'serve', '--dir', ca, '--listen', '127.0.0.1:0', '--login-link'],
    /dashboard: (https:\/\/\S+\/ui\/login#[A-Za-z0-9_-]+)/,
  );
  link = server.match[1] ?? '';
  url = new URL(link).origin;
  const fingerprint = /root fingerprint: ([0-9a-f]{64})/.exec(server.output())?.[1] ?? '';
  const admin = ['--cert', path.join(ca, 'admin', 'admin.crt'), '--key', path.join(ca, 'admin', 'admin.key')];
  const boot = await mutual(['ca', 'bootstrap', '--ca-url', url, '--fingerprint', fingerprint, ...admin], { env });
  expect(boot.code, boot.stderr).toBe(0);
  const token = await mutual(['token', 'create', 'shop.internal', '--profile', 'server'], { env });
  expect(token.code, token.stderr).toBe(0);
  const out = path.join(work, 'out');
  const req = await mutual(['cert', 'request', 'shop.internal', '--token', token.stdout.trim(), '--out', out], { env });
  expect(req.code, req.stderr).toBe(0);
  serial = new X509Certificate(readFileSync(path.join(out, 'shop.internal.crt'))).serialNumber
    .toLowerCase()
    .replace(/^0+/, '');
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true });
}, 90_000);

afterAll(async () => {
  await browser.close();
  server.child.kill('SIGTERM');
  expect(await waitExit(server.child)).toBe(0);
});

describe('dashboard', () => {
  let session: BrowserContext;

  it('signs in with the one-time link; the secret leaves the address bar and the link works only once', async () => {
    session = await context();
    const page = await session.newPage();
    await page.goto(link);
    await page.getByRole('heading', { name: 'Overview' }).waitFor();
    const secret = new URL(link).hash.slice(1);
    expect(page.url()).toBe(`${url}/ui/`);
    expect(page.url()).not.toContain(secret);
    const history = Number(await page.evaluate('history.length'));
    // Going back shows the sign-in path without the secret, never the link itself.
    if (history > 1) {
      await page.goBack();
      expect(page.url()).not.toContain(secret);
      await page.goForward();
    }
    const cookies = await session.cookies();
    const cookie = cookies.find((c) => c.name === '__Host-mutual_session');
    expect(cookie).toMatchObject({ httpOnly: true, secure: true, sameSite: 'Strict', path: '/' });

    const other = await context();
    const again = await other.newPage();
    await again.goto(link);
    await again.getByRole('alert').filter({ hasText: 'ERR_AUTH_LOGIN_LINK_INVALID' }).waitFor();
    expect(again.url()).not.toContain(secret);
    await again.goto(`${url}/ui/certificates`);
    await again.getByRole('heading', { name: 'Sign in to mutual' }).waitFor();
    await other.close();
  });

  it('lists the certificate, opens it, revokes it with a reason after confirming, and shows it revoked', async () => {
    const page = await session.newPage();
    await page.goto(`${url}/ui/`);
    await page.getByRole('link', { name: 'Certificates', exact: true }).click();
    const row = page.locator(`tr[data-serial="${serial}"]`);
    await row.waitFor();
    expect(await row.textContent()).toContain('shop.internal');
    expect(await row.locator('.badge').textContent()).toBe('valid');

    await page.getByRole('textbox', { name: 'Search' }).fill('shop');
    await page.getByRole('button', { name: 'Apply' }).click();
    await row.waitFor();
    expect(page.url()).toContain('search=shop');

    await row.getByRole('link', { name: serial }).click();
    await page.getByRole('heading', { name: `Certificate ${serial}` }).waitFor();
    await page.getByRole('cell', { name: 'Extended Key Usage' }).waitFor();
    expect(await page.locator('.facts').textContent()).toContain('shop.internal');

    await page.getByRole('button', { name: 'Revoke…' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.waitFor();
    await dialog.getByRole('combobox', { name: 'Reason' }).selectOption('keyCompromise');
    // Cancel first: nothing happens without the confirmation.
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await dialog.waitFor({ state: 'detached' });
    await page.getByRole('button', { name: 'Revoke…' }).click();
    await dialog.getByRole('combobox', { name: 'Reason' }).selectOption('keyCompromise');
    await dialog.getByRole('button', { name: 'Revoke certificate' }).click();
    await dialog.waitFor({ state: 'detached' });
    await page.locator('.facts .badge', { hasText: 'revoked' }).waitFor();
    expect(await page.locator('.facts').textContent()).toContain('keyCompromise');

    await page.getByRole('link', { name: '← Certificates' }).click();
    const listed = page.locator(`tr[data-serial="${serial}"] .badge`);
    await listed.filter({ hasText: 'revoked' }).waitFor();

    await page.getByRole('link', { name: 'Audit log' }).click();
    await page.locator('[data-chain="ok"]').waitFor();
    const revoke = page.locator('tr[data-action="certificate.revoke"]', { hasText: serial });
    await revoke.waitFor();
    expect(await revoke.textContent()).toMatch(/admin-session:[0-9a-f]{12}/);
    expect(await revoke.textContent()).toContain('keyCompromise');
    await page.close();
  });

  it('shows every page without errors, and an empty state where no gateway has refused anyone', async () => {
    const page = await session.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => {
      if (m.type() === 'error' && !m.text().includes('404')) errors.push(m.text());
    });
    for (const [route, heading] of [
      ['', 'Overview'],
      ['expiry', 'Expiry timeline'],
      ['auth-failures', 'Failed authentications'],
      ['tokens', 'Tokens'],
    ] as const) {
      await page.goto(`${url}/ui/${route}`);
      await page.getByRole('heading', { name: heading, exact: true }).waitFor();
      if (route === 'auth-failures') await page.getByText('No failed authentications in this window.').waitFor();
      // The CA's own state says what is due: nothing, on a fresh CA (GET /v1/status, as `mutual ca status`).
      if (route === '') await page.getByText('Nothing to do.').waitFor();
    }
    await page.getByRole('textbox', { name: 'Names' }).fill('next.internal');
    await page.getByRole('button', { name: 'Create token' }).click();
    const command = page.locator('pre.command');
    await command.waitFor();
    expect(await command.textContent()).toMatch(/^mutual cert request next\.internal --token ey\S+ --out certs\/$/);
    await page.getByRole('cell', { name: 'next.internal' }).waitFor();
    expect(errors).toEqual([]);
    await page.close();
  });

  it('shows failed authentications a gateway reports while the page is open (updating live)', async () => {
    const page = await session.newPage();
    await page.goto(`${url}/ui/auth-failures`);
    await page.getByText('No failed authentications in this window.').waitFor();
    // A gateway's report, sent with the admin certificate (any certificate of this CA may report).
    const client = new CaClient({
      url,
      ca: readFileSync(path.join(ca, 'root.crt')),
      cert: readFileSync(path.join(ca, 'admin', 'admin.crt')),
      key: readFileSync(path.join(ca, 'admin', 'admin.key')),
    });
    await client.report({
      component: { kind: 'gateway', name: 'edge' },
      at: new Date().toISOString(),
      health: { status: 'ok', revocationDataAgeSeconds: 3 },
      authFailures: [
        {
          at: new Date().toISOString(),
          listener: 'public',
          stage: 'handshake',
          reason: 'unknown-issuer',
          address: '192.0.2.77',
          identity: null,
          serial: null,
          fingerprintSha256: null,
          issuer: null,
        },
      ],
    });
    // No reload: the page polls and shows it.
    await page.getByRole('cell', { name: '192.0.2.77' }).first().waitFor({ timeout: 20_000 });
    await page.getByRole('cell', { name: 'unknown-issuer' }).first().waitFor();
    await page.goto(`${url}/ui/`);
    await page.getByText('edge').first().waitFor();
    // Its report does not say which roots it trusts: the Health table says so.
    await page.getByRole('cell', { name: 'not reported' }).waitFor();
    await page.close();
  });

  it('signs in with the admin client certificate, without any link', async () => {
    const withCert = await context({
      clientCertificates: [
        {
          origin: url,
          certPath: path.join(ca, 'admin', 'admin.crt'),
          keyPath: path.join(ca, 'admin', 'admin.key'),
        },
      ],
    });
    const page = await withCert.newPage();
    await page.goto(`${url}/ui/certificates`);
    await page.locator(`tr[data-serial="${serial}"]`).waitFor();
    await page.getByText('admin certificate').waitFor();
    await withCert.close();
    await session.close();
  });
});
