import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPostgres, type TestPostgres } from '../../../server/test/support/postgres.js';
import { BIN, bootstrapAdmin, mutual, startUntil, tempDir, waitExit } from '../support.js';

// A CA whose inventory and audit trail live in PostgreSQL from the start, as an operator sets up
// several instances: `ca init --postgres-env`, then `ca serve` with the variable set.
const work = tempDir();
const ca = path.join(work, 'ca');
let pg: TestPostgres;
let env: Record<string, string>;

beforeAll(async () => {
  pg = await startPostgres();
  env = { MUTUAL_DATABASE_URL: pg.connectionString, MUTUAL_CONTEXT_DIR: path.join(work, 'ctx') };
}, 60_000);

afterAll(async () => {
  await pg.stop();
});

describe('mutual ca init --postgres-env', () => {
  it('refuses before creating anything when the variable is not set', async () => {
    const dir = path.join(work, 'unset');
    const r = await mutual(['ca', 'init', '--dir', dir, '--postgres-env', 'MUTUAL_NO_SUCH_VARIABLE']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/error\[ERR_[A-Z_]+\]/);
    expect(r.stderr).toContain('MUTUAL_NO_SUCH_VARIABLE');
    expect(existsSync(dir)).toBe(false);
  });

  it('writes the inventory into PostgreSQL; ca serve, the admin and the audit trail work from there', async () => {
    const init = await mutual(['ca', 'init', '--dir', ca, '--postgres-env', 'MUTUAL_DATABASE_URL'], { env });
    expect(init.code, init.stderr).toBe(0);
    expect(readFileSync(path.join(ca, 'ca.yaml'), 'utf8')).toContain(
      'postgres: { connectionString: { env: "MUTUAL_DATABASE_URL" } }',
    );
    expect(existsSync(path.join(ca, 'mutual.db'))).toBe(false);
    expect(readFileSync(path.join(ca, 'ca.yaml'), 'utf8')).not.toContain(pg.connectionString);

    const server = await startUntil(
      process.execPath,
      [BIN, 'ca', 'serve', '--dir', ca, '--listen', '127.0.0.1:0'],
      /root fingerprint: ([0-9a-f]{64})/,
      { env },
    );
    try {
      const url = /listening on (https:\/\/\S+)/.exec(server.output())?.[1] ?? '';
      const bootstrap = await bootstrapAdmin(url, server.match[1] ?? '', ca, env);
      expect(bootstrap.code, bootstrap.stderr).toBe(0);
      // The admin certificate is known to the CA only through PostgreSQL: minting a token proves it.
      const token = await mutual(['token', 'create', 'svc.internal', '--profile', 'server'], { env });
      expect(token.code, token.stderr).toBe(0);
      const out = path.join(work, 'out');
      const req = await mutual(['cert', 'request', 'svc.internal', '--token', token.stdout.trim(), '--out', out], {
        env,
      });
      expect(req.code, req.stderr).toBe(0);
    } finally {
      server.child.kill('SIGTERM');
      expect(await waitExit(server.child)).toBe(0);
    }
    const audit = await mutual(['audit', 'verify', '--dir', ca], { env });
    expect(audit.code, audit.stderr).toBe(0);
    // ca.init, two CA certificates, the admin, the CA's own TLS and OCSP certificates, token, issuance…
    const count = Number(/Audit chain intact: (\d+) records/.exec(audit.stdout)?.[1] ?? 0);
    expect(count).toBeGreaterThanOrEqual(6);
  });
});
