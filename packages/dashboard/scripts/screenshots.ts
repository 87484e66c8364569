// `npm run screenshots`: a PNG of each dashboard page in screenshots/ (git-ignored). It makes a
// throwaway CA in a temp directory, issues a few certificates with different lifetimes, revokes
// one, mints a token, starts the online CA, signs in with a one-time login link in Debian's
// chromium (headless, through playwright-core) and photographs every page.
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { CaClient, generateKeyPair } from '@mutual/sdk';
import { initCa, openLocalCa, startCaServer } from '@mutual/server';

const CHROMIUM = process.env['CHROMIUM'] ?? '/usr/bin/chromium';
const root = fileURLToPath(new URL('../../../', import.meta.url));
const out = path.join(root, 'screenshots');
const DAY = 86_400_000;

async function main(): Promise<void> {
  mkdirSync(out, { recursive: true });
  const base = mkdtempSync(path.join(tmpdir(), 'mutual-screenshots-'));
  const dir = path.join(base, 'ca');
  try {
    const init = await initCa({
      dir,
      name: 'mutual demo',
      keyType: 'p256',
      passphrase: { mode: 'generate' },
      trustDomain: 'demo.mutual',
      allowDns: ['**.internal', 'localhost'],
      env: {},
      now: new Date(Date.now() - 60_000),
    });
    const local = await openLocalCa({ dir, env: {} });
    const none = { dns: [] as string[], ip: [] as string[], uri: [] as string[], email: [] as string[] };
    const demo: [string, 'server' | 'client', number][] = [
      ['api.internal', 'server', 30 * DAY],
      ['db.internal', 'server', 12 * DAY],
      ['cache.internal', 'server', 3 * DAY],
      ['spiffe://demo.mutual/billing', 'client', 20 * DAY],
      ['spiffe://demo.mutual/shop', 'client', DAY],
      ['spiffe://demo.mutual/batch', 'client', 6 * DAY],
      ['old.internal', 'server', 9 * DAY],
    ];
    try {
      for (const [name, profile, lifetimeMs] of demo) {
        const names = name.startsWith('spiffe://') ? { ...none, uri: [name] } : { ...none, dns: [name] };
        await local.issuance.issue({
          profile,
          names,
          publicKey: generateKeyPair('p256').publicKey,
          lifetimeMs,
          requester: 'screenshots',
        });
      }
    } finally {
      await local.close();
    }
    const server = await startCaServer({ dir, env: {}, listen: { host: '127.0.0.1', port: 0 } });
    try {
      const client = new CaClient({
        url: server.url,
        ca: server.rootPem,
        cert: readFileSync(init.adminCertFile),
        key: readFileSync(init.adminKeyFile),
      });
      const listed = await client.certificates({ search: 'old.internal' });
      const old = listed.items[0];
      if (old !== undefined) await client.revoke({ serial: old.serial, reason: 'superseded' });
      await client.createToken({ names: { dns: ['new.internal'] }, profile: 'server', ttl: '30m' });
      const api = (await client.certificates({ search: 'api.internal' })).items[0];

      const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true });
      try {
        // ignoreHTTPSErrors: only for this throwaway CA made a moment ago on loopback.
        const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 860 } });
        const page = await context.newPage();
        await page.goto(server.loginLink());
        await page.getByRole('heading', { name: 'Overview' }).waitFor();
        const pages: [string, string, string][] = [
          ['overview', '', 'Overview'],
          ['certificates', 'certificates', 'Certificates'],
          ['certificate-detail', `certificates/${api?.serial ?? ''}`, `Certificate ${api?.serial ?? ''}`],
          ['expiry-timeline', 'expiry', 'Expiry timeline'],
          ['failed-authentications', 'auth-failures', 'Failed authentications'],
          ['audit-log', 'audit', 'Audit log'],
          ['tokens', 'tokens', 'Tokens'],
        ];
        for (const [file, route, heading] of pages) {
          await page.goto(`${server.url}/ui/${route}`);
          await page.getByRole('heading', { name: heading, exact: true }).waitFor();
          await page.waitForLoadState('networkidle');
          await page.screenshot({ path: path.join(out, `${file}.png`), fullPage: true });
          console.log(`screenshots/${file}.png`);
        }
        await context.close();
        const signIn = await browser.newPage({ ignoreHTTPSErrors: true });
        await signIn.goto(`${server.url}/ui/login`);
        await signIn.getByRole('heading', { name: 'Sign in to mutual' }).waitFor();
        await signIn.screenshot({ path: path.join(out, 'sign-in.png') });
        console.log('screenshots/sign-in.png');
      } finally {
        await browser.close();
      }
    } finally {
      await server.close();
    }
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
