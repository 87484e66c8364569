import 'reflect-metadata';
import { webcrypto, type webcrypto as WebCrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { describe, expect, it } from 'vitest';
import { endorsedRoots, TrustedRoots } from './roots.js';

x509.cryptoProvider.set(webcrypto as never);
const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const NOW = new Date('2026-12-07T12:00:00Z');
const DAY = 86_400_000;

interface Ca {
  readonly name: string;
  readonly keys: WebCrypto.CryptoKeyPair;
  readonly cert: x509.X509Certificate;
}

const caExtensions = async (keys: WebCrypto.CryptoKeyPair): Promise<x509.Extension[]> => [
  new x509.BasicConstraintsExtension(true, 4, true),
  new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
  await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
];

async function root(name: string, notAfter = new Date(NOW.getTime() + 365 * DAY)): Promise<Ca> {
  const keys = await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify']);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    name: `CN=${name}`,
    keys,
    signingAlgorithm: alg,
    notBefore: new Date(NOW.getTime() - DAY),
    notAfter,
    extensions: await caExtensions(keys),
  });
  return { name, keys, cert };
}

/** `subject`'s name and key certified by `by`. */
async function cross(subject: Ca, by: Ca, notAfter = new Date(NOW.getTime() + 300 * DAY)): Promise<string> {
  const cert = await x509.X509CertificateGenerator.create({
    subject: `CN=${subject.name}`,
    issuer: by.cert.subject,
    publicKey: subject.keys.publicKey,
    signingKey: by.keys.privateKey,
    signingAlgorithm: alg,
    notBefore: new Date(NOW.getTime() - DAY),
    notAfter,
    extensions: await caExtensions(subject.keys),
  });
  return cert.toString('pem');
}

const der = (c: Ca): Uint8Array => new Uint8Array(c.cert.rawData);
const pem = (c: Ca): string => c.cert.toString('pem');

describe('endorsedRoots', () => {
  it('trusts a new root only through a cross-certificate a trusted root signed for its exact name and key', async () => {
    const r1 = await root('Root 1');
    const r2 = await root('Root 2');
    const learnt = endorsedRoots(
      [der(r1)],
      { roots: [pem(r2), pem(r1)], crossCertificates: [await cross(r2, r1)] },
      NOW,
    );
    expect(learnt).toHaveLength(1);
    expect(learnt[0]?.fingerprint).toBe(new TrustedRoots([pem(r2)]).fingerprints()[0]);
    expect(learnt[0]?.endorsedBy).toBe(new TrustedRoots([pem(r1)]).fingerprints()[0]);

    // No cross-certificate, or one signed by a key nobody trusts: nothing learnt.
    expect(endorsedRoots([der(r1)], { roots: [pem(r2)] }, NOW)).toEqual([]);
    const stranger = await root('Stranger');
    expect(endorsedRoots([der(r1)], { roots: [pem(r2)], crossCertificates: [await cross(r2, stranger)] }, NOW)).toEqual(
      [],
    );
    // A cross-certificate for the same name but another key does not vouch for this root.
    const twin = await root('Root 2');
    expect(endorsedRoots([der(r1)], { roots: [pem(twin)], crossCertificates: [await cross(r2, r1)] }, NOW)).toEqual([]);
    // Expired cross-certificate, or a root not valid now: nothing learnt.
    const expired = await cross(r2, r1, new Date(NOW.getTime() - 1000));
    expect(endorsedRoots([der(r1)], { roots: [pem(r2)], crossCertificates: [expired] }, NOW)).toEqual([]);
    const old = await root('Root 3', new Date(NOW.getTime() - 1000));
    expect(endorsedRoots([der(r1)], { roots: [pem(old)], crossCertificates: [await cross(old, r1)] }, NOW)).toEqual([]);
    // Already trusted: nothing new.
    expect(
      endorsedRoots([der(r1), der(r2)], { roots: [pem(r2)], crossCertificates: [await cross(r2, r1)] }, NOW),
    ).toEqual([]);
    // Garbage in the answer is ignored, not thrown.
    expect(endorsedRoots([der(r1)], { roots: ['not a pem'], crossCertificates: ['nor this'] }, NOW)).toEqual([]);
  });

  it('TrustedRoots keeps each root once, in order, and writes them as one PEM', async () => {
    const r1 = await root('Root 1');
    const r2 = await root('Root 2');
    const trust = new TrustedRoots([pem(r1), `${pem(r1)}\n${pem(r2)}\n`]);
    expect(trust.ders()).toHaveLength(2);
    trust.add(der(r2));
    expect(trust.ders()).toHaveLength(2);
    expect(new TrustedRoots([trust.pem()]).fingerprints()).toEqual(trust.fingerprints());
  });
});
