// `mutual discover` against a real TLS server (openssl s_server) and a file: prints what it found,
// says whether the server's chain verified against --ca, and records the chains at the CA.
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mutual } from '../support.js';
import { setUpLifecycle, type LifecycleSetup } from './lifecycle-setup.js';

let s: LifecycleSetup;
beforeAll(async () => {
  s = await setUpLifecycle();
}, 90_000);
afterAll(async () => {
  await s.stop();
});

interface DiscoverJson {
  reported: boolean;
  found: {
    where: string;
    role: string;
    serial: string;
    identity: string | null;
    verified?: boolean;
    chainLength: number;
  }[];
  failed: { where: string; error: string }[];
}

describe('mutual discover', () => {
  it('records the chain a TLS server presents, verified or not, and a certificate file', async () => {
    const caRoot = path.join(s.work, 'ca', 'root.crt');
    const r = await mutual(
      ['discover', s.tlsTarget, s.foreignFile, '--ca', caRoot, '--servername', 'web.internal', '--json'],
      { env: s.env },
    );
    expect(r.code, r.stderr).toBe(0);
    const body = JSON.parse(r.stdout) as DiscoverJson;
    expect(body.reported).toBe(true);
    expect(body.failed).toEqual([]);
    expect(body.found).toEqual([
      expect.objectContaining({
        where: s.tlsTarget,
        role: 'server',
        serial: s.issuedSerial,
        identity: 'web.internal',
        verified: true,
      }),
      expect.objectContaining({
        where: s.foreignFile,
        role: 'file',
        serial: s.foreignSerial,
        identity: 'legacy.example',
      }),
    ]);
    // Without --ca the chain does not verify against the system's roots: still recorded, and said so.
    const unverified = await mutual(['discover', s.tlsTarget, '--no-report'], { env: s.env });
    expect(unverified.code, unverified.stderr).toBe(0);
    expect(unverified.stdout).toMatch(/127\.0\.0\.1:\d+\s+server\s+web\.internal\s+.*no \(/);
  });

  it('reads a directory, skipping files that are not certificates; an unreachable server fails the run', async () => {
    const r = await mutual(
      ['discover', path.dirname(s.foreignFile), s.work + '/ca/ca.yaml', '127.0.0.1:1', '--no-report'],
      {
        env: s.env,
      },
    );
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('legacy.example');
    expect(r.stderr).toContain('127.0.0.1:1:');
    expect(r.stderr).toContain('ca.yaml:');
  });
});
