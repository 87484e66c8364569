import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { encodePem, generateKeyPair, verifyChain } from '@mutual/sdk';
import { describe, expect, it } from 'vitest';
import { generateSerial, issueCertificate, type SigningKey } from '../pki/index.js';
import { createCaHierarchy, createIntermediate, createRoot, crossCertify } from './hierarchy.js';

const NOW = new Date();
const random = (n: number): Uint8Array => randomBytes(n);

/** A client certificate for an hour under `issuer`. */
function leafUnder(issuer: { der: Uint8Array; privateKey: SigningKey }) {
  return issueCertificate({
    profile: 'client',
    subject: {},
    names: { dns: [], ip: [], uri: ['spiffe://roll.test/svc'], email: [] },
    publicKey: generateKeyPair('p256').publicKey,
    issuer: { certificateDer: issuer.der, privateKey: issuer.privateKey },
    serial: generateSerial(random),
    notBefore: new Date(NOW.getTime() - 60_000),
    notAfter: new Date(NOW.getTime() + 3_600_000),
  });
}

/** R1 with I1; R2 (new key) cross-certified by R1; I2 under R2; a client leaf under I2. */
function rolledOver() {
  const first = createCaHierarchy({ name: 'Roll', keyType: 'p256', now: NOW, random });
  const r2 = createRoot({ commonName: 'Roll Root CA 2', organization: 'Roll', keyType: 'p256', now: NOW, random });
  const cross = crossCertify({
    root: { ...r2, commonName: 'Roll Root CA 2', organization: 'Roll' },
    by: first.root,
    now: NOW,
    random,
  });
  const i2 = createIntermediate({
    root: r2,
    commonName: 'Roll Intermediate CA 2',
    organization: 'Roll',
    keyType: 'p256',
    now: NOW,
    random,
  });
  const leaf = leafUnder(i2);
  return { r1: first.root, r2, cross, i2, leaf };
}

describe('root rollover by cross-certificate', () => {
  const { r1, r2, cross, i2, leaf } = rolledOver();

  it("mutual's verifier accepts the new chain with only the previous root trusted, and with only the new one", () => {
    const verify = (anchor: Uint8Array) =>
      verifyChain({
        anchors: [anchor],
        leaf: leaf.der,
        intermediates: [i2.der, cross.der],
        at: NOW,
        purpose: 'client',
      });
    const viaOld = verify(r1.der);
    expect(viaOld.ok).toBe(true);
    expect(viaOld.path).toHaveLength(4); // leaf, I2, cross-certificate, R1
    const viaNew = verify(r2.der);
    expect(viaNew.ok).toBe(true);
    expect(viaNew.path).toHaveLength(3); // leaf, I2, R2
    // Without the cross-certificate the previous root alone cannot reach the new intermediate.
    expect(
      verifyChain({ anchors: [r1.der], leaf: leaf.der, intermediates: [i2.der], at: NOW, purpose: 'client' }).ok,
    ).toBe(false);
  });

  it('openssl verify agrees, trusting either root', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'mutual-rollover-'));
    const file = (name: string, ders: Uint8Array[]): string => {
      const f = path.join(dir, name);
      writeFileSync(f, ders.map((d) => encodePem(d, 'CERTIFICATE')).join(''));
      return f;
    };
    const untrusted = file('untrusted.pem', [i2.der, cross.der]);
    const leafFile = file('leaf.pem', [leaf.der]);
    const verify = (anchor: Uint8Array) =>
      spawnSync(
        'openssl',
        [
          'verify',
          '-x509_strict',
          '-purpose',
          'sslclient',
          '-CAfile',
          file('anchor.pem', [anchor]),
          '-untrusted',
          untrusted,
          leafFile,
        ],
        { encoding: 'utf8' },
      );
    for (const anchor of [r1.der, r2.der]) {
      const r = verify(anchor);
      expect(r.stdout + r.stderr).toContain(': OK');
      expect(r.status).toBe(0);
    }
  });

  it('after a second rotation, a relying party still at the first root follows both cross-certificates', () => {
    const r3 = createRoot({ commonName: 'Roll Root CA 3', organization: 'Roll', keyType: 'p256', now: NOW, random });
    const cross2 = crossCertify({
      root: { ...r3, commonName: 'Roll Root CA 3', organization: 'Roll' },
      by: r2,
      now: NOW,
      random,
    });
    const i3 = createIntermediate({
      root: r3,
      commonName: 'Roll Intermediate CA 3',
      organization: 'Roll',
      keyType: 'p256',
      now: NOW,
      random,
    });
    const leaf3 = leafUnder(i3);
    for (const [anchor, length] of [
      [r1.der, 5],
      [r2.der, 4],
      [r3.der, 3],
    ] as const) {
      const v = verifyChain({
        anchors: [anchor],
        leaf: leaf3.der,
        intermediates: [i3.der, cross2.der, cross.der],
        at: NOW,
        purpose: 'client',
      });
      expect(v.ok).toBe(true);
      expect(v.path).toHaveLength(length);
    }
  });
});
