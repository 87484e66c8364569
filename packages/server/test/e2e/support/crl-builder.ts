// A CRL builder for tests, on @peculiar/x509, until pki's own builder is wired in. Same port as
// production (CrlBuilder): entries, thisUpdate/nextUpdate, CRL number, signed by the level's key.
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import type { CrlBuilder } from '../../../src/ca/index.js';

function derInteger(n: bigint): Uint8Array {
  let hex = n.toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  if (parseInt(hex.slice(0, 2), 16) & 0x80) hex = `00${hex}`;
  const body = Buffer.from(hex, 'hex');
  return Uint8Array.from([0x02, body.length, ...body]);
}

const REASONS: Record<number, x509.X509CrlReason> = Object.fromEntries(
  Object.values(x509.X509CrlReason)
    .filter((v): v is x509.X509CrlReason => typeof v === 'number')
    .map((v) => [v, v]),
);

export const peculiarCrlBuilder: CrlBuilder = async (input) => {
  const issuer = new x509.X509Certificate(input.issuer.certificateDer);
  const pkcs8 = input.issuer.privateKey.export({ type: 'pkcs8', format: 'der' });
  const signingKey = await webcrypto.subtle.importKey('pkcs8', pkcs8, { name: 'ECDSA', namedCurve: 'P-256' }, false, [
    'sign',
  ]);
  const aki = await x509.AuthorityKeyIdentifierExtension.create(issuer, false);
  const crl = await x509.X509CrlGenerator.create({
    issuer: issuer.subjectName,
    thisUpdate: input.thisUpdate,
    nextUpdate: input.nextUpdate,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    signingKey,
    extensions: [aki, new x509.Extension('2.5.29.20', false, derInteger(input.number))],
    entries: input.revoked.map((e): x509.X509CrlEntryParams => ({
      serialNumber: e.serial,
      revocationDate: e.revokedAt,
      reason: REASONS[e.reasonCode] ?? x509.X509CrlReason.unspecified,
    })),
  });
  return new Uint8Array(crl.rawData);
};
