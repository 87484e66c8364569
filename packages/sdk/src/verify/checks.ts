/**
 * Checks on one certificate that do not depend on the path or the time: encoding rules,
 * extension criticality and consistency, key strength, SAN syntax, the CA profile for issuers
 * and the end-entity profile for leaves. Results are memoised per parsed certificate.
 */
import { bytesEqual } from './der.js';
import { KU, hasKu, type Cert } from './certificate.js';
import { checkKey, type KeyCheck } from './crypto.js';
import { Lru } from './lru.js';
import { constraintValid, isMailbox, isSanDnsName, isUri } from './names.js';
import { OID } from './oids.js';
import type { ReasonCode } from './types.js';

export interface Problem {
  readonly code: ReasonCode;
  readonly message: string;
}

/** Extensions this verifier processes, so they may be critical. */
const CRITICAL_OK: ReadonlySet<string> = new Set([
  OID.basicConstraints,
  OID.keyUsage,
  OID.extKeyUsage,
  OID.subjectAltName,
  OID.nameConstraints,
  OID.certificatePolicies,
]);

/** Extensions RFC 5280 says conforming CAs MUST mark non-critical. */
const NEVER_CRITICAL: Readonly<Record<string, string>> = {
  [OID.authorityKeyIdentifier]: 'authority key identifier',
  [OID.subjectKeyIdentifier]: 'subject key identifier',
  [OID.authorityInfoAccess]: 'authority information access',
  [OID.subjectInfoAccess]: 'subject information access',
  [OID.freshestCrl]: 'freshest CRL',
};

/** Most SAN entries, subject attributes or name-constraint subtrees one certificate may carry. */
export const MAX_NAMES = 1024;

const commonMemo = new WeakMap<Cert, readonly Problem[]>();
const keyMemo = new WeakMap<Cert, KeyCheck>();

/** Judged keys by SPKI hash: certificates sharing a key (cross-signs, renewals) share one KeyObject. */
const keyBySpki = new Lru<string, KeyCheck>(1024);

export function keyOf(cert: Cert, minRsaBits: number): KeyCheck {
  let k = keyMemo.get(cert);
  if (!k) {
    const spkiKey = `${minRsaBits}:${cert.spkiSha256}`;
    k = keyBySpki.get(spkiKey);
    if (!k) {
      k = checkKey(cert, minRsaBits);
      keyBySpki.set(spkiKey, k);
    }
    keyMemo.set(cert, k);
  }
  return k;
}

/** Problems any certificate in any position has. */
export function commonProblems(cert: Cert, minRsaBits: number): readonly Problem[] {
  const memo = commonMemo.get(cert);
  if (memo) return memo;
  const out: Problem[] = [];
  const p = (code: ReasonCode, message: string): void => {
    out.push({ code, message });
  };
  // Size guards first: a certificate built to make name checks quadratic is refused outright.
  const sanCount = cert.subjectAltNames?.length ?? 0;
  const attrCount = cert.subject.rdns.reduce((n, r) => n + r.length, 0);
  const ncCount = (cert.nameConstraints?.permitted?.length ?? 0) + (cert.nameConstraints?.excluded?.length ?? 0);
  if (sanCount > MAX_NAMES || attrCount > MAX_NAMES || ncCount > MAX_NAMES) {
    p(
      'NAME_CONSTRAINT_TOO_COMPLEX',
      `certificate carries ${Math.max(sanCount, attrCount, ncCount)} names or constraints (limit ${MAX_NAMES})`,
    );
    commonMemo.set(cert, out);
    return out;
  }
  if (cert.version !== 3) p('UNSUPPORTED_VERSION', `certificate is X.509 v${cert.version}; only v3 is accepted`);
  const serialNegative = ((cert.serial[0] as number) & 0x80) !== 0;
  if (serialNegative) p('SERIAL_INVALID', 'serial number is negative');
  else if (cert.serial.length > 20 && !(cert.serial.length === 21 && cert.serial[0] === 0)) {
    p('SERIAL_INVALID', 'serial number is longer than 20 octets');
  }
  if (!bytesEqual(cert.tbsSigAlg.der, cert.sigAlg.der)) {
    p('SIGNATURE_ALGORITHM_MISMATCH', 'the signed and the outer signature algorithms differ');
  }
  if (cert.duplicateExtension !== undefined)
    p('DUPLICATE_EXTENSION', `extension ${cert.duplicateExtension} appears twice`);
  for (const e of cert.extensions) {
    const never = NEVER_CRITICAL[e.oid];
    if (e.critical && never) p('EXTENSION_CRITICALITY', `${never} extension is marked critical`);
    else if (e.oid === OID.policyConstraints && !e.critical) {
      p('EXTENSION_CRITICALITY', 'policy constraints extension is not marked critical');
    } else if (e.critical && !CRITICAL_OK.has(e.oid)) {
      p('UNKNOWN_CRITICAL_EXTENSION', `critical extension ${e.oid} is not processed by this verifier`);
    }
  }
  const key = keyOf(cert, minRsaBits);
  if (!key.ok) p(key.code, key.detail);

  const subjectEmpty = cert.subject.rdns.length === 0;
  const sanExt = cert.extensions.find((e) => e.oid === OID.subjectAltName);
  if (subjectEmpty && sanExt && !sanExt.critical) {
    p('SAN_INVALID', 'subject is empty but subjectAltName is not critical');
  }
  if (!subjectEmpty && sanExt?.critical === true) {
    p('SAN_INVALID', 'subjectAltName is critical although the subject is not empty');
  }
  if (cert.keyUsage === 0) p('EXTENSION_INVALID', 'keyUsage extension has no bit set');
  if (cert.extKeyUsage?.length === 0) p('EXTENSION_INVALID', 'extKeyUsage extension lists no purpose');
  const isCa = cert.basicConstraints?.ca === true;
  if (cert.keyUsage !== undefined) {
    const certSign = hasKu(cert.keyUsage, KU.keyCertSign);
    if (isCa && !certSign) p('KEY_USAGE_INCONSISTENT', 'cA is TRUE but keyUsage lacks keyCertSign');
    if (!isCa && certSign) p('KEY_USAGE_INCONSISTENT', 'keyUsage has keyCertSign but the certificate is not a CA');
  }
  if (cert.basicConstraints?.pathLen !== undefined && !isCa) {
    p('EXTENSION_INVALID', 'pathLenConstraint on a certificate that is not a CA');
  }
  if (cert.nameConstraints) {
    const nc = cert.nameConstraints;
    if (!isCa) p('EXTENSION_INVALID', 'name constraints on a certificate that is not a CA');
    if (!nc.permitted && !nc.excluded)
      p('NAME_CONSTRAINT_INVALID', 'name constraints with neither permitted nor excluded subtrees');
    if (nc.badSubtree) p('NAME_CONSTRAINT_INVALID', 'name constraint uses minimum or maximum');
    for (const c of [...(nc.permitted ?? []), ...(nc.excluded ?? [])]) {
      if (!constraintValid(c)) {
        p('NAME_CONSTRAINT_INVALID', `malformed ${c.type} name constraint`);
        break;
      }
    }
  }
  if (cert.authorityKeyId && !cert.authorityKeyId.keyId) {
    p('EXTENSION_INVALID', 'authority key identifier has no keyIdentifier');
  }
  for (const n of cert.subjectAltNames ?? []) {
    let bad: string | undefined;
    if (n.type === 'dns' && !isSanDnsName(n.value)) bad = `DNS name "${printable(n.value)}" is not a valid host name`;
    else if (n.type === 'ip' && n.bytes.length !== 4 && n.bytes.length !== 16) bad = 'IP address is not 4 or 16 bytes';
    else if (n.type === 'email' && !isMailbox(n.value)) bad = `email "${printable(n.value)}" is not a mailbox`;
    else if (n.type === 'uri' && !isUri(n.value)) bad = `URI "${printable(n.value)}" is not an absolute URI`;
    if (bad) {
      p('SAN_INVALID', bad);
      break;
    }
  }
  commonMemo.set(cert, out);
  return out;
}

/**
 * Authority key identifier rules by role. RFC 5280 §4.2.1.1 requires it in every certificate
 * but self-signed ones; a trust anchor is taken as given (name and key), except that a
 * self-issued anchor's identifier must be consistent with itself.
 */
export function akiProblems(cert: Cert, anchor: boolean): Problem[] {
  const out: Problem[] = [];
  const aki = cert.authorityKeyId;
  if (!aki) {
    if (!anchor && !cert.selfIssued) {
      out.push({ code: 'EXTENSION_INVALID', message: 'authority key identifier is missing (RFC 5280 §4.2.1.1)' });
    }
    return out;
  }
  if (anchor && cert.selfIssued) {
    if (aki.hasIssuer || aki.hasSerial) {
      out.push({
        code: 'EXTENSION_INVALID',
        message: 'self-issued anchor names an issuer in its authority key identifier',
      });
    }
    if (aki.keyId && cert.subjectKeyId && !bytesEqual(aki.keyId, cert.subjectKeyId)) {
      out.push({
        code: 'EXTENSION_INVALID',
        message: 'self-issued anchor: authority key identifier differs from its subject key identifier',
      });
    }
  }
  return out;
}

/** Problems of a certificate used to issue others (intermediate or anchor). */
export function issuerProblems(cert: Cert, anchor: boolean): Problem[] {
  const out: Problem[] = akiProblems(cert, anchor);
  const bc = cert.basicConstraints;
  if (!bc?.ca) out.push({ code: 'ISSUER_NOT_CA', message: 'issuer is not a CA (basicConstraints cA is not TRUE)' });
  else if (!cert.extensions.some((e) => e.oid === OID.basicConstraints && e.critical)) {
    out.push({ code: 'EXTENSION_CRITICALITY', message: 'CA certificate with basicConstraints not marked critical' });
  }
  if (cert.keyUsage !== undefined && !hasKu(cert.keyUsage, KU.keyCertSign)) {
    out.push({ code: 'ISSUER_KEY_USAGE', message: 'issuer keyUsage lacks keyCertSign' });
  }
  if (cert.subject.rdns.length === 0)
    out.push({ code: 'SUBJECT_INVALID', message: 'CA certificate has an empty subject' });
  return out;
}

/** Shows a hostile string safely in a message (controls escaped, length capped). */
export function printable(s: string): string {
  const t = s.replace(/[^\x20-\x7e]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return t.length > 80 ? t.slice(0, 77) + '...' : t;
}
