import type { DerTlv } from '../pem/index.js';
import { children, decodeInteger, decodeOid, decodeTime, expectTag, fail, ia5, single } from './asn1.js';
import { parseName, type ParsedName } from './names.js';

/** What identity extraction needs from a certificate, read strictly from its DER. */
export interface ParsedCertificate {
  readonly serial: bigint;
  readonly issuer: ParsedName;
  readonly subject: ParsedName;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** The SubjectPublicKeyInfo exactly as encoded in the certificate. */
  readonly spki: Uint8Array;
  readonly san: SubjectAltNames;
}

export interface SubjectAltNames {
  readonly dnsNames: string[];
  readonly ipAddresses: string[];
  readonly uris: string[];
  readonly emails: string[];
}

const OID_SAN = '2.5.29.17';

/** Parses a certificate strictly; throws CertificateFormatError on any defect. */
export function parseCertificate(der: Uint8Array): ParsedCertificate {
  const cert = expectTag(single(der, 'certificate'), 0x30, 'certificate');
  const [tbs, sigAlg, sig, ...extra] = children(cert, 'certificate');
  if (extra.length > 0) fail('certificate: extra fields');
  expectTag(tbs, 0x30, 'tbsCertificate');
  expectTag(sigAlg, 0x30, 'signatureAlgorithm');
  expectTag(sig, 0x03, 'signatureValue');

  const fields = children(tbs as DerTlv, 'tbsCertificate');
  let i = 0;
  let version = 0n;
  if (fields[0]?.tag === 0xa0) {
    const [v, ...rest] = children(fields[0], 'version');
    if (rest.length > 0) fail('version: extra fields');
    version = decodeInteger(expectTag(v, 0x02, 'version').value, 'version');
    if (version < 0n || version > 2n) fail('version: unknown');
    i = 1;
  }
  const serial = decodeInteger(expectTag(fields[i++], 0x02, 'serialNumber').value, 'serialNumber');
  const innerSigAlg = expectTag(fields[i++], 0x30, 'signature');
  if (!Buffer.from(innerSigAlg.der).equals(Buffer.from((sigAlg as DerTlv).der))) {
    fail('signature algorithm differs between tbsCertificate and certificate');
  }
  const issuer = parseName(expectTag(fields[i++], 0x30, 'issuer'), 'issuer');
  const validity = children(expectTag(fields[i++], 0x30, 'validity'), 'validity');
  if (validity.length !== 2) fail('validity: not (notBefore, notAfter)');
  const notBefore = decodeTime(validity[0] as DerTlv, 'notBefore');
  const notAfter = decodeTime(validity[1] as DerTlv, 'notAfter');
  const subject = parseName(expectTag(fields[i++], 0x30, 'subject'), 'subject');
  const spki = expectTag(fields[i++], 0x30, 'subjectPublicKeyInfo');
  const spkiParts = children(spki, 'subjectPublicKeyInfo');
  if (spkiParts.length !== 2 || spkiParts[0]?.tag !== 0x30 || spkiParts[1]?.tag !== 0x03) {
    fail('subjectPublicKeyInfo: not (algorithm, BIT STRING)');
  }
  if (fields[i]?.tag === 0x81) i++; // issuerUniqueID
  if (fields[i]?.tag === 0x82) i++; // subjectUniqueID
  let san: SubjectAltNames = { dnsNames: [], ipAddresses: [], uris: [], emails: [] };
  const extensions = fields[i];
  if (extensions?.tag === 0xa3) {
    if (version !== 2n) fail('extensions in a certificate that is not version 3');
    san = readExtensions(extensions);
    i++;
  }
  if (i !== fields.length) fail('tbsCertificate: unexpected fields');
  return { serial, issuer, subject, notBefore, notAfter, spki: spki.der, san };
}

function readExtensions(wrapper: DerTlv): SubjectAltNames {
  const [seq, ...rest] = children(wrapper, 'extensions');
  if (rest.length > 0) fail('extensions: extra fields');
  const list = children(expectTag(seq, 0x30, 'extensions'), 'extensions');
  // RFC 5280 wants at least one extension, but some encoders (@peculiar/x509) write an empty
  // list; it carries no names, so it is read as none rather than refused.
  const seen = new Set<string>();
  let san: SubjectAltNames = { dnsNames: [], ipAddresses: [], uris: [], emails: [] };
  for (const ext of list) {
    const parts = children(expectTag(ext, 0x30, 'extension'), 'extension');
    const oid = decodeOid(expectTag(parts[0], 0x06, 'extension id').value);
    let next = 1;
    if (parts[1]?.tag === 0x01) {
      const b = parts[1].value;
      if (b.length !== 1 || (b[0] !== 0 && b[0] !== 0xff)) fail('extension critical: not a DER BOOLEAN');
      next = 2;
    }
    const value = expectTag(parts[next], 0x04, `extension ${oid} value`);
    if (parts.length !== next + 1) fail(`extension ${oid}: extra fields`);
    if (seen.has(oid)) fail(`extension ${oid} appears twice`);
    seen.add(oid);
    if (oid === OID_SAN) san = readGeneralNames(single(value.value, 'subjectAltName'));
  }
  return san;
}

function readGeneralNames(tlv: DerTlv): SubjectAltNames {
  const names = children(expectTag(tlv, 0x30, 'subjectAltName'), 'subjectAltName');
  if (names.length === 0) fail('subjectAltName: empty');
  const out: SubjectAltNames = { dnsNames: [], ipAddresses: [], uris: [], emails: [] };
  for (const name of names) {
    switch (name.tag) {
      case 0x81:
        out.emails.push(ia5(name.value, 'rfc822Name'));
        break;
      case 0x82:
        out.dnsNames.push(ia5(name.value, 'dNSName'));
        break;
      case 0x86:
        out.uris.push(ia5(name.value, 'uniformResourceIdentifier'));
        break;
      case 0x87:
        out.ipAddresses.push(formatIp(name.value));
        break;
      case 0xa0: {
        const parts = children(name, 'otherName');
        expectTag(parts[0], 0x06, 'otherName type');
        expectTag(parts[1], 0xa0, 'otherName value');
        if (parts.length !== 2) fail('otherName: extra fields');
        break;
      }
      case 0xa4: {
        const [dn, ...rest] = children(name, 'directoryName');
        if (rest.length > 0 || dn === undefined) fail('directoryName: not one Name');
        parseName(dn, 'directoryName');
        break;
      }
      case 0xa3: // x400Address
      case 0xa5: // ediPartyName
        children(name, 'GeneralName');
        break;
      case 0x88:
        decodeOid(name.value);
        break;
      default:
        fail(`subjectAltName: unknown GeneralName tag 0x${name.tag.toString(16)}`);
    }
  }
  return out;
}

/** IPv4 dotted quad, or IPv6 in RFC 5952 form (lowercase, longest zero run as '::', hex throughout). */
export function formatIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return [...bytes].join('.');
  if (bytes.length !== 16) fail(`iPAddress: ${bytes.length} bytes`);
  const groups: number[] = [];
  for (let j = 0; j < 16; j += 2) groups.push(((bytes[j] ?? 0) << 8) | (bytes[j + 1] ?? 0));
  let bestStart = -1;
  let bestLen = 0;
  for (let j = 0; j < 8;) {
    if (groups[j] !== 0) {
      j++;
      continue;
    }
    let k = j;
    while (k < 8 && groups[k] === 0) k++;
    if (k - j > bestLen) {
      bestStart = j;
      bestLen = k - j;
    }
    j = k;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestLen < 2) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}
