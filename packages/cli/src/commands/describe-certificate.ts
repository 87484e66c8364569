import { X509Certificate as NodeX509 } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { describePublicKey, extendedKeyUsageName, extractIdentity, keyUsageNames, type Identity } from '@mutual/sdk';
import { formatTimeLeft } from '../output/index.js';

/** Reads every field `mutual cert inspect` shows from a certificate's DER (loaded only by that command). */

export interface CertificateView {
  index: number;
  role: 'leaf' | 'intermediate' | 'root' | 'certificate';
  subject: string;
  issuer: string;
  identity: { kind: Identity['kind']; value: string | null };
  sans: { dns: string[]; ip: string[]; uri: string[]; email: string[] };
  serial: string;
  notBefore: string;
  notAfter: string;
  timeLeft: string;
  expired: boolean;
  notYetValid: boolean;
  key: string;
  keyUsage: string[];
  extendedKeyUsage: string[];
  basicConstraints: { ca: boolean; pathLength: number | null } | null;
  fingerprintSha256: string;
  spkiSha256: string;
  selfSigned: boolean;
}

/** A readable description of one certificate, all fields read from its DER. */
export function describeCertificate(der: Uint8Array, index: number, now: Date): CertificateView {
  const identity = extractIdentity(der);
  const cert = new x509.X509Certificate(der);
  const ku = cert.getExtension(x509.KeyUsagesExtension);
  const eku = cert.getExtension(x509.ExtendedKeyUsageExtension);
  const bc = cert.getExtension(x509.BasicConstraintsExtension);
  const node = new NodeX509(der);
  const selfSigned = node.checkIssued(node);
  const role =
    selfSigned && bc?.ca === true
      ? 'root'
      : index === 0 && bc?.ca !== true
        ? 'leaf'
        : bc?.ca === true
          ? 'intermediate'
          : 'certificate';
  return {
    index,
    role,
    subject: identity.subject,
    issuer: identity.issuer,
    identity: { kind: identity.kind, value: identity.value },
    sans: { dns: identity.dnsNames, ip: identity.ipAddresses, uri: identity.uris, email: identity.emails },
    serial: identity.serialHex,
    notBefore: identity.notBefore.toISOString(),
    notAfter: identity.notAfter.toISOString(),
    timeLeft: formatTimeLeft(identity.notAfter, now),
    expired: identity.notAfter.getTime() < now.getTime(),
    notYetValid: identity.notBefore.getTime() > now.getTime(),
    key: describePublicKey(node.publicKey).label,
    keyUsage: ku ? keyUsageNames(ku.usages) : [],
    extendedKeyUsage: eku ? eku.usages.map((u) => extendedKeyUsageName(String(u))) : [],
    basicConstraints: bc ? { ca: bc.ca, pathLength: bc.pathLength ?? null } : null,
    fingerprintSha256: identity.fingerprintSha256,
    spkiSha256: identity.spkiSha256,
    selfSigned,
  };
}
