import { X509Certificate as NodeX509 } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { describePublicKey, extractIdentity, type Identity } from '@mutual/sdk';
import { formatTimeLeft } from '../output/index.js';

/** Reads every field `mutual cert inspect` shows from a certificate's DER (loaded only by that command). */
const KU_NAMES: [number, string][] = [
  [x509.KeyUsageFlags.digitalSignature, 'digitalSignature'],
  [x509.KeyUsageFlags.nonRepudiation, 'contentCommitment'],
  [x509.KeyUsageFlags.keyEncipherment, 'keyEncipherment'],
  [x509.KeyUsageFlags.dataEncipherment, 'dataEncipherment'],
  [x509.KeyUsageFlags.keyAgreement, 'keyAgreement'],
  [x509.KeyUsageFlags.keyCertSign, 'keyCertSign'],
  [x509.KeyUsageFlags.cRLSign, 'cRLSign'],
  [x509.KeyUsageFlags.encipherOnly, 'encipherOnly'],
  [x509.KeyUsageFlags.decipherOnly, 'decipherOnly'],
];
const EKU_NAMES: Record<string, string> = {
  '1.3.6.1.5.5.7.3.1': 'serverAuth',
  '1.3.6.1.5.5.7.3.2': 'clientAuth',
  '1.3.6.1.5.5.7.3.3': 'codeSigning',
  '1.3.6.1.5.5.7.3.4': 'emailProtection',
  '1.3.6.1.5.5.7.3.8': 'timeStamping',
  '1.3.6.1.5.5.7.3.9': 'OCSPSigning',
  '2.5.29.37.0': 'anyExtendedKeyUsage',
};

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
    keyUsage: ku ? KU_NAMES.filter(([flag]) => (ku.usages & flag) !== 0).map(([, n]) => n) : [],
    extendedKeyUsage: eku ? eku.usages.map((u) => EKU_NAMES[String(u)] ?? String(u)) : [],
    basicConstraints: bc ? { ca: bc.ca, pathLength: bc.pathLength ?? null } : null,
    fingerprintSha256: identity.fingerprintSha256,
    spkiSha256: identity.spkiSha256,
    selfSigned,
  };
}
