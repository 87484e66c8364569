import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { extendedKeyUsageName, keyUsageNames } from '@mutual/sdk';

/** Names of the extensions a mutual certificate carries, and of common others. */
const EXTENSION_NAMES: Record<string, string> = {
  '2.5.29.14': 'Subject Key Identifier',
  '2.5.29.15': 'Key Usage',
  '2.5.29.17': 'Subject Alternative Name',
  '2.5.29.19': 'Basic Constraints',
  '2.5.29.30': 'Name Constraints',
  '2.5.29.31': 'CRL Distribution Points',
  '2.5.29.32': 'Certificate Policies',
  '2.5.29.35': 'Authority Key Identifier',
  '2.5.29.37': 'Extended Key Usage',
  '1.3.6.1.5.5.7.1.1': 'Authority Information Access',
};

const hex = (buffer: ArrayBuffer): string => Buffer.from(buffer).toString('hex');

function valueOf(ext: x509.Extension): string {
  if (ext instanceof x509.KeyUsagesExtension) {
    return keyUsageNames(ext.usages).join(', ');
  }
  if (ext instanceof x509.ExtendedKeyUsageExtension) {
    return ext.usages.map((u) => extendedKeyUsageName(String(u))).join(', ');
  }
  if (ext instanceof x509.BasicConstraintsExtension) {
    return `CA: ${ext.ca}${ext.pathLength === undefined ? '' : `, path length ${ext.pathLength}`}`;
  }
  if (ext instanceof x509.SubjectAlternativeNameExtension) {
    return ext.names.items.map((n) => `${n.type.toUpperCase()}:${n.value}`).join(', ');
  }
  if (ext instanceof x509.SubjectKeyIdentifierExtension) return ext.keyId;
  if (ext instanceof x509.AuthorityKeyIdentifierExtension) return ext.keyId ?? '';
  if (ext instanceof x509.CRLDistributionPointsExtension) {
    return ext.distributionPoints
      .flatMap((dp) => dp.distributionPoint?.fullName ?? [])
      .map((n) => n.uniformResourceIdentifier ?? '')
      .filter((u) => u !== '')
      .join(', ');
  }
  if (ext instanceof x509.AuthorityInfoAccessExtension) {
    const list = (label: string, names: x509.GeneralName[]): string[] => names.map((n) => `${label}: ${n.value}`);
    return [...list('OCSP', ext.ocsp), ...list('CA Issuers', ext.caIssuers)].join(', ');
  }
  const raw = hex(ext.value);
  return raw.length > 256 ? `${raw.slice(0, 256)}…` : raw;
}

/** The issuer and the extensions of a leaf, in words, for the certificate detail view. */
export function describeLeaf(pem: string): {
  issuer: string;
  extensions: { name: string; oid: string; critical: boolean; value: string }[];
} {
  const cert = new x509.X509Certificate(pem);
  return {
    issuer: cert.issuer,
    extensions: cert.extensions.map((ext) => ({
      name: EXTENSION_NAMES[ext.type] ?? ext.type,
      oid: ext.type,
      critical: ext.critical,
      value: valueOf(ext),
    })),
  };
}
