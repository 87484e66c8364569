// The pki worker pool with an issuer key on a PKCS#11 token (SoftHSM): each pki thread signs in a
// session of its own, so issuance keeps running beside the main thread; a key other threads cannot
// open signs here.
import { X509Certificate, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPair } from '@mutual/sdk';
import { createSoftHsmToken } from '../../test/support/softhsm.js';
import { loadPkcs11Module, type Pkcs11Key } from '../keys/index.js';
import {
  computeValidity,
  generateSerial,
  issueCertificate,
  type BuildCertificateInput,
  type SigningKey,
} from '../pki/index.js';
import { createPkiWorkerPool, type PkiWorkerPool } from './index.js';

const now = new Date();
const random = (n: number): Uint8Array => new Uint8Array(randomBytes(n));
let pool: PkiWorkerPool;
let key: Pkcs11Key;
let rootDer: Uint8Array;

beforeAll(() => {
  const token = createSoftHsmToken('pool');
  process.env.SOFTHSM2_CONF = token.conf;
  key = loadPkcs11Module(token.module)
    .openToken({ token: 'pool' }, token.pin)
    .generate('pool-root', Uint8Array.from([1]), 'p256');
  rootDer = issueCertificate({
    profile: 'root',
    subject: { commonName: 'pool root' },
    names: { dns: [], ip: [], uri: [], email: [] },
    publicKey: key.publicKey,
    issuer: { selfSigned: key },
    serial: generateSerial(random),
    notBefore: new Date(now.getTime() - 60_000),
    notAfter: new Date(now.getTime() + 86_400_000),
  }).der;
  pool = createPkiWorkerPool({ size: 2 });
});

afterAll(async () => {
  await pool.close();
});

function leafUnder(privateKey: SigningKey): BuildCertificateInput {
  const validity = computeValidity({
    now,
    lifetimeMs: 3_600_000,
    issuerNotBefore: new Date(now.getTime() - 60_000),
    issuerNotAfter: new Date(now.getTime() + 86_400_000),
  });
  return {
    profile: 'server',
    subject: {},
    names: { dns: ['svc.internal'], ip: [], uri: [], email: [] },
    publicKey: generateKeyPair('p256').publicKey,
    issuer: { certificateDer: rootDer, privateKey },
    serial: generateSerial(random),
    notBefore: validity.notBefore,
    notAfter: validity.notAfter,
  };
}

describe('pki threads and a key on a token', () => {
  it('sign in sessions of their own: the main thread never signs', async () => {
    let mainSigned = 0;
    const watched: Pkcs11Key = {
      ...key,
      sign: (data) => {
        mainSigned++;
        return key.sign(data);
      },
      threadAccess: () => key.threadAccess(),
    };
    const built = await Promise.all(Array.from({ length: 8 }, () => pool.issue(leafUnder(watched))));
    expect(mainSigned).toBe(0);
    for (const b of built) expect(new X509Certificate(b.der).verify(key.publicKey)).toBe(true);
    expect(pool.inline()).toBe(false);
  });

  it('sign here when no other thread may open the key', async () => {
    let mainSigned = 0;
    const single: Pkcs11Key = {
      ...key,
      sign: (data) => {
        mainSigned++;
        return key.sign(data);
      },
      threadAccess: () => undefined,
    };
    const built = await pool.issue(leafUnder(single));
    expect(mainSigned).toBe(1);
    expect(new X509Certificate(built.der).verify(key.publicKey)).toBe(true);
  });

  it('refuse, like here, when the thread cannot open the key', async () => {
    const wrongPin: Pkcs11Key = {
      ...key,
      threadAccess: () => ({
        ...(key.threadAccess() ?? { module: '', uri: '', pin: '' }),
        uri: 'pkcs11:token=pool;object=absent',
      }),
    };
    await expect(pool.issue(leafUnder(wrongPin))).rejects.toMatchObject({ code: 'ERR_KEYS_PKCS11_KEY_NOT_FOUND' });
  });
});
