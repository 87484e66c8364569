import { createHash, type KeyObject } from 'node:crypto';
import { MutualError } from '@mutual/sdk';
import { signerFor } from './algorithms.js';
import type { Issuer } from './certificate.js';
import { CRL_REASON_CODES, type RevocationReason } from './crl.js';
import {
  DerError,
  TAG,
  bigintContent,
  bitString,
  bytesEqual,
  checkTree,
  children,
  contentBigint,
  enumerated,
  expectTag,
  explicit,
  generalizedTime,
  implicitConstructed,
  implicitPrimitive,
  integerFromContent,
  nullValue,
  octetString,
  oid,
  readIntegerContent,
  readOid,
  readOne,
  readSmallInteger,
  sequence,
  sequenceOf,
  type DerNode,
} from './der.js';
import { cachedSigner } from './keycache.js';
import { OID } from './oids.js';
import { keyIdentifier, parseCertificate, readExtension, type Extension } from './x509.js';

export type OcspHashAlgorithm = 'sha1' | 'sha256';

/** An RFC 6960 CertID: which certificate, named by its issuer's name and key hashes and its serial. */
export interface OcspCertId {
  hashAlgorithm: OcspHashAlgorithm;
  issuerNameHash: Uint8Array;
  issuerKeyHash: Uint8Array;
  /** The serial as the CA store keys it: lowercase hex of the positive integer, no leading zeros. */
  serialHex: string;
}

export interface OcspRequestInfo {
  certIds: OcspCertId[];
  /** The nonce octets (RFC 8954: 1 to 32), to echo in the response. */
  nonce?: Uint8Array;
}

export interface ParseOcspRequestOptions {
  /** Refuse larger requests (ERR_OCSP_TOO_LARGE). Default 8 KiB. */
  maxBytes?: number;
  /** Refuse requests about more certificates (ERR_OCSP_TOO_LARGE). Default 10. */
  maxCertIds?: number;
}

export const DEFAULT_MAX_OCSP_REQUEST_BYTES = 8 * 1024;
export const DEFAULT_MAX_OCSP_CERT_IDS = 10;

export type OcspCertStatus = 'good' | 'revoked' | 'unknown';

export interface OcspSingleResponseInput {
  certId: OcspCertId;
  status: OcspCertStatus;
  /** Required for 'revoked'. */
  revokedAt?: Date | undefined;
  /** For 'revoked'; 'unspecified' (the default) is written as no reason, as on the CRL. */
  reason?: RevocationReason | undefined;
  thisUpdate: Date;
  nextUpdate: Date;
}

export interface BuildOcspResponseInput {
  /** The signer: a delegated responder (profile 'ocsp') issued by the CA, or the CA itself. */
  responder: Issuer;
  responses: readonly OcspSingleResponseInput[];
  producedAt: Date;
  /** The request's nonce, echoed. */
  nonce?: Uint8Array | undefined;
  /** More certificates for `certs` after the responder's own (rarely needed). */
  includeCertificates?: readonly Uint8Array[] | undefined;
}

export type OcspErrorStatus = 'malformedRequest' | 'internalError' | 'tryLater' | 'unauthorized';

const RESPONSE_STATUS: Record<OcspErrorStatus | 'successful', number> = {
  successful: 0,
  malformedRequest: 1,
  internalError: 2,
  tryLater: 3,
  unauthorized: 6,
};

const HASH_OID: Record<OcspHashAlgorithm, string> = { sha1: OID.sha1, sha256: OID.sha256 };
const HASH_LENGTH: Record<OcspHashAlgorithm, number> = { sha1: 20, sha256: 32 };
const HASH_BY_OID: ReadonlyMap<string, OcspHashAlgorithm> = new Map([
  [OID.sha1, 'sha1'],
  [OID.sha256, 'sha256'],
]);

const MAX_NONCE = 32;

const MAX_SERIAL = (1n << 159n) - 1n;

// ---------------------------------------------------------------------------------------------
// Requests

class Unsupported extends Error {}
class TooLarge extends Error {}

function readExtensions(node: DerNode, what: string): Extension[] {
  const exts = sequenceOf(node, what).map(readExtension);
  if (exts.length === 0) throw new DerError(`${what}: empty`);
  const seen = new Set<string>();
  for (const e of exts) {
    if (seen.has(e.oid)) throw new DerError(`${what}: ${e.oid} appears twice`);
    seen.add(e.oid);
  }
  return exts;
}

/** The one element inside an EXPLICIT tag. */
function explicitInner(node: DerNode, what: string): DerNode {
  const [inner, extra] = children(node);
  if (inner === undefined || extra !== undefined) throw new DerError(`${what}: bad shape`);
  return inner;
}

function parseCertId(node: DerNode): OcspCertId {
  const [alg, nameHash, keyHash, serial, extra] = sequenceOf(node, 'CertID');
  if (extra !== undefined) throw new DerError('CertID: too many elements');
  const [algOid, params, more] = sequenceOf(alg, 'hashAlgorithm');
  if (more !== undefined || (params !== undefined && !bytesEqual(params.bytes, nullValue())))
    throw new DerError('hashAlgorithm: bad parameters');
  const id = readOid(algOid, 'hashAlgorithm');
  const hashAlgorithm = HASH_BY_OID.get(id);
  if (hashAlgorithm === undefined) throw new Unsupported(`CertID hash ${id} is neither SHA-1 nor SHA-256`);
  const issuerNameHash = expectTag(nameHash, TAG.OCTET_STRING, 'issuerNameHash').value;
  const issuerKeyHash = expectTag(keyHash, TAG.OCTET_STRING, 'issuerKeyHash').value;
  if (issuerNameHash.length !== HASH_LENGTH[hashAlgorithm] || issuerKeyHash.length !== HASH_LENGTH[hashAlgorithm])
    throw new DerError(`CertID: a hash is not ${HASH_LENGTH[hashAlgorithm]} octets`);
  const serialContent = readIntegerContent(serial, 'serialNumber');
  const value = contentBigint(serialContent);
  // RFC 5280 §4.1.2.2: positive, at most 20 octets. mutual never issued anything else.
  if (((serialContent[0] ?? 0) & 0x80) !== 0 || value === 0n) throw new Unsupported('a serial that is not positive');
  if (value > MAX_SERIAL) throw new DerError('serialNumber: longer than 20 octets');
  return {
    hashAlgorithm,
    issuerNameHash: Uint8Array.from(issuerNameHash),
    issuerKeyHash: Uint8Array.from(issuerKeyHash),
    serialHex: value.toString(16),
  };
}

/** RFC 8954: the nonce extension's value is an OCTET STRING of 1 to 32 octets. */
function readNonce(value: Uint8Array): Uint8Array {
  const nonce = expectTag(readOne(value), TAG.OCTET_STRING, 'nonce').value;
  if (nonce.length < 1 || nonce.length > MAX_NONCE) throw new DerError('nonce: not 1 to 32 octets');
  return Uint8Array.from(nonce);
}

function refuseCritical(exts: Extension[], what: string, known: readonly string[]): void {
  for (const e of exts)
    if (e.critical && !known.includes(e.oid)) throw new Unsupported(`critical ${what} extension ${e.oid}`);
}

/**
 * Parses a DER OCSPRequest (RFC 6960 §4.1.1) strictly: version 1, 1 to `maxCertIds` CertIDs
 * hashed with SHA-1 or SHA-256, an optional nonce (RFC 8954). A signed request is accepted and
 * its signature ignored (mutual answers anyone; the answer is signed, not the question). Errors:
 * ERR_OCSP_MALFORMED, ERR_OCSP_TOO_LARGE, ERR_OCSP_UNSUPPORTED — answer them with
 * ocspErrorResponse('malformedRequest').
 */
export function parseOcspRequest(der: Uint8Array, opts: ParseOcspRequestOptions = {}): OcspRequestInfo {
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_OCSP_REQUEST_BYTES;
  const maxCertIds = opts.maxCertIds ?? DEFAULT_MAX_OCSP_CERT_IDS;
  if (!(der instanceof Uint8Array)) throw new MutualError('ERR_OCSP_MALFORMED', { details: { reason: 'not bytes' } });
  if (der.length > maxBytes) throw new MutualError('ERR_OCSP_TOO_LARGE', { details: { maxBytes } });
  try {
    const [tbs, signature, extra] = sequenceOf(readOne(der), 'OCSPRequest');
    if (extra !== undefined) throw new DerError('OCSPRequest: too many elements');
    if (signature !== undefined) {
      // Signature ::= SEQUENCE { signatureAlgorithm, signature BIT STRING, certs [0] EXPLICIT OPTIONAL }
      const fields = sequenceOf(
        explicitInner(expectTag(signature, 0xa0, 'optionalSignature'), 'optionalSignature'),
        'Signature',
      );
      expectTag(fields[0], TAG.SEQUENCE, 'signatureAlgorithm');
      expectTag(fields[1], TAG.BIT_STRING, 'signature');
      if (fields[2] !== undefined) expectTag(fields[2], 0xa0, 'certs');
      if (fields.length > 3) throw new DerError('Signature: too many elements');
      checkTree(signature);
    }
    const fields = sequenceOf(tbs, 'TBSRequest');
    let i = 0;
    if (fields[i]?.tag === 0xa0) {
      const version = readSmallInteger(explicitInner(fields[i++] as DerNode, 'version'), 'version');
      if (version !== 0) throw new Unsupported(`version ${version + 1}`);
    }
    if (fields[i]?.tag === 0xa1) checkTree(explicitInner(fields[i++] as DerNode, 'requestorName'));
    const requests = sequenceOf(fields[i++], 'requestList');
    if (requests.length === 0) throw new DerError('requestList: empty');
    if (requests.length > maxCertIds) throw new TooLarge(String(requests.length));
    let nonce: Uint8Array | undefined;
    if (fields[i]?.tag === 0xa2) {
      const exts = readExtensions(explicitInner(fields[i++] as DerNode, 'requestExtensions'), 'requestExtensions');
      refuseCritical(exts, 'request', []);
      const n = exts.find((e) => e.oid === OID.ocspNonce);
      if (n) nonce = readNonce(n.value);
    }
    if (fields[i] !== undefined) throw new DerError('TBSRequest: unexpected element');
    const certIds = requests.map((r) => {
      const [certId, singleExts, more] = sequenceOf(r, 'Request');
      if (more !== undefined) throw new DerError('Request: too many elements');
      if (singleExts !== undefined)
        refuseCritical(
          readExtensions(
            explicitInner(expectTag(singleExts, 0xa0, 'singleRequestExtensions'), 'singleRequestExtensions'),
            'singleRequestExtensions',
          ),
          'single request',
          [],
        );
      return parseCertId(certId as DerNode);
    });
    return nonce === undefined ? { certIds } : { certIds, nonce };
  } catch (e) {
    if (e instanceof TooLarge)
      throw new MutualError('ERR_OCSP_TOO_LARGE', {
        message: `The OCSP request asks about ${e.message} certificates; at most ${maxCertIds} are answered at once.`,
        details: { maxCertIds },
      });
    if (e instanceof Unsupported)
      throw new MutualError('ERR_OCSP_UNSUPPORTED', {
        message: `The OCSP request uses a feature mutual does not answer: ${e.message}.`,
        details: { reason: e.message },
      });
    if (e instanceof DerError)
      throw new MutualError('ERR_OCSP_MALFORMED', { details: { reason: e.message }, cause: e });
    throw e;
  }
}

function encodeCertId(c: OcspCertId): Uint8Array {
  const len = (HASH_LENGTH as Record<string, number | undefined>)[c.hashAlgorithm];
  if (len === undefined) throw inputInvalid('a CertID hash algorithm is neither sha1 nor sha256');
  if (
    !(c.issuerNameHash instanceof Uint8Array) ||
    !(c.issuerKeyHash instanceof Uint8Array) ||
    c.issuerNameHash.length !== len ||
    c.issuerKeyHash.length !== len
  )
    throw inputInvalid(`a CertID hash is not ${len} octets`);
  if (typeof c.serialHex !== 'string' || !/^[1-9a-f][0-9a-f]{0,39}$/.test(c.serialHex))
    throw inputInvalid('a CertID serial is not canonical lowercase hex (no leading zeros)');
  const value = BigInt(`0x${c.serialHex}`);
  if (value > MAX_SERIAL) throw inputInvalid('a CertID serial is longer than 20 octets');
  const serial = integerFromContent(bigintContent(value));
  return sequence([
    sequence([oid(HASH_OID[c.hashAlgorithm]), nullValue()]),
    octetString(c.issuerNameHash),
    octetString(c.issuerKeyHash),
    serial,
  ]);
}

const nonceExtension = (nonce: Uint8Array): Uint8Array =>
  sequence([oid(OID.ocspNonce), octetString(octetString(nonce))]);

/**
 * A DER OCSPRequest for `certIds` (unsigned, version 1), with a nonce when given. For clients and
 * tests; the CA parses requests with parseOcspRequest.
 */
export function buildOcspRequest(input: {
  certIds: readonly OcspCertId[];
  nonce?: Uint8Array | undefined;
}): Uint8Array {
  if (input.certIds.length === 0) throw inputInvalid('no CertIDs');
  const fields = [sequence(input.certIds.map((c) => sequence([encodeCertId(c)])))];
  if (input.nonce !== undefined) fields.push(explicit(2, sequence([nonceExtension(checkNonce(input.nonce))])));
  return sequence([sequence(fields)]);
}

// ---------------------------------------------------------------------------------------------
// CertIDs

interface IssuerHashes {
  name: Record<OcspHashAlgorithm, Uint8Array>;
  key: Record<OcspHashAlgorithm, Uint8Array>;
}

const issuerHashes = new WeakMap<Uint8Array, IssuerHashes>();

function hashesOf(issuerCertDer: Uint8Array): IssuerHashes {
  let h = issuerHashes.get(issuerCertDer);
  if (!h) {
    const cert = parseCertificate(issuerCertDer);
    const [, bits] = sequenceOf(cert.spki, 'SubjectPublicKeyInfo');
    // The key hash covers the subjectPublicKey BIT STRING's value without its unused-bits octet.
    const key = expectTag(bits, TAG.BIT_STRING, 'subjectPublicKey').value.subarray(1);
    const digest = (alg: OcspHashAlgorithm, data: Uint8Array): Uint8Array =>
      new Uint8Array(createHash(alg).update(data).digest());
    h = {
      name: { sha1: digest('sha1', cert.subject.bytes), sha256: digest('sha256', cert.subject.bytes) },
      key: { sha1: digest('sha1', key), sha256: digest('sha256', key) },
    };
    issuerHashes.set(issuerCertDer, h);
  }
  return h;
}

/**
 * True when `certId` names a certificate of the CA `issuerCertDer`: its issuerNameHash and
 * issuerKeyHash equal the hashes of that CA's subject and public key (SHA-1 or SHA-256, as the
 * CertID says). The serial is not looked at. False for an unreadable issuer certificate.
 */
export function ocspCertIdMatches(certId: OcspCertId, issuerCertDer: Uint8Array): boolean {
  let h: IssuerHashes;
  try {
    h = hashesOf(issuerCertDer);
  } catch {
    return false;
  }
  const alg: string = certId.hashAlgorithm;
  if (alg !== 'sha1' && alg !== 'sha256') return false;
  return bytesEqual(certId.issuerNameHash, h.name[alg]) && bytesEqual(certId.issuerKeyHash, h.key[alg]);
}

/** The CertID of the certificate `serialHex` (hex, leading zeros allowed) issued by `issuerCertDer`. */
export function ocspCertId(
  issuerCertDer: Uint8Array,
  serialHex: string,
  hashAlgorithm: OcspHashAlgorithm = 'sha1',
): OcspCertId {
  let h: IssuerHashes;
  try {
    h = hashesOf(issuerCertDer);
  } catch (cause) {
    throw new MutualError('ERR_PKI_ISSUER_INVALID', { message: 'The issuer certificate could not be read.', cause });
  }
  if (!/^[0-9a-fA-F]{1,42}$/.test(serialHex)) throw inputInvalid('the serial is not hex');
  const certId = {
    hashAlgorithm,
    issuerNameHash: h.name[hashAlgorithm],
    issuerKeyHash: h.key[hashAlgorithm],
    serialHex: BigInt(`0x${serialHex}`).toString(16),
  };
  encodeCertId(certId);
  return certId;
}

// ---------------------------------------------------------------------------------------------
// Responses

function inputInvalid(reason: string): MutualError {
  return new MutualError('ERR_OCSP_INPUT_INVALID', {
    message: `The OCSP response could not be built: ${reason}.`,
    details: { reason },
  });
}

function checkNonce(nonce: Uint8Array): Uint8Array {
  if (!(nonce instanceof Uint8Array) || nonce.length < 1 || nonce.length > MAX_NONCE)
    throw inputInvalid('the nonce is not 1 to 32 octets');
  return nonce;
}

function whenOf(d: Date | undefined, field: string): Uint8Array {
  if (!(d instanceof Date) || !Number.isFinite(d.getTime())) throw inputInvalid(`${field} is not a valid date`);
  try {
    return generalizedTime(new Date(Math.floor(d.getTime() / 1000) * 1000));
  } catch {
    throw inputInvalid(`${field} is outside 1950 to 9999`);
  }
}

interface ResponderInfo {
  certificateDer: Uint8Array;
  keyHash: Uint8Array;
  spki: Uint8Array;
  matchedKeys: WeakSet<KeyObject>;
}

const responders = new WeakMap<Uint8Array, ResponderInfo>();

const responderInvalid = (message: string, cause?: unknown): MutualError =>
  new MutualError('ERR_PKI_ISSUER_INVALID', cause === undefined ? { message } : { message, cause });

function responderInfo(responder: Issuer): ResponderInfo {
  return cachedSigner(
    responders,
    responder,
    'OCSP responder',
    (der) => {
      const cert = parseCertificate(der);
      return {
        certificateDer: cert.der,
        keyHash: keyIdentifier(cert.spki),
        spki: cert.spki.bytes,
        matchedKeys: new WeakSet(),
      };
    },
    responderInvalid,
  );
}

function singleResponse(r: OcspSingleResponseInput): Uint8Array {
  let status: Uint8Array;
  switch (r.status) {
    case 'good':
      status = implicitPrimitive(0, new Uint8Array(0));
      break;
    case 'unknown':
      status = implicitPrimitive(2, new Uint8Array(0));
      break;
    case 'revoked': {
      const reason = r.reason ?? 'unspecified';
      const code = (CRL_REASON_CODES as Record<string, number | undefined>)[reason];
      if (code === undefined) throw inputInvalid('unknown revocation reason');
      const info = [whenOf(r.revokedAt, 'revokedAt')];
      if (code !== 0) info.push(explicit(0, enumerated(code)));
      status = implicitConstructed(1, info);
      break;
    }
    default:
      throw inputInvalid('a status is not good, revoked or unknown');
  }
  return sequence([
    encodeCertId(r.certId),
    status,
    whenOf(r.thisUpdate, 'thisUpdate'),
    explicit(0, whenOf(r.nextUpdate, 'nextUpdate')),
  ]);
}

/**
 * A successful OCSPResponse carrying a BasicOCSPResponse (RFC 6960 §4.2.1): responderID byKey,
 * one SingleResponse per input (in order, CertIDs as given), the nonce echoed in the response
 * extensions, signed by the responder key, with the responder certificate (then
 * includeCertificates) in `certs`. Revocation reasons follow the CRL: 'unspecified' is omitted.
 */
export function buildOcspResponse(input: BuildOcspResponseInput): Uint8Array {
  const info = responderInfo(input.responder);
  if (input.responses.length === 0) throw inputInvalid('no responses');
  const responses = input.responses.map((r) => {
    if (r.thisUpdate instanceof Date && r.nextUpdate instanceof Date && r.nextUpdate.getTime() < r.thisUpdate.getTime())
      throw inputInvalid('nextUpdate is before thisUpdate');
    return singleResponse(r);
  });
  const data: Uint8Array[] = [
    explicit(2, octetString(info.keyHash)),
    whenOf(input.producedAt, 'producedAt'),
    sequence(responses),
  ];
  if (input.nonce !== undefined) data.push(explicit(1, sequence([nonceExtension(checkNonce(input.nonce))])));
  const tbs = sequence(data);
  const signer = signerFor(input.responder.privateKey);
  const certs = [info.certificateDer, ...(input.includeCertificates ?? [])];
  for (const c of certs) {
    try {
      readOne(c);
    } catch {
      throw inputInvalid('an included certificate is not one DER value');
    }
  }
  const basic = sequence([tbs, signer.algorithmIdentifier, bitString(signer.sign(tbs)), explicit(0, sequence(certs))]);
  return sequence([
    enumerated(RESPONSE_STATUS.successful),
    explicit(0, sequence([oid(OID.ocspBasic), octetString(basic)])),
  ]);
}

/** An unsuccessful OCSPResponse: only the status, no responseBytes (RFC 6960 §4.2.1). */
export function ocspErrorResponse(status: OcspErrorStatus): Uint8Array {
  const code = RESPONSE_STATUS[status] as number | undefined;
  if (code === undefined || status === ('successful' as OcspErrorStatus))
    throw inputInvalid('not an OCSP error status');
  return sequence([enumerated(code)]);
}
