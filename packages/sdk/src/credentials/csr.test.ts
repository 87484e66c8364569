import { spawnSync } from 'node:child_process';
import { createPublicKey } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { KEY_TYPES } from '../keys/index.js';
import { newKeyAndCsr } from './csr.js';

// openssl is the independent judge: the request must parse and its self-signature verify.
describe('createCsr', () => {
  it.each(KEY_TYPES.filter((t) => t !== 'rsa4096'))('a %s request verifies with openssl req -verify', (type) => {
    const { csrPem, privateKey } = newKeyAndCsr(type);
    const r = spawnSync('openssl', ['req', '-noout', '-verify', '-text'], { input: csrPem, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout + r.stderr).toMatch(/verify OK|Certificate request self-signature verify OK/);
    expect(r.stdout).toMatch(/Subject:\s*$/m); // the names come from the token or the current certificate
    const pub = spawnSync('openssl', ['req', '-noout', '-pubkey'], { input: csrPem, encoding: 'utf8' });
    expect(pub.stdout).toBe(createPublicKey(privateKey).export({ format: 'pem', type: 'spki' }));
  });

  it('makes a new key every time', () => {
    const a = newKeyAndCsr('p256');
    const b = newKeyAndCsr('p256');
    expect(a.csrPem).not.toBe(b.csrPem);
  });
});
