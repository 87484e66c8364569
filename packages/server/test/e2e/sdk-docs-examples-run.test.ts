// The two programs of docs/sdk.md ("Try it against `npm start`") run as written against a real CA:
// only the CA's URL, root, trust domain and the port are substituted. The server admits the
// client's SPIFFE ID and the client prints the greeting.
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanupDirs, mintToken, runAsync, startTestCa } from './support/ca-server.js';

const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
const DOC = path.join(ROOT, 'docs', 'sdk.md');
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  cleanupDirs();
});

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) =>
    s.close(() => {
      r();
    }),
  );
  return port;
}

describe('docs/sdk.md', () => {
  it('server.mjs and client.mjs run as written: the client is admitted and greeted', async () => {
    const doc = readFileSync(DOC, 'utf8');
    const blocks = [...doc.matchAll(/`(server|client)\.mjs`:\n\n```js\n([\s\S]*?)```/g)].map((m) => ({
      name: m[1] ?? '',
      code: m[2] ?? '',
    }));
    expect(blocks.map((b) => b.name)).toEqual(['server', 'client']);

    const ca = await startTestCa();
    const port = await freePort();
    // Inside the repository, so `@mutual/sdk` resolves as it does for a user who installed it.
    const dir = path.join(ROOT, '.tmp', `sdk-docs-${process.pid}-${port}`);
    mkdirSync(path.join(dir, '.mutual'), { recursive: true });
    dirs.push(dir);
    writeFileSync(path.join(dir, '.mutual', 'root.crt'), ca.server.rootPem);
    writeFileSync(
      path.join(dir, 'api.token'),
      await mintToken(ca, { uri: ['spiffe://example.test/demo/api'] }, 'both'),
    );
    writeFileSync(
      path.join(dir, 'web.token'),
      await mintToken(ca, { uri: ['spiffe://example.test/demo/web'] }, 'client'),
    );
    for (const b of blocks) {
      const code = b.code
        .replaceAll('https://localhost:8443', ca.server.url)
        .replaceAll('spiffe://mutual.local/', 'spiffe://example.test/')
        .replaceAll('9443', String(port));
      writeFileSync(path.join(dir, `${b.name}.mjs`), code);
    }

    const server = spawn(process.execPath, ['server.mjs'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      let out = '';
      await new Promise<void>((resolve, reject) => {
        server.stdout.setEncoding('utf8').on('data', (d: string) => {
          out += d;
          if (out.includes('listening on')) resolve();
        });
        server.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
        server.once('exit', (code) => {
          reject(new Error(`server.mjs exited ${String(code)}: ${out}`));
        });
      });
      const client = await runAsync('sh', [
        '-c',
        `cd ${JSON.stringify(dir)} && ${JSON.stringify(process.execPath)} client.mjs`,
      ]);
      expect(client.stderr).toBe('');
      expect(client.stdout).toBe('200 hello spiffe://example.test/demo/web\n\n');
      // The server kept its certificate on disk (persist) and audited the decision.
      expect(readFileSync(path.join(dir, 'state', 'api.crt'), 'utf8')).toContain('BEGIN CERTIFICATE');
      expect(out).toContain('"decision":"allow"');
    } finally {
      server.kill('SIGKILL');
      await ca.close();
    }
  });
});
