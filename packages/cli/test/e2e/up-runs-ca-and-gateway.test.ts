import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { BIN, run, startUntil, tempDir, waitExit, waitForFileContaining } from '../support.js';

describe('mutual up', () => {
  it('creates a CA, runs it online, and puts the gateway in front of a demo service: the demo client is let in, another identity gets 403, no certificate is refused; Ctrl-C stops it', async () => {
    const work = tempDir();
    const up = await startUntil(
      process.execPath,
      [BIN, 'up', '--port', '0', '--ca-port', '0', '--admin-port', '0'],
      /Press Ctrl-C to stop/,
      { cwd: work },
    );
    const port = /listening on https:\/\/localhost:(\d+)\//.exec(up.output())?.[1] ?? '';
    try {
      const dir = path.join(work, '.mutual');
      expect(statSync(path.join(dir, 'root.key')).mode & 0o777).toBe(0o600);
      expect(existsSync(path.join(dir, 'secrets', 'ca-passphrase'))).toBe(true);
      const root = path.join(dir, 'root.crt');
      const ok = await run('curl', [
        '-sS',
        '--fail',
        '--cacert',
        root,
        '--cert',
        path.join(dir, 'certs', 'demo-client.crt'),
        '--key',
        path.join(dir, 'certs', 'demo-client.key'),
        `https://localhost:${port}/`,
      ]);
      expect(ok.code, ok.stderr).toBe(0);
      expect(JSON.parse(ok.stdout)).toMatchObject({
        hello: 'spiffe://mutual.local/demo/client',
        via: 'mutual gateway',
      });
      // Another identity of the same CA passes the handshake but not the route's allow-list.
      const other = await run('curl', [
        '-sS',
        '--cacert',
        root,
        '--cert',
        path.join(dir, 'certs', 'demo-other.crt'),
        '--key',
        path.join(dir, 'certs', 'demo-other.key'),
        '-w',
        '%{http_code}',
        `https://localhost:${port}/`,
      ]);
      expect(other.stdout).toBe('{"error":{"code":"ERR_GATEWAY_FORBIDDEN"}}403');
      const audit = await waitForFileContaining(
        path.join(dir, 'gateway-audit.jsonl'),
        '"reason":"identity-not-allowed"',
      );
      expect(audit).toContain('"decision":"deny"');
      // No client certificate: refused with 403 and the catalog code, never reaching the demo service.
      const refused = await run('curl', [
        '-sS',
        '--cacert',
        root,
        '-w',
        '\n%{http_code}',
        `https://localhost:${port}/`,
      ]);
      expect(refused.stdout).toContain('ERR_GATEWAY_CERTIFICATE_REFUSED');
      expect(refused.stdout.trim().split('\n').pop()).toBe('403');
      expect(refused.stdout).not.toContain('hello');
      expect(up.output()).toContain('curl --cacert');
      // The online CA runs too: its roots are served over TLS that chains to the same root.
      const caUrl = /Online CA on (https:\/\/\S+?)\/ /.exec(up.output())?.[1] ?? '';
      const roots = await run('curl', ['-sS', '--fail', '--cacert', root, `${caUrl}/v1/roots`]);
      expect(roots.code, roots.stderr).toBe(0);
      expect((JSON.parse(roots.stdout) as { roots: string[] }).roots[0]).toContain('BEGIN CERTIFICATE');
      // The dashboard link: a one-time login link on the CA, which a browser exchanges (once) for a session.
      const link = /Dashboard: (https:\/\/\S+\/ui\/login#([A-Za-z0-9_-]{43}))/.exec(up.output());
      expect(link?.[1]?.startsWith(`${caUrl}/ui/login#`)).toBe(true);
      const exchange = (): Promise<{ code: number; stdout: string }> =>
        run('curl', [
          '-sS',
          '--cacert',
          root,
          '-H',
          'content-type: application/json',
          '-d',
          JSON.stringify({ secret: link?.[2] }),
          '-o',
          '/dev/null',
          '-w',
          '%{http_code}',
          `${caUrl}/ui/session`,
        ]);
      expect((await exchange()).stdout).toBe('200');
      expect((await exchange()).stdout).toBe('401');
    } finally {
      up.child.kill('SIGINT');
    }
    expect(await waitExit(up.child)).toBe(0);
    expect(up.output()).toContain('Stopped.');

    // A second start reuses the CA and the certificates.
    const again = await startUntil(
      process.execPath,
      [BIN, 'up', '--port', '0', '--ca-port', '0', '--admin-port', '0'],
      /Press Ctrl-C to stop/,
      { cwd: work },
    );
    again.child.kill('SIGINT');
    expect(await waitExit(again.child)).toBe(0);
    expect(again.output()).not.toContain('Created a local CA');
  });
});
