import { X509Certificate, type KeyObject } from 'node:crypto';
import { assertAcceptableKey, MutualError } from '@mutual/sdk';
import * as asn1js from 'asn1js';
import { decodeSignatureAlgorithm, expectedAlgorithmName, verifySignature } from './algorithms.js';
import {
  expectedExtKeyUsage,
  expectedKeyUsage,
  isCaProfile,
  needsNames,
  PROFILES,
  type Profile,
} from './certificate.js';
import { bytesEqual, checkTree, children, expectTag, nullValue, readOne, TAG, type DerNode } from './der.js';
import { countNames, decodeName, validateNames, type SubjectNames } from './names.js';
import { spkiBytes } from './keycache.js';
import { OID } from './oids.js';
import { serialProblem } from './serial.js';
import {
  decodeAuthorityKeyIdentifier,
  decodeBasicConstraints,
  decodeExtKeyUsage,
  decodeKeyUsage,
  decodeSubjectAltName,
  decodeSubjectKeyIdentifier,
  findExtension,
  parseCertificate,
  publicKeyOf,
  type ParsedCertificate,
} from './x509.js';

/** One broken rule. `rule` is a stable id (for example `aki.matches-issuer`). */
export interface LintFinding {
  rule: string;
  message: string;
}

export interface LintInput {
  der: Uint8Array;
  /** The issuing CA's certificate; absent for a self-signed root. */
  issuerDer?: Uint8Array;
  profile: Profile;
  /** When given, the SAN must hold exactly these names (after normalization, any order). */
  expectedNames?: SubjectNames;
}

/** Extensions mutual may mark critical; any other critical extension is a finding. */
const KNOWN_CRITICAL = new Set<string>([OID.basicConstraints, OID.keyUsage, OID.subjectAltName, OID.nameConstraints]);

const DECODERS: Record<string, (v: Uint8Array) => unknown> = {
  [OID.basicConstraints]: decodeBasicConstraints,
  [OID.keyUsage]: decodeKeyUsage,
  [OID.extKeyUsage]: decodeExtKeyUsage,
  [OID.subjectAltName]: decodeSubjectAltName,
  [OID.subjectKeyIdentifier]: decodeSubjectKeyIdentifier,
  [OID.authorityKeyIdentifier]: decodeAuthorityKeyIdentifier,
  [OID.ocspNoCheck]: (v) => {
    if (!bytesEqual(expectTag(readOne(v), TAG.NULL, 'id-pkix-ocsp-nocheck').bytes, nullValue()))
      throw new Error('id-pkix-ocsp-nocheck must be NULL');
  },
};

/**
 * True when asn1js's tree has exactly the strict reader's shape: same tags, definite lengths of
 * the same size, same children. (Cheaper than re-encoding with asn1js, and stricter: a re-encoding
 * keeps some non-minimal forms that only the strict reader refuses.)
 */
function sameTree(theirs: asn1js.AsnType, ours: DerNode, depth = 0): boolean {
  const { idBlock, lenBlock } = theirs;
  if (depth > 32) return false;
  if (
    idBlock.tagClass !== (ours.tag >> 6) + 1 ||
    idBlock.tagNumber !== (ours.tag & 0x1f) ||
    idBlock.isConstructed !== ours.constructed ||
    lenBlock.isIndefiniteForm ||
    lenBlock.length !== ours.value.length
  )
    return false;
  if (!ours.constructed) return true;
  const theirChildren = (theirs.valueBlock as { value?: unknown }).value;
  const ourChildren = children(ours);
  return (
    Array.isArray(theirChildren) &&
    theirChildren.length === ourChildren.length &&
    ourChildren.every((c, i) => sameTree(theirChildren[i] as asn1js.AsnType, c, depth + 1))
  );
}

const errorText = (e: unknown): string => (e instanceof Error ? e.message : String(e));

const sortedKey = (names: SubjectNames): string =>
  JSON.stringify([names.dns, names.ip, names.uri, names.email].map((list) => [...list].sort()));

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/**
 * Checks a certificate against mutual's profile rules and against three independent parsers (our
 * strict DER reader, asn1js, node's X509Certificate). Returns every finding; an empty list means
 * the certificate is fit to hand out. Pure: no clock (validity is checked against the issuer's).
 */
export function lintCertificate(input: LintInput): LintFinding[] {
  return lintWithHints(input, {});
}

/** What the caller already holds; each hint is checked against the certificate before use. */
export interface LintHints {
  /** The key the certificate was built for: used when its SPKI equals the certificate's. */
  subjectKey?: KeyObject;
  /** false skips the asn1js cross-parse (the strict reader and node:crypto still parse). */
  asn1js?: boolean;
}

interface IssuerView {
  parsed: ParsedCertificate;
  key: KeyObject;
}

/** Parsed issuers by DER buffer identity: a CA lints thousands of certificates under one issuer. */
const issuerViews = new WeakMap<Uint8Array, IssuerView>();

function issuerView(der: Uint8Array): IssuerView {
  let view = issuerViews.get(der);
  if (!view) {
    const parsed = parseCertificate(der);
    view = { parsed, key: publicKeyOf(parsed) };
    issuerViews.set(der, view);
  }
  return view;
}

export function lintWithHints(input: LintInput, hints: LintHints): LintFinding[] {
  const findings: LintFinding[] = [];
  const add = (rule: string, message: string): void => {
    findings.push({ rule, message });
  };
  const { profile } = input;
  if (!PROFILES.includes(profile)) {
    add('profile.known', `unknown profile ${profile}`);
    return findings;
  }

  // --- Encoding: three parsers must agree the DER is one canonical certificate.
  let cert: ParsedCertificate;
  try {
    cert = parseCertificate(input.der);
    checkTree(readOne(input.der));
    for (const ext of cert.extensions) checkTree(readOne(ext.value));
  } catch (e) {
    add('der.strict', `not strict DER: ${errorText(e)}`);
    return findings;
  }
  if (hints.asn1js !== false)
    try {
      const parsed = asn1js.fromBER(input.der, { parseEmbedded: false, copyInput: false });
      if (parsed.offset !== input.der.length || parsed.result.error !== '') {
        add('der.asn1js', `asn1js: ${parsed.result.error || 'length mismatch'}`);
      } else if (!sameTree(parsed.result, readOne(input.der))) {
        add('der.asn1js', 'asn1js reads a different structure than the strict reader');
      }
    } catch (e) {
      add('der.asn1js', `asn1js: ${errorText(e)}`);
    }
  let nodeCert: X509Certificate | undefined;
  try {
    nodeCert = new X509Certificate(input.der);
  } catch (e) {
    add('der.node', `node:crypto cannot parse it: ${errorText(e)}`);
  }

  // --- Version, serial.
  if (cert.version !== 3) add('version.v3', `version ${cert.version}, expected 3`);
  const serialIssue = serialProblem(cert.serial);
  if (serialIssue) add('serial.positive', `serial ${serialIssue}`);
  if (cert.serial.length < 16 || cert.serial.length > 20)
    add('serial.length', `serial has ${cert.serial.length} octets, expected 16 to 20`);
  if (
    nodeCert &&
    !serialIssue &&
    nodeCert.serialNumber.replace(/^0+/, '').toLowerCase() !== hex(cert.serial).replace(/^0+/, '')
  )
    add('der.node', 'node:crypto reads a different serial number');

  // --- Issuer and signature.
  const selfSigned = input.issuerDer === undefined;
  if (selfSigned && profile !== 'root') add('issuer.present', `a ${profile} certificate needs its issuer to be linted`);
  let issuer: ParsedCertificate | undefined;
  let issuerKey: KeyObject | undefined;
  if (input.issuerDer !== undefined) {
    try {
      ({ parsed: issuer, key: issuerKey } = issuerView(input.issuerDer));
    } catch (e) {
      add('issuer.readable', `the issuer certificate or its key is malformed: ${errorText(e)}`);
    }
  }
  const issuerSubject = issuer ? issuer.subject.bytes : cert.subject.bytes;
  if (!bytesEqual(cert.issuer.bytes, issuerSubject))
    add('issuer.name-match', "the issuer name is not the issuer's subject byte for byte");
  if (!bytesEqual(cert.tbsSignatureAlgorithm.bytes, cert.signatureAlgorithm.bytes))
    add('signature.algorithm-match', 'the TBS signature algorithm differs from the outer one');
  let subjectKey: KeyObject | undefined;
  if (hints.subjectKey && bytesEqual(spkiBytes(hints.subjectKey), cert.spki.bytes)) subjectKey = hints.subjectKey;
  else {
    try {
      subjectKey = publicKeyOf(cert);
    } catch (e) {
      add('spki.readable', `the public key cannot be read: ${errorText(e)}`);
    }
  }
  if (input.issuerDer === undefined) issuerKey = subjectKey;
  try {
    const alg = decodeSignatureAlgorithm(cert.signatureAlgorithm, true);
    if (!alg.ok) add('signature.algorithm-known', `${alg.name}: ${alg.reason}`);
    else if (issuerKey) {
      if (!verifySignature(alg.alg, cert.tbs, cert.signature, issuerKey))
        add('signature.verifies', 'the signature does not verify with the issuer public key');
      const expected = expectedAlgorithmName(issuerKey);
      if (alg.alg.name !== expected)
        add('signature.algorithm-for-key', `signed with ${alg.alg.name}, expected ${expected} for the issuer key`);
    }
  } catch (e) {
    add('signature.algorithm-known', `bad signature AlgorithmIdentifier: ${errorText(e)}`);
  }

  // --- Validity.
  if (cert.notBefore.getTime() >= cert.notAfter.getTime()) add('validity.order', 'notBefore is not before notAfter');
  for (const [date, generalized, field] of [
    [cert.notBefore, cert.notBeforeGeneralized, 'notBefore'],
    [cert.notAfter, cert.notAfterGeneralized, 'notAfter'],
  ] as const) {
    if (generalized !== date.getUTCFullYear() >= 2050)
      add('validity.encoding', `${field} must be ${generalized ? 'UTCTime' : 'GeneralizedTime'} for its year`);
  }
  if (issuer && (cert.notBefore < issuer.notBefore || cert.notAfter > issuer.notAfter))
    add('validity.within-issuer', "the validity is not inside the issuer's");

  // --- Extensions.
  const seen = new Set<string>();
  for (const ext of cert.extensions) {
    if (seen.has(ext.oid)) add('extensions.unique', `extension ${ext.oid} appears more than once`);
    seen.add(ext.oid);
    if (ext.critical && !KNOWN_CRITICAL.has(ext.oid))
      add('extensions.critical-known', `extension ${ext.oid} is critical but not one mutual marks critical`);
    const decode = DECODERS[ext.oid];
    if (decode) {
      try {
        decode(ext.value);
      } catch (e) {
        add('extensions.decodable', `extension ${ext.oid}: ${errorText(e)}`);
        return findings;
      }
    }
  }
  const ca = isCaProfile(profile);

  const bc = findExtension(cert, OID.basicConstraints);
  if (!bc) add('basic-constraints.present', 'no basicConstraints');
  else {
    if (!bc.critical) add('basic-constraints.critical', 'basicConstraints must be critical');
    const v = decodeBasicConstraints(bc.value);
    if (v.ca !== ca) add('basic-constraints.ca', ca ? 'a CA certificate needs CA:TRUE' : 'a leaf must never be a CA');
    if (!ca && v.pathLen !== undefined) add('basic-constraints.path-length', 'a leaf has no path length');
    if (profile === 'intermediate' && v.pathLen === undefined)
      add('basic-constraints.path-length', 'an intermediate needs a path length');
  }

  const ku = findExtension(cert, OID.keyUsage);
  if (!ku) add('key-usage.present', 'no keyUsage');
  else {
    if (!ku.critical) add('key-usage.critical', 'keyUsage must be critical');
    if (subjectKey) {
      let want: string[] = [];
      try {
        want = expectedKeyUsage(profile, subjectKey);
      } catch {
        // reported by spki.acceptable below
      }
      const got = decodeKeyUsage(ku.value);
      if ([...got].sort().join(',') !== [...want].sort().join(','))
        add('key-usage.profile', `keyUsage is ${got.join('|')}, the ${profile} profile wants ${want.join('|')}`);
    }
  }

  const eku = findExtension(cert, OID.extKeyUsage);
  const wantEku = expectedExtKeyUsage(profile);
  if (ca) {
    if (eku) add('eku.profile', 'CA certificates carry no extendedKeyUsage');
  } else if (!eku) add('eku.present', 'no extendedKeyUsage');
  else {
    if (eku.critical) add('eku.profile', 'extendedKeyUsage is not critical in mutual certificates');
    const got = decodeExtKeyUsage(eku.value);
    if ([...got].sort().join(',') !== [...wantEku].sort().join(','))
      add('eku.profile', `extendedKeyUsage is ${got.join(',')}, the ${profile} profile wants ${wantEku.join(',')}`);
  }

  // --- Subject and names.
  let subjectCn: string | undefined;
  try {
    subjectCn = decodeName(cert.subject).commonName;
  } catch (e) {
    add('subject.readable', `the subject cannot be read: ${errorText(e)}`);
  }
  const subjectEmpty = cert.subject.value.length === 0;
  if (ca && subjectEmpty) add('subject.ca-nonempty', 'a CA certificate needs a subject');
  const san = findExtension(cert, OID.subjectAltName);
  let sanNames: SubjectNames = { dns: [], ip: [], uri: [], email: [] };
  if (san) {
    const decoded = decodeSubjectAltName(san.value);
    sanNames = decoded.names;
    if (decoded.unsupported.length > 0) add('san.types', 'the SAN holds name types mutual does not issue');
    if (san.critical !== subjectEmpty)
      add(
        'san.critical',
        subjectEmpty ? 'an empty subject needs a critical SAN' : 'the SAN is critical only when the subject is empty',
      );
    try {
      const normalized = validateNames(sanNames).names;
      if (sortedKey(normalized) !== sortedKey(sanNames))
        add('san.canonical', 'the SAN holds non-normalized or repeated names');
    } catch (e) {
      add('san.valid', `the SAN holds an invalid name: ${e instanceof MutualError ? e.message : errorText(e)}`);
    }
  }
  if (needsNames(profile) && countNames(sanNames) === 0)
    add('san.present', 'a leaf needs a subjectAltName with at least one name');
  if (profile === 'ocsp') {
    if (subjectEmpty) add('subject.ocsp-nonempty', 'an OCSP responder certificate needs a subject');
    if (countNames(sanNames) > 0) add('san.ocsp-none', 'an OCSP responder certificate carries no names');
  }
  const nocheck = findExtension(cert, OID.ocspNoCheck);
  if (profile === 'ocsp' && !nocheck)
    add('ocsp-nocheck.present', 'an OCSP responder certificate needs id-pkix-ocsp-nocheck');
  if (profile !== 'ocsp' && nocheck)
    add('ocsp-nocheck.profile', `id-pkix-ocsp-nocheck belongs on OCSP responder certificates, not on ${profile}`);
  if (nocheck?.critical) add('ocsp-nocheck.critical', 'id-pkix-ocsp-nocheck is not critical');
  if (needsNames(profile) && subjectCn !== undefined) {
    const all = [...sanNames.dns, ...sanNames.ip, ...sanNames.uri, ...sanNames.email];
    if (!all.includes(subjectCn)) add('subject.cn-in-san', 'the common name is not one of the SAN names');
  }
  if (input.expectedNames) {
    try {
      const expected = validateNames(input.expectedNames).names;
      if (sortedKey(expected) !== sortedKey(sanNames))
        add('san.expected', `the SAN names differ from the expected ones`);
    } catch (e) {
      add('san.expected', `the expected names are invalid: ${errorText(e)}`);
    }
  }

  // --- Key identifiers.
  const ski = findExtension(cert, OID.subjectKeyIdentifier);
  let ownKeyId: Uint8Array | undefined;
  if (!ski) add('ski.present', 'no subjectKeyIdentifier');
  else {
    ownKeyId = decodeSubjectKeyIdentifier(ski.value);
    if (ski.critical) add('ski.critical', 'subjectKeyIdentifier must not be critical');
    if (ownKeyId.length === 0) add('ski.present', 'empty subjectKeyIdentifier');
  }
  const aki = findExtension(cert, OID.authorityKeyIdentifier);
  const akiId = aki ? decodeAuthorityKeyIdentifier(aki.value) : undefined;
  if (aki?.critical) add('aki.critical', 'authorityKeyIdentifier must not be critical');
  if (issuer) {
    const issuerSki = findExtension(issuer, OID.subjectKeyIdentifier);
    const issuerKeyId = issuerSki ? decodeSubjectKeyIdentifier(issuerSki.value) : undefined;
    if (!akiId) add('aki.present', 'no authorityKeyIdentifier keyIdentifier');
    else if (!issuerKeyId || !bytesEqual(akiId, issuerKeyId))
      add('aki.matches-issuer', "the authorityKeyIdentifier is not the issuer's subjectKeyIdentifier");
  } else if (akiId && ownKeyId && !bytesEqual(akiId, ownKeyId)) {
    add('aki.matches-issuer', 'a self-signed certificate has an authorityKeyIdentifier other than its own key id');
  }

  // --- Subject key.
  if (subjectKey) {
    try {
      assertAcceptableKey(subjectKey);
    } catch (e) {
      add('spki.acceptable', `the subject key is not acceptable: ${errorText(e)}`);
    }
  }
  return findings;
}
