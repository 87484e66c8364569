import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import type { CliContext } from '../context.js';
import { registerVerifyCommand } from './verify.js';
// Test PKI from the sdk's verifier tests (generated in code, nothing committed).
import { EKU, NOW, makeCert, makeChain } from '../../../sdk/src/verify/test-pki.js';

async function mutual(
  args: string[],
  opts: { cwd: string; stdin?: string },
): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const ctx: CliContext = {
    env: {},
    cwd: opts.cwd,
    stdin: Readable.from([Buffer.from(opts.stdin ?? '')]),
    stdout: (t) => (out += t),
    stderr: (t) => (err += t),
    now: () => NOW,
    interactive: false,
    exitCode: 0,
  };
  const program = new Command('mutual').exitOverride();
  registerVerifyCommand(program, ctx);
  await program.parseAsync(['verify', ...args], { from: 'user' });
  return { code: ctx.exitCode, out, err };
}

describe('mutual verify', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'mutual-verify-'));
  const { root, inter, leaf } = makeChain();
  writeFileSync(path.join(dir, 'chain.pem'), leaf.pem + inter.pem);
  writeFileSync(path.join(dir, 'root.pem'), root.pem);
  const expired = makeCert({
    issuer: inter,
    eku: [EKU.clientAuth],
    san: [{ dns: 'a.example' }],
    notAfter: new Date('2026-01-01T00:00:00Z'),
  });
  writeFileSync(path.join(dir, 'expired.pem'), expired.pem + inter.pem);

  it('accepts a valid client chain and prints the identity and the path (exit 0)', async () => {
    const r = await mutual(['chain.pem', '--ca', 'root.pem', '--spiffe-id', 'spiffe://example.org/ns/prod/sa/api'], {
      cwd: dir,
    });
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^ACCEPT spiffe spiffe:\/\/example\.org\/ns\/prod\/sa\/api\n/);
    expect(r.out).toContain('(trust anchor)');
  });

  it('refuses with every reason in words (exit 1)', async () => {
    const r = await mutual(['expired.pem', '--ca', 'root.pem'], { cwd: dir });
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/^REJECT\n/);
    expect(r.out).toContain('EXPIRED: A certificate has expired at the validation time.');
  });

  it('reports usage errors with exit 2', async () => {
    expect((await mutual(['chain.pem'], { cwd: dir })).code).toBe(2);
    expect((await mutual(['chain.pem', '--ca', 'root.pem', '--purpose', 'both'], { cwd: dir })).code).toBe(2);
    expect((await mutual(['chain.pem', '--ca', 'root.pem', '--at', 'yesterday'], { cwd: dir })).code).toBe(2);
  });

  it('runs one x509-limbo case from stdin (--limbo-case -)', async () => {
    const tc = {
      id: 'local::client',
      features: [],
      validation_kind: 'CLIENT',
      trusted_certs: [root.pem],
      untrusted_intermediates: [inter.pem],
      peer_certificate: leaf.pem,
      validation_time: NOW.toISOString(),
      extended_key_usage: ['clientAuth'],
      expected_peer_name: null,
      expected_peer_names: [],
      crls: [],
    };
    const ok = await mutual(['--limbo-case', '-'], { cwd: dir, stdin: JSON.stringify(tc) });
    expect(ok.code).toBe(0);
    expect(ok.out).toMatch(/^ACCEPT /);
    const bad = await mutual(['--limbo-case', '-'], { cwd: dir, stdin: JSON.stringify({ ...tc, trusted_certs: [] }) });
    expect(bad.out).toMatch(/^REJECT UNKNOWN_ISSUER/);
    expect((await mutual(['--limbo-case', '-'], { cwd: dir, stdin: '{not json' })).out).toMatch(/^SKIP /);
  });
});
