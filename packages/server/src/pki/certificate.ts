import type { KeyObject } from 'node:crypto';
import { assertAcceptableKey, describePublicKey, encodePem, MutualError } from '@mutual/sdk';
import { isExternalKey, signerFor, type SigningKey } from './algorithms.js';
import { cachedSigner, spkiBytes } from './keycache.js';
import {
  bitString,
  boolean,
  bytesEqual,
  explicit,
  implicitConstructed,
  implicitPrimitive,
  integer,
  integerFromContent,
  namedBits,
  nullValue,
  octetString,
  oid,
  sequence,
  x509Time,
} from './der.js';
import {
  countNames,
  encodeGeneralNames,
  encodeName,
  firstName,
  uriProblem,
  validateNames,
  MAX_DN_ATTRIBUTE,
  type DistinguishedName,
  type SubjectNames,
} from './names.js';
import { OID } from './oids.js';
import { assertValidSerial } from './serial.js';
import {
  KEY_USAGE,
  decodeBasicConstraints,
  decodeKeyUsage,
  decodeSubjectKeyIdentifier,
  findExtension,
  keyIdentifier,
  parseCertificate,
  type KeyUsageName,
} from './x509.js';

/**
 * What a certificate is for. `ocsp` is a delegated OCSP responder (RFC 6960 §4.2.2.2): issued by
 * the CA it answers for, EKU id-kp-OCSPSigning only, id-pkix-ocsp-nocheck, no names.
 */
export type Profile = 'root' | 'intermediate' | 'server' | 'client' | 'both' | 'ocsp';

export const PROFILES: readonly Profile[] = ['root', 'intermediate', 'server', 'client', 'both', 'ocsp'];

export const isCaProfile = (p: Profile): boolean => p === 'root' || p === 'intermediate';

/** Profiles whose certificates must carry at least one subjectAltName name (TLS end entities). */
export const needsNames = (p: Profile): boolean => p === 'server' || p === 'client' || p === 'both';

/** The issuing CA: its certificate and private key. */
export interface Issuer {
  certificateDer: Uint8Array;
  privateKey: SigningKey;
}

export interface BuildCertificateInput {
  profile: Profile;
  /**
   * Subject attributes. For leaves the common name is set by mutual: the first name (dns, ip, uri,
   * email order) when it fits 64 characters, else none; a given commonName must be one of the names.
   */
  subject: DistinguishedName;
  /** TLS leaves: at least one. CAs: usually none. OCSP responders: none (name them in the subject). */
  names: SubjectNames;
  publicKey: KeyObject;
  /** The issuing CA, or `{ selfSigned: privateKey }` for a root. */
  issuer: Issuer | { selfSigned: SigningKey };
  /** Content octets of the serial INTEGER (see generateSerial). */
  serial: Uint8Array;
  /** Whole seconds (see computeValidity); sub-second parts are truncated. */
  notBefore: Date;
  notAfter: Date;
  /** Intermediates (default 0) and roots (default: no constraint). */
  pathLength?: number;
  crlDistributionPoint?: string;
  ocspUrl?: string;
  caIssuersUrl?: string;
}

export interface BuiltCertificate {
  der: Uint8Array;
  pem: string;
}

/** The key usages each profile gets (RSA leaves add keyEncipherment for TLS 1.2 RSA key exchange). */
export function expectedKeyUsage(profile: Profile, subjectKey: KeyObject): KeyUsageName[] {
  if (isCaProfile(profile)) return ['digitalSignature', 'keyCertSign', 'cRLSign'];
  if (profile === 'ocsp') return ['digitalSignature'];
  return describePublicKey(subjectKey).algorithm === 'rsa'
    ? ['digitalSignature', 'keyEncipherment']
    : ['digitalSignature'];
}

export function expectedExtKeyUsage(profile: Profile): string[] {
  switch (profile) {
    case 'server':
      return [OID.serverAuth];
    case 'client':
      return [OID.clientAuth];
    case 'both':
      return [OID.serverAuth, OID.clientAuth];
    case 'ocsp':
      return [OID.ocspSigning];
    default:
      return [];
  }
}

function profileInvalid(reason: string): MutualError {
  return new MutualError('ERR_PKI_PROFILE_INVALID', {
    message: `Invalid profile use: ${reason}.`,
    details: { reason },
  });
}

function issuerInvalid(message: string, cause?: unknown): MutualError {
  return new MutualError('ERR_PKI_ISSUER_INVALID', cause === undefined ? { message } : { message, cause });
}

interface IssuerInfo {
  subject: Uint8Array;
  spki: Uint8Array;
  keyId: Uint8Array;
  notBefore: Date;
  notAfter: Date;
  /** Private keys already checked to match this certificate. */
  matchedKeys: WeakSet<SigningKey>;
}

const issuerCache = new WeakMap<Uint8Array, IssuerInfo>();

const spkiOf = spkiBytes;

/** Reads and checks an issuer certificate once per DER buffer (cached by identity), and each key once. */
function issuerInfo(issuer: Issuer): IssuerInfo {
  return cachedSigner(
    issuerCache,
    issuer,
    'issuer',
    (der) => {
      const cert = parseCertificate(der);
      const bc = findExtension(cert, OID.basicConstraints);
      const ku = findExtension(cert, OID.keyUsage);
      const ski = findExtension(cert, OID.subjectKeyIdentifier);
      if (!bc || !decodeBasicConstraints(bc.value).ca) throw issuerInvalid('The issuer certificate is not a CA.');
      if (ku && !decodeKeyUsage(ku.value).includes('keyCertSign'))
        throw issuerInvalid('The issuer certificate lacks the keyCertSign key usage.');
      if (!ski) throw issuerInvalid('The issuer certificate has no subject key identifier.');
      return {
        subject: cert.subject.bytes,
        spki: cert.spki.bytes,
        keyId: decodeSubjectKeyIdentifier(ski.value),
        notBefore: cert.notBefore,
        notAfter: cert.notAfter,
        matchedKeys: new WeakSet(),
      };
    },
    issuerInvalid,
  );
}

const extension = (id: string, critical: boolean, value: Uint8Array): Uint8Array =>
  sequence(critical ? [oid(id), boolean(true), octetString(value)] : [oid(id), octetString(value)]);

function httpUrl(url: string | undefined, field: string): string | undefined {
  if (url === undefined) return undefined;
  if (!/^https?:\/\//.test(url) || uriProblem(url) !== undefined)
    throw profileInvalid(`${field} must be an http(s) URL`);
  return url;
}

const wholeSeconds = (d: Date, field: string): Date => {
  if (!(d instanceof Date) || !Number.isFinite(d.getTime()))
    throw new MutualError('ERR_PKI_LIFETIME_INVALID', { message: `${field} is not a valid date.` });
  return new Date(Math.floor(d.getTime() / 1000) * 1000);
};

/**
 * Builds and signs a certificate of a profile. Everything the certificate says comes from the
 * profile and the arguments; nothing is copied from a CSR except the key and the validated names.
 * Use issueCertificate to also lint the result.
 */
export function buildCertificate(input: BuildCertificateInput): BuiltCertificate {
  const { profile } = input;
  if (!PROFILES.includes(profile)) throw profileInvalid(`unknown profile ${profile}`);
  const ca = isCaProfile(profile);
  const selfSigned = 'selfSigned' in input.issuer;
  if (profile === 'root' && !selfSigned) throw profileInvalid('a root is self-signed');
  if (profile !== 'root' && selfSigned) throw profileInvalid(`a ${profile} certificate needs an issuing CA`);
  if (input.pathLength !== undefined) {
    if (!ca) throw profileInvalid('a path length applies to CA certificates only');
    if (!Number.isSafeInteger(input.pathLength) || input.pathLength < 0 || input.pathLength > 16)
      throw profileInvalid('the path length must be an integer from 0 to 16');
  }

  // The subject key: a type mutual accepts (ERR_KEY_*).
  if (input.publicKey.type === 'secret') throw new MutualError('ERR_KEY_UNSUPPORTED');
  assertAcceptableKey(input.publicKey);
  const subjectSpki = spkiOf(input.publicKey);
  const subjectKeyId = keyIdentifier(subjectSpki);

  // Names and subject.
  const validated = validateNames(input.names);
  if (needsNames(profile) && countNames(validated.names) === 0) throw new MutualError('ERR_PKI_NAMES_EMPTY');
  if (profile === 'ocsp' && countNames(validated.names) > 0)
    throw profileInvalid('an OCSP responder certificate carries no subjectAltName names');
  const subject: DistinguishedName = { ...input.subject };
  if (needsNames(profile)) {
    const all = [...validated.names.dns, ...validated.names.ip, ...validated.names.uri, ...validated.names.email];
    if (subject.commonName !== undefined) {
      const cn = subject.commonName;
      const normalized = validated.names.dns.includes(cn.toLowerCase()) ? cn.toLowerCase() : cn;
      if (!all.includes(normalized)) {
        throw new MutualError('ERR_PKI_SUBJECT_INVALID', {
          message: 'A leaf common name must be one of its names.',
          details: { field: 'commonName' },
        });
      }
      subject.commonName = normalized;
    } else {
      const first = firstName(validated.names);
      if (first !== undefined && first.length <= MAX_DN_ATTRIBUTE) subject.commonName = first;
    }
  }
  const subjectDer = encodeName(subject);
  const subjectEmpty = subjectDer.length === 2;
  if ((ca || profile === 'ocsp') && subjectEmpty) {
    throw new MutualError('ERR_PKI_SUBJECT_INVALID', {
      message: `A${ca ? ' CA' : 'n OCSP responder'} certificate needs a non-empty subject.`,
      details: { field: 'subject' },
    });
  }

  // Issuer.
  let issuerName: Uint8Array;
  let authorityKeyId: Uint8Array;
  let signingKey: SigningKey;
  const notBefore = wholeSeconds(input.notBefore, 'notBefore');
  const notAfter = wholeSeconds(input.notAfter, 'notAfter');
  if (notBefore.getTime() >= notAfter.getTime())
    throw new MutualError('ERR_PKI_LIFETIME_INVALID', { message: 'notBefore must be before notAfter.' });
  if ('selfSigned' in input.issuer) {
    signingKey = input.issuer.selfSigned;
    if ((signingKey.type !== 'private' && !isExternalKey(signingKey)) || !bytesEqual(spkiOf(signingKey), subjectSpki))
      throw issuerInvalid('A self-signed root must be signed with the private key of its own public key.');
    issuerName = subjectDer;
    authorityKeyId = subjectKeyId;
  } else {
    const info = issuerInfo(input.issuer);
    signingKey = input.issuer.privateKey;
    issuerName = info.subject;
    authorityKeyId = info.keyId;
    if (notBefore < info.notBefore || notAfter > info.notAfter) {
      throw new MutualError('ERR_PKI_LIFETIME_INVALID', {
        message: "The validity must lie within the issuer's (use computeValidity).",
        details: { issuerNotBefore: info.notBefore.toISOString(), issuerNotAfter: info.notAfter.toISOString() },
      });
    }
  }
  assertValidSerial(input.serial);
  const signer = signerFor(signingKey);

  // Extensions, by profile.
  const exts: Uint8Array[] = [];
  const bc = ca
    ? sequence(
        input.pathLength !== undefined
          ? [boolean(true), integer(input.pathLength)]
          : profile === 'intermediate'
            ? [boolean(true), integer(0)]
            : [boolean(true)],
      )
    : sequence([]);
  exts.push(extension(OID.basicConstraints, true, bc));
  const ku = expectedKeyUsage(profile, input.publicKey).map((n) => KEY_USAGE[n]);
  exts.push(extension(OID.keyUsage, true, namedBits(ku)));
  const eku = expectedExtKeyUsage(profile);
  if (eku.length > 0) exts.push(extension(OID.extKeyUsage, false, sequence(eku.map(oid))));
  if (countNames(validated.names) > 0)
    exts.push(extension(OID.subjectAltName, subjectEmpty, encodeGeneralNames(validated)));
  exts.push(extension(OID.subjectKeyIdentifier, false, octetString(subjectKeyId)));
  exts.push(extension(OID.authorityKeyIdentifier, false, sequence([implicitPrimitive(0, authorityKeyId)])));
  // RFC 6960 §4.2.2.2.1: clients need not check the responder certificate's own revocation.
  if (profile === 'ocsp') exts.push(extension(OID.ocspNoCheck, false, nullValue()));
  const crl = httpUrl(input.crlDistributionPoint, 'crlDistributionPoint');
  if (crl !== undefined) {
    const uri = implicitPrimitive(6, new TextEncoder().encode(crl));
    // DistributionPoint { distributionPoint [0] { fullName [0] GeneralNames } }
    exts.push(
      extension(OID.crlDistributionPoints, false, sequence([sequence([explicit(0, implicitConstructed(0, [uri]))])])),
    );
  }
  const ocsp = httpUrl(input.ocspUrl, 'ocspUrl');
  const caIssuers = httpUrl(input.caIssuersUrl, 'caIssuersUrl');
  if (ocsp !== undefined || caIssuers !== undefined) {
    const access: Uint8Array[] = [];
    if (ocsp !== undefined)
      access.push(sequence([oid(OID.ocsp), implicitPrimitive(6, new TextEncoder().encode(ocsp))]));
    if (caIssuers !== undefined)
      access.push(sequence([oid(OID.caIssuers), implicitPrimitive(6, new TextEncoder().encode(caIssuers))]));
    exts.push(extension(OID.authorityInfoAccess, false, sequence(access)));
  }

  const tbs = sequence([
    explicit(0, integer(2)),
    integerFromContent(input.serial),
    signer.algorithmIdentifier,
    issuerName,
    sequence([x509Time(notBefore), x509Time(notAfter)]),
    subjectDer,
    subjectSpki,
    explicit(3, sequence(exts)),
  ]);
  const signature = signer.sign(tbs);
  const der = sequence([tbs, signer.algorithmIdentifier, bitString(signature)]);
  return { der, pem: encodePem(der, 'CERTIFICATE') };
}
