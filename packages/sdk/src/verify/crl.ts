/**
 * Strict parsing of X.509 v2 CRLs (RFC 5280 §5) for revocation checks. Only complete, direct CRLs
 * are understood; delta and indirect CRLs and partial (onlySomeReasons) CRLs are refused as
 * unsupported, which makes a chain that depends on them fail closed.
 */
import { createHash } from 'node:crypto';
import {
  Malformed,
  Reader,
  T,
  bytes,
  children,
  decBitString,
  decBool,
  decSmallUint,
  decTime,
  hex,
  intBytes,
  single,
  whole,
} from './der.js';
import { parseAlgId, parseName, readExtension, type AlgId, type Name } from './certificate.js';
import { OID } from './oids.js';

export interface Crl {
  readonly der: Uint8Array;
  readonly fingerprint: string;
  readonly tbs: Uint8Array;
  readonly version: number;
  readonly tbsSigAlg: AlgId;
  readonly sigAlg: AlgId;
  readonly signature: Uint8Array;
  readonly issuer: Name;
  readonly thisUpdate: number;
  readonly nextUpdate: number | undefined;
  /** Hex of each revoked serial's INTEGER bytes. */
  readonly revoked: ReadonlySet<string>;
  readonly crlNumber: bigint | undefined;
  readonly authorityKeyId: Uint8Array | undefined;
  /** Why this CRL cannot be used, if it cannot (extension rules, unsupported scope). */
  readonly problem: string | undefined;
  readonly onlyUserCerts: boolean;
  readonly onlyCaCerts: boolean;
}

function parseExts(
  buf: Uint8Array,
  seq: ReturnType<typeof single>,
): { oid: string; critical: boolean; value: Uint8Array }[] {
  const out: { oid: string; critical: boolean; value: Uint8Array }[] = [];
  const seen = new Set<string>();
  for (const e of children(buf, seq)) {
    const { oid, critical, value } = readExtension(buf, e);
    if (seen.has(oid)) throw new Malformed(`duplicate extension ${oid}`);
    seen.add(oid);
    out.push({ oid, critical, value });
  }
  if (out.length === 0) throw new Malformed('empty extensions');
  return out;
}

export function parseCrl(der: Uint8Array): Crl {
  const buf = der;
  const outer = single(buf, T.SEQUENCE);
  const r = Reader.of(buf, outer);
  const tbsT = r.next(T.SEQUENCE);
  const sigAlg = parseAlgId(buf, r.next(T.SEQUENCE));
  const sig = decBitString(buf, r.next(T.BIT_STRING));
  r.done();
  if (sig.unused !== 0) throw new Malformed('signature BIT STRING has unused bits');
  const tr = Reader.of(buf, tbsT);
  let version = 1;
  const v = tr.optional(T.INTEGER);
  if (v) {
    version = decSmallUint(buf, v) + 1;
    if (version !== 2) throw new Malformed('CRL version');
  }
  const tbsSigAlg = parseAlgId(buf, tr.next(T.SEQUENCE));
  const issuer = parseName(buf, tr.next(T.SEQUENCE));
  const thisUpdate = decTime(buf, tr.next());
  let nextUpdate: number | undefined;
  const pt = tr.peekTag();
  if (pt === T.UTC_TIME || pt === T.GEN_TIME) nextUpdate = decTime(buf, tr.next());
  const revoked = new Set<string>();
  let problem: string | undefined;
  const list = tr.optional(T.SEQUENCE);
  if (list) {
    for (const entry of children(buf, list)) {
      if (entry.tag !== T.SEQUENCE) throw new Malformed('revoked entry');
      const er = Reader.of(buf, entry);
      const serial = intBytes(buf, er.next(T.INTEGER));
      decTime(buf, er.next());
      const ee = er.optional(T.SEQUENCE);
      er.done();
      if (ee) {
        for (const x of parseExts(buf, ee)) {
          if (x.oid === OID.certificateIssuer) problem ??= 'indirect CRL entries (certificateIssuer) are not supported';
          else if (x.critical && x.oid !== OID.crlReason && x.oid !== OID.invalidityDate) {
            problem ??= `unknown critical CRL entry extension ${x.oid}`;
          }
        }
      }
      revoked.add(hex(serial));
    }
    if (revoked.size === 0) throw new Malformed('empty revokedCertificates');
  }
  let crlNumber: bigint | undefined;
  let authorityKeyId: Uint8Array | undefined;
  let onlyUserCerts = false;
  let onlyCaCerts = false;
  const extT = tr.optional(0xa0);
  tr.done();
  if (extT) {
    if (version !== 2) throw new Malformed('extensions in a v1 CRL');
    const xr = Reader.of(buf, extT);
    const seq = xr.next(T.SEQUENCE);
    xr.done();
    for (const x of parseExts(buf, seq)) {
      switch (x.oid) {
        case OID.crlNumber: {
          if (x.critical) problem ??= 'CRL number extension is critical';
          const n = intBytes(x.value, single(x.value, T.INTEGER));
          if (((n[0] as number) & 0x80) !== 0 || n.length > 20) problem ??= 'CRL number out of range';
          crlNumber = BigInt('0x' + hex(n));
          break;
        }
        case OID.authorityKeyIdentifier: {
          if (x.critical) problem ??= 'authority key identifier is critical';
          const ar = Reader.of(x.value, single(x.value, T.SEQUENCE));
          const k = ar.optional(0x80);
          if (k) authorityKeyId = bytes(x.value, k);
          break;
        }
        case OID.issuingDistributionPoint: {
          const ir = Reader.of(x.value, single(x.value, T.SEQUENCE));
          ir.optional(0xa0);
          const u = ir.optional(0x81);
          const c = ir.optional(0x82);
          const some = ir.optional(0x83);
          const indirect = ir.optional(0x84);
          const attr = ir.optional(0x85);
          ir.done();
          if (u) onlyUserCerts = decBool(x.value, u);
          if (c) onlyCaCerts = decBool(x.value, c);
          if (some) problem ??= 'partial CRLs (onlySomeReasons) are not supported';
          if (indirect && decBool(x.value, indirect)) problem ??= 'indirect CRLs are not supported';
          if (attr && decBool(x.value, attr)) problem ??= 'attribute-certificate CRLs do not apply';
          break;
        }
        case OID.deltaCrlIndicator:
          problem ??= 'delta CRLs are not supported';
          break;
        default:
          if (x.critical) problem ??= `unknown critical CRL extension ${x.oid}`;
      }
    }
  }
  if (crlNumber === undefined) problem ??= 'CRL has no CRL number (RFC 5280 §5.2.3)';
  if (nextUpdate === undefined) problem ??= 'CRL has no nextUpdate';
  return {
    der,
    fingerprint: createHash('sha256').update(der).digest('hex'),
    tbs: whole(buf, tbsT),
    version,
    tbsSigAlg,
    sigAlg,
    signature: sig.data,
    issuer,
    thisUpdate,
    nextUpdate,
    revoked,
    crlNumber,
    authorityKeyId,
    problem,
    onlyUserCerts,
    onlyCaCerts,
  };
}
