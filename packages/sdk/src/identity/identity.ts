import { createHash } from 'node:crypto';
import { MutualError } from '../errors/index.js';
import { CertificateFormatError } from './asn1.js';
import { parseCertificate } from './certificate.js';
import { isValidDnsName } from './dns.js';
import { nameToString, OID_COMMON_NAME } from './names.js';
import { isValidSpiffeId } from './spiffe.js';

/**
 * The identity of a certificate's holder, read from its DER. `kind`/`value` are what authorization
 * uses; the name lists are everything the SAN extension carries, exactly as encoded.
 */
export interface Identity {
  /** 'spiffe': one URI SAN that is a valid SPIFFE ID; 'dns': DNS SANs; 'none': neither (or ambiguous). */
  kind: 'spiffe' | 'dns' | 'none';
  /** The SPIFFE ID, the first DNS name, or null. */
  value: string | null;
  spiffeId: string | null;
  dnsNames: string[];
  ipAddresses: string[];
  uris: string[];
  emails: string[];
  /** The subject's commonName when it has exactly one; null otherwise. Never used as identity by default. */
  commonName: string | null;
  /** Lowercase hex of the serial's value, no leading zeros ('0' for zero, '-' prefix if negative). */
  serialHex: string;
  /** RFC 4514 strings, for display only. */
  issuer: string;
  subject: string;
  notBefore: Date;
  notAfter: Date;
  /** Lowercase hex SHA-256 over the whole certificate DER, no colons. */
  fingerprintSha256: string;
  /** Lowercase hex SHA-256 over the SubjectPublicKeyInfo DER as encoded in the certificate. */
  spkiSha256: string;
}

/** Lowercase hex SHA-256 of the bytes, no colons. */
export function sha256Fingerprint(der: Uint8Array): string {
  return createHash('sha256').update(der).digest('hex');
}

/**
 * True when a URI would be read as spiffe-scheme by a lenient URL parser: WHATWG parsers drop tabs
 * and newlines anywhere and leading controls/spaces, and fold the scheme's case. Such a URI that is
 * not a strictly valid SPIFFE ID makes the identity 'none' rather than letting DNS names decide.
 */
function claimsSpiffeScheme(uri: string): boolean {
  let s = '';
  for (const ch of uri) if (ch !== '\t' && ch !== '\n' && ch !== '\r') s += ch;
  let i = 0;
  while (i < s.length && s.charCodeAt(i) <= 0x20) i++;
  return s.slice(i, i + 7).toLowerCase() === 'spiffe:';
}

function serialToHex(serial: bigint): string {
  return serial < 0n ? `-${(-serial).toString(16)}` : serial.toString(16);
}

/**
 * Reads the identity of a certificate from its DER (never from string forms). Order: a SPIFFE ID
 * when the certificate has exactly one URI SAN and it is a valid SPIFFE ID; 'none' when any URI SAN
 * claims the spiffe scheme otherwise (several URIs, invalid ID) — such a certificate is not a DNS
 * identity either; else the DNS SANs when every one is a valid host name (wildcards allowed);
 * else 'none'. Malformed DER → ERR_X509_MALFORMED.
 */
export function extractIdentity(certificateDer: Uint8Array): Identity {
  let cert;
  try {
    cert = parseCertificate(certificateDer);
  } catch (cause) {
    if (cause instanceof CertificateFormatError) {
      throw new MutualError('ERR_X509_MALFORMED', {
        message: `The certificate is malformed (${cause.message}).`,
        details: { reason: cause.message },
      });
    }
    throw new MutualError('ERR_X509_MALFORMED', { cause });
  }
  const { dnsNames, ipAddresses, uris, emails } = cert.san;
  const spiffeLike = uris.filter(claimsSpiffeScheme);
  let kind: Identity['kind'] = 'none';
  let value: string | null = null;
  let spiffeId: string | null = null;
  if (spiffeLike.length > 0) {
    const only = uris[0];
    if (uris.length === 1 && only !== undefined && isValidSpiffeId(only)) {
      kind = 'spiffe';
      value = only;
      spiffeId = only;
    }
  } else if (dnsNames.length > 0 && dnsNames.every((n) => isValidDnsName(n, { allowWildcard: true }))) {
    kind = 'dns';
    value = dnsNames[0] ?? null;
  }
  const cns = cert.subject.flat().filter((a) => a.oid === OID_COMMON_NAME);
  const commonName = cns.length === 1 ? (cns[0]?.text ?? null) : null;
  return {
    kind,
    value,
    spiffeId,
    dnsNames: [...dnsNames],
    ipAddresses: [...ipAddresses],
    uris: [...uris],
    emails: [...emails],
    commonName,
    serialHex: serialToHex(cert.serial),
    issuer: nameToString(cert.issuer),
    subject: nameToString(cert.subject),
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
    fingerprintSha256: sha256Fingerprint(certificateDer),
    spkiSha256: sha256Fingerprint(cert.spki),
  };
}
