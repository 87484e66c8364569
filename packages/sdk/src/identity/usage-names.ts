/**
 * RFC 5280 names of the key-usage bits, in the order of the standard, keyed by the flag values of
 * @peculiar/x509's KeyUsageFlags (not imported: loading that library needs reflect-metadata and
 * costs start-up time to every user of the SDK; a test checks the values match).
 */
const KEY_USAGE_NAMES: readonly (readonly [number, string])[] = [
  [1, 'digitalSignature'],
  [2, 'contentCommitment'],
  [4, 'keyEncipherment'],
  [8, 'dataEncipherment'],
  [16, 'keyAgreement'],
  [32, 'keyCertSign'],
  [64, 'cRLSign'],
  [128, 'encipherOnly'],
  [256, 'decipherOnly'],
];

const EKU_NAMES: Readonly<Record<string, string>> = {
  '1.3.6.1.5.5.7.3.1': 'serverAuth',
  '1.3.6.1.5.5.7.3.2': 'clientAuth',
  '1.3.6.1.5.5.7.3.3': 'codeSigning',
  '1.3.6.1.5.5.7.3.4': 'emailProtection',
  '1.3.6.1.5.5.7.3.8': 'timeStamping',
  '1.3.6.1.5.5.7.3.9': 'OCSPSigning',
  '2.5.29.37.0': 'anyExtendedKeyUsage',
};

/** The names of the key-usage bits set in `usages` (@peculiar/x509's KeyUsageFlags), in RFC order. */
export function keyUsageNames(usages: number): string[] {
  return KEY_USAGE_NAMES.filter(([flag]) => (usages & flag) !== 0).map(([, name]) => name);
}

/** The name of an extended key usage (`clientAuth`, …), or its OID when it has none here. */
export function extendedKeyUsageName(oid: string): string {
  return EKU_NAMES[oid] ?? oid;
}
