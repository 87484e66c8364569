import 'reflect-metadata';
import { spawnSync } from 'node:child_process';
import { createHash, createPrivateKey, webcrypto, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, createSecureContext, createServer, type TLSSocket } from 'node:tls';
import * as x509 from '@peculiar/x509';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MutualError } from '../errors/index.js';
import { decodePem, encodePem } from '../pem/index.js';
import { generateKeyPair, type KeyType } from '../keys/index.js';
import { exportPkcs12 } from './index.js';
import { pkcs12Kdf, bmpPassword } from './kdf.js';
import { sha256Iterate } from './sha256-chain.js';

const dir = mkdtempSync(join(tmpdir(), 'mutual-p12-'));
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

const ITER = 2048; // fast for tests; the default is checked once below

interface Chain {
  leafKey: KeyObject;
  leaf: Uint8Array;
  intermediate: Uint8Array;
  root: Uint8Array;
}

/** root → intermediate → leaf (for 127.0.0.1), built with @peculiar/x509 over node's WebCrypto. */
async function makeChain(leafType: KeyType): Promise<Chain> {
  const ec = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
  const rootKeys = await webcrypto.subtle.generateKey(ec, true, ['sign', 'verify']);
  const intKeys = await webcrypto.subtle.generateKey(ec, true, ['sign', 'verify']);
  const leafPair = generateKeyPair(leafType);
  const leafPublic = await webcrypto.subtle.importKey(
    'spki',
    leafPair.publicKey.export({ type: 'spki', format: 'der' }),
    leafType.startsWith('rsa')
      ? { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }
      : leafType === 'ed25519'
        ? { name: 'Ed25519' }
        : { name: 'ECDSA', namedCurve: leafType === 'p256' ? 'P-256' : 'P-384' },
    true,
    ['verify'],
  );
  const notBefore = new Date('2020-01-01T00:00:00Z');
  const notAfter = new Date('2099-01-01T00:00:00Z');
  const ca = (pathLength?: number) => [
    new x509.BasicConstraintsExtension(true, pathLength, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
  ];
  const root = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: 'CN=p12 test root',
    keys: rootKeys,
    notBefore,
    notAfter,
    signingAlgorithm: ec,
    extensions: ca(),
  });
  const intermediate = await x509.X509CertificateGenerator.create({
    serialNumber: '02',
    subject: 'CN=p12 test intermediate',
    issuer: root.subject,
    publicKey: intKeys.publicKey,
    signingKey: rootKeys.privateKey,
    notBefore,
    notAfter,
    signingAlgorithm: ec,
    extensions: ca(0),
  });
  const leaf = await x509.X509CertificateGenerator.create({
    serialNumber: '03',
    subject: 'CN=leaf',
    issuer: intermediate.subject,
    publicKey: leafPublic,
    signingKey: intKeys.privateKey,
    notBefore,
    notAfter,
    signingAlgorithm: ec,
    extensions: [
      new x509.SubjectAlternativeNameExtension([{ type: 'ip', value: '127.0.0.1' }]),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
    ],
  });
  return {
    leafKey: leafPair.privateKey,
    leaf: new Uint8Array(leaf.rawData),
    intermediate: new Uint8Array(intermediate.rawData),
    root: new Uint8Array(root.rawData),
  };
}

function openssl(args: string[], input?: Uint8Array): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync('/usr/bin/openssl', args, input === undefined ? {} : { input });
  return { status: r.status, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof MutualError) return e.code;
    throw e;
  }
  return 'no error';
}

let chain: Chain;
beforeAll(async () => {
  chain = await makeChain('p256');
});

describe('exportPkcs12 read by openssl', () => {
  it('uses PBES2/AES-256-CBC/HMAC-SHA256 for key and certificates and an HMAC-SHA256 MAC', () => {
    const p12 = exportPkcs12({
      privateKey: chain.leafKey,
      certificate: chain.leaf,
      chain: [chain.intermediate],
      passphrase: 'correct horse',
      iterations: ITER,
    });
    const info = openssl(['pkcs12', '-info', '-noout', '-passin', 'pass:correct horse'], p12);
    expect(info.status, info.stderr).toBe(0);
    expect(info.stderr).toContain('MAC: sha256, Iteration 2048');
    expect(info.stderr).toContain(
      'PKCS7 Encrypted data: PBES2, PBKDF2, AES-256-CBC, Iteration 2048, PRF hmacWithSHA256',
    );
    expect(info.stderr).toContain('Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC, Iteration 2048, PRF hmacWithSHA256');
    expect(info.stderr.match(/Certificate bag/g)).toHaveLength(2);
  });

  for (const type of ['p256', 'p384', 'rsa2048', 'ed25519'] as const) {
    it(`gives back the same ${type} key and certificates, key and leaf linked by localKeyId`, async () => {
      const c = type === 'p256' ? chain : await makeChain(type);
      const p12 = exportPkcs12({
        privateKey: c.leafKey,
        certificate: c.leaf,
        chain: [c.intermediate, c.root],
        passphrase: 'pw-123',
        friendlyName: 'api.example prod',
        iterations: ITER,
      });
      const out = openssl(['pkcs12', '-nodes', '-passin', 'pass:pw-123'], p12);
      expect(out.status, out.stderr).toBe(0);
      const blocks = decodePem(out.stdout);
      const key = blocks.filter((b) => b.label === 'PRIVATE KEY');
      expect(key).toHaveLength(1);
      expect(createPrivateKey({ key: Buffer.from(key[0]!.der), format: 'der', type: 'pkcs8' }).equals(c.leafKey)).toBe(
        true,
      );
      const certs = blocks.filter((b) => b.label === 'CERTIFICATE').map((b) => Buffer.from(b.der).toString('hex'));
      expect(certs).toEqual([c.leaf, c.intermediate, c.root].map((d) => Buffer.from(d).toString('hex')));
      // Both the key and the leaf carry the same localKeyID and friendlyName.
      const ids = [...out.stdout.matchAll(/localKeyID: ([0-9A-F ]+)/g)].map((m) => m[1]!.trim());
      expect(ids).toHaveLength(2);
      expect(ids[0]).toBe(ids[1]);
      expect(ids[0]!.replaceAll(' ', '').toLowerCase()).toBe(createHash('sha256').update(c.leaf).digest('hex'));
      expect(out.stdout.match(/friendlyName: api\.example prod\n/g)).toHaveLength(2);
    });
  }

  it('fails with a wrong passphrase', () => {
    const p12 = exportPkcs12({
      privateKey: chain.leafKey,
      certificate: chain.leaf,
      chain: [],
      passphrase: 'right',
      iterations: ITER,
    });
    const out = openssl(['pkcs12', '-nodes', '-passin', 'pass:wrong'], p12);
    expect(out.status).not.toBe(0);
    expect(out.stderr).toMatch(/mac verify (failure|error)/i);
  });

  it('handles a non-ASCII passphrase the way openssl does', () => {
    const p12 = exportPkcs12({
      privateKey: chain.leafKey,
      certificate: chain.leaf,
      chain: [],
      passphrase: 'pässwörd-🔑',
      iterations: ITER,
    });
    const file = join(dir, 'unicode.pass');
    writeFileSync(file, 'pässwörd-🔑\n');
    const out = openssl(['pkcs12', '-nodes', '-passin', `file:${file}`], p12);
    expect(out.status, out.stderr).toBe(0);
    expect(createSecureContext({ pfx: Buffer.from(p12), passphrase: 'pässwörd-🔑' })).toBeDefined();
  });

  it('uses the default iteration count when none is given', () => {
    const p12 = exportPkcs12({ privateKey: chain.leafKey, certificate: chain.leaf, chain: [], passphrase: 'pw' });
    const info = openssl(['pkcs12', '-info', '-noout', '-passin', 'pass:pw'], p12);
    expect(info.status, info.stderr).toBe(0);
    expect(info.stderr).toContain('MAC: sha256, Iteration 100000');
  });
});

describe('exportPkcs12 read by node:tls', () => {
  it('serves a TLS handshake from the PFX, presenting the leaf and intermediate', async () => {
    const p12 = exportPkcs12({
      privateKey: chain.leafKey,
      certificate: chain.leaf,
      chain: [chain.intermediate],
      passphrase: 'pw',
      iterations: ITER,
    });
    expect(() => createSecureContext({ pfx: Buffer.from(p12), passphrase: 'wrong' })).toThrow();
    const server = createServer({ pfx: Buffer.from(p12), passphrase: 'pw' }, (s) => s.end('ok'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      const socket: TLSSocket = connect({
        host: '127.0.0.1',
        port,
        ca: encodePem(chain.root, 'CERTIFICATE'),
      });
      const body = await new Promise<string>((resolve, reject) => {
        let data = '';
        socket.on('data', (d: Buffer) => (data += d.toString()));
        socket.on('end', () => {
          resolve(data);
        });
        socket.on('error', reject);
      });
      expect(body).toBe('ok');
      const peer = socket.getPeerCertificate(true);
      expect(Buffer.from(peer.raw).equals(Buffer.from(chain.leaf))).toBe(true);
      expect(Buffer.from(peer.issuerCertificate.raw).equals(Buffer.from(chain.intermediate))).toBe(true);
      socket.destroy();
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe('exportPkcs12 refusals and determinism', () => {
  it('refuses an empty passphrase, a key of another certificate, bad DER and bad iteration counts', () => {
    const base = { privateKey: chain.leafKey, certificate: chain.leaf, chain: [] as Uint8Array[], iterations: ITER };
    expect(code(() => exportPkcs12({ ...base, passphrase: '' }))).toBe('ERR_PKCS12_PASSPHRASE_REQUIRED');
    expect(code(() => exportPkcs12({ ...base, passphrase: 'x', privateKey: generateKeyPair('p256').privateKey }))).toBe(
      'ERR_PKCS12_KEY_MISMATCH',
    );
    expect(code(() => exportPkcs12({ ...base, passphrase: 'x', certificate: chain.leaf.subarray(1) }))).toBe(
      'ERR_X509_MALFORMED',
    );
    expect(code(() => exportPkcs12({ ...base, passphrase: 'x', chain: [Uint8Array.of(0x30, 0x05)] }))).toBe(
      'ERR_X509_MALFORMED',
    );
    for (const iterations of [0, 999, 1.5, 10_000_001, Number.NaN]) {
      expect(code(() => exportPkcs12({ ...base, passphrase: 'x', iterations }))).toBe('ERR_USAGE_INVALID_ARGUMENT');
    }
    expect(code(() => exportPkcs12({ ...base, passphrase: 'x', privateKey: generateKeyPair('p256').publicKey }))).toBe(
      'ERR_USAGE_INVALID_ARGUMENT',
    );
    expect(code(() => exportPkcs12({ ...base, passphrase: 'x', random: () => new Uint8Array(3) }))).toBe(
      'ERR_USAGE_INVALID_ARGUMENT',
    );
  });

  it('is deterministic for a given random source, and salts differ between files by default', () => {
    const counter = (seed: number) => (n: number) => Uint8Array.from({ length: n }, (_, i) => (seed + i) & 0xff);
    const base = {
      privateKey: chain.leafKey,
      certificate: chain.leaf,
      chain: [chain.intermediate],
      passphrase: 'pw',
      iterations: ITER,
    };
    const a = exportPkcs12({ ...base, random: counter(1) });
    const b = exportPkcs12({ ...base, random: counter(1) });
    const c = exportPkcs12({ ...base, random: counter(2) });
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
    expect(Buffer.from(a).equals(Buffer.from(c))).toBe(false);
    expect(Buffer.from(exportPkcs12(base)).equals(Buffer.from(exportPkcs12(base)))).toBe(false);
  });
});

describe('PKCS#12 KDF', () => {
  it('iterates SHA-256 exactly like node:crypto (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.nat(40), (input, times) => {
        let expected = Buffer.from(input);
        for (let i = 0; i < times; i++) expected = createHash('sha256').update(expected).digest();
        expect(Buffer.from(sha256Iterate(input, times)).equals(expected)).toBe(true);
      }),
    );
  });

  it('derives the MAC key openssl derives (checked through openssl kdf PKCS12KDF)', () => {
    const salt = Buffer.from('0102030405060708090a0b0c0d0e0f10', 'hex');
    // openssl's PKCS12KDF takes the password bytes as given: pass the BMPString form.
    const out = openssl([
      'kdf',
      '-keylen',
      '32',
      '-kdfopt',
      'digest:SHA256',
      '-kdfopt',
      `hexpass:${bmpPassword('s3cret').toString('hex')}`,
      '-kdfopt',
      `hexsalt:${salt.toString('hex')}`,
      '-kdfopt',
      'iter:3000',
      '-kdfopt',
      'id:3',
      'PKCS12KDF',
    ]);
    expect(out.status, out.stderr).toBe(0);
    const ours = pkcs12Kdf(bmpPassword('s3cret'), salt, 3, 3000, 32);
    expect(ours.toString('hex')).toBe(out.stdout.trim().replaceAll(':', '').toLowerCase());
  });
});
