/**
 * Path building and RFC 5280 path validation. Paths are built leaf-first by depth-first search over
 * anchors and untrusted candidates, backtracking on every failure, under a work budget (candidate
 * visits and signature checks) so cycles and floods of look-alike issuers stay bounded.
 */
import { createHash } from 'node:crypto';
import { decodePem } from '../pem/index.js';
import { bytesEqual, hex, Malformed } from './der.js';
import { KU, describeName, hasKu, parseCertificate, type Cert, type GeneralName } from './certificate.js';
import { akiProblems, commonProblems, issuerProblems, keyOf, printable, type Problem } from './checks.js';
import { parseCrl, type Crl } from './crl.js';
import { checkSigAlg, verifySignature } from './crypto.js';
import { Lru } from './lru.js';
import { constraintMatches, dnsMatches, formOf, isDnsName, parseIp, uriHost, type NameForm } from './names.js';
import { EKU_BY_NAME, OID } from './oids.js';
import { parseSpiffe } from './spiffe.js';
import type {
  CertInput,
  CertRef,
  ExpectedName,
  PathEntry,
  Reason,
  ReasonCode,
  VerifiedIdentity,
  Verifier,
  VerifierOptions,
  VerifyChainOptions,
  VerifyRequest,
  VerifyResult,
} from './types.js';

/** Hard ceilings, whatever the options say. */
export const LIMITS = {
  maxIntermediates: 8,
  maxCandidatesPerCall: 2000,
  maxSignatureChecks: 100,
  maxNameConstraintChecks: 1 << 18,
  maxPoolSize: 256,
  maxReasons: 16,
} as const;

const KU_NAMES: Readonly<Record<string, number>> = KU;

type Parsed = { ok: true; cert: Cert } | { ok: false; error: string };

function toDer(input: CertInput, labels: readonly string[]): Uint8Array {
  if (typeof input !== 'string') return input;
  const blocks = decodePem(input).filter((b) => labels.includes(b.label));
  if (blocks.length !== 1) throw new Malformed(`expected exactly one PEM block labelled ${labels.join(' or ')}`);
  return (blocks[0] as { der: Uint8Array }).der;
}

function certRef(cert: Cert, index: number | undefined): CertRef {
  return { index, fingerprint: cert.fingerprint, subject: describeName(cert.subject) };
}

function isoSeconds(s: number): string {
  return new Date(s * 1000).toISOString().replace('.000Z', 'Z');
}

const entryMemo = new WeakMap<Cert, Omit<PathEntry, 'index' | 'anchor'>>();

function entry(cert: Cert, index: number, anchor: boolean): PathEntry {
  let e = entryMemo.get(cert);
  if (!e) {
    e = describeCert(cert);
    entryMemo.set(cert, e);
  }
  return { index, anchor, ...e };
}

function describeCert(cert: Cert): Omit<PathEntry, 'index' | 'anchor'> {
  return {
    fingerprint: cert.fingerprint,
    subject: describeName(cert.subject),
    issuer: describeName(cert.issuer),
    serial: hex(cert.serial),
    notBefore: isoSeconds(cert.notBefore),
    notAfter: isoSeconds(cert.notAfter),
    spkiSha256: cert.spkiSha256,
  };
}

interface Ctx {
  readonly at: number;
  readonly ekus: readonly string[];
  readonly maxDepth: number;
  readonly crls: readonly Crl[];
  readonly badCrls: readonly string[];
  readonly requireCrl: 'none' | 'leaf' | 'all';
  readonly pins: ReadonlySet<string> | undefined;
  readonly minRsaBits: number;
  budgetCandidates: number;
  budgetSignatures: number;
  exhausted: boolean;
  readonly reasons: Reason[];
  readonly seen: Set<string>;
  /** Sorted issuer candidates per (issuer name, authority key id), built once per verification. */
  readonly candidates: Map<string, readonly { readonly cert: Cert; readonly anchor: boolean }[]>;
}

function addReason(
  ctx: Ctx,
  code: ReasonCode,
  message: string,
  cert: Cert | undefined,
  index: number | undefined,
): void {
  const key = `${code}|${message}|${cert?.fingerprint ?? ''}`;
  if (ctx.seen.has(key)) return;
  ctx.seen.add(key);
  if (ctx.reasons.length < LIMITS.maxReasons) {
    ctx.reasons.push({ code, message, cert: cert ? certRef(cert, index) : undefined });
  }
}

function addProblems(ctx: Ctx, problems: readonly Problem[], cert: Cert, index: number): void {
  for (const p of problems) addReason(ctx, p.code, p.message, cert, index);
}

function ekuOids(names: readonly string[]): string[] {
  return names.map((n) => EKU_BY_NAME[n] ?? n);
}

/** Validity at second granularity: the time is floored, both bounds are inclusive. */
function timeProblems(cert: Cert, at: number): Problem[] {
  if (at < cert.notBefore)
    return [{ code: 'NOT_YET_VALID', message: `not valid before ${isoSeconds(cert.notBefore)}` }];
  if (at > cert.notAfter) return [{ code: 'EXPIRED', message: `expired at ${isoSeconds(cert.notAfter)}` }];
  return [];
}

/** Names of a certificate that name constraints apply to (RFC 5280 §4.2.1.10). */
function constrainedNames(cert: Cert): GeneralName[] {
  const names: GeneralName[] = [...(cert.subjectAltNames ?? [])];
  if (cert.subject.rdns.length > 0) names.push({ type: 'dn', name: cert.subject });
  for (const rdn of cert.subject.rdns) {
    for (const a of rdn) {
      if (a.oid === OID.emailAddress && a.text !== undefined) names.push({ type: 'email', value: a.text });
    }
  }
  return names;
}

export class PathVerifier implements Verifier {
  private readonly anchors: Cert[] = [];
  private readonly anchorBySubject = new Map<string, Cert[]>();
  private readonly anchorFingerprints = new Set<string>();
  private readonly parsed: Lru<string, Parsed>;
  private readonly sigLinks: Lru<string, boolean>;
  private readonly baseCrls: Crl[] = [];
  private readonly baseBadCrls: string[] = [];
  readonly anchorErrors: string[] = [];

  constructor(private readonly opts: VerifierOptions) {
    const size = opts.cacheSize ?? 1024;
    this.parsed = new Lru(size);
    this.sigLinks = new Lru(size * 4);
    for (const a of opts.anchors) {
      const p = this.parse(a);
      if (!p.ok) {
        this.anchorErrors.push(p.error);
        continue;
      }
      if (this.anchorFingerprints.has(p.cert.fingerprint)) continue;
      this.anchorFingerprints.add(p.cert.fingerprint);
      this.anchors.push(p.cert);
      const list = this.anchorBySubject.get(p.cert.subject.key) ?? [];
      list.push(p.cert);
      this.anchorBySubject.set(p.cert.subject.key, list);
    }
    for (const c of opts.crls ?? []) this.addCrl(c, this.baseCrls, this.baseBadCrls);
  }

  private addCrl(input: CertInput, into: Crl[], bad: string[]): void {
    try {
      into.push(parseCrl(toDer(input, ['X509 CRL', 'CRL'])));
    } catch (err) {
      bad.push(err instanceof Error ? err.message : String(err));
    }
  }

  /** Parses (or finds in the LRU) one certificate. */
  parse(input: CertInput): Parsed {
    let der: Uint8Array;
    try {
      der = toDer(input, ['CERTIFICATE']);
    } catch (err) {
      return { ok: false, error: err instanceof Error ? err.message : String(err) };
    }
    const key = createHash('sha256').update(der).digest('base64');
    const hit = this.parsed.get(key);
    if (hit) return hit;
    let result: Parsed;
    try {
      // Copy: the cache must not keep a view of a caller's larger buffer alive or see it change.
      result = { ok: true, cert: parseCertificate(Uint8Array.from(der)) };
    } catch (err) {
      if (!(err instanceof Malformed)) throw err;
      result = { ok: false, error: err.message };
    }
    this.parsed.set(key, result);
    return result;
  }

  private signedBy(ctx: Ctx, child: Cert, issuer: Cert, index: number): boolean {
    const linkKey = `${issuer.fingerprint}>${child.fingerprint}`;
    const cached = this.sigLinks.get(linkKey);
    if (cached !== undefined) {
      if (!cached)
        addReason(
          ctx,
          'BAD_SIGNATURE',
          `signature does not verify with ${describeName(issuer.subject)}'s key`,
          child,
          index,
        );
      return cached;
    }
    const alg = checkSigAlg(child.sigAlg);
    if (!alg.ok) {
      addReason(ctx, alg.code, alg.detail, child, index);
      return false;
    }
    const key = keyOf(issuer, ctx.minRsaBits);
    if (!key.ok) return false;
    if (ctx.budgetSignatures-- <= 0) {
      ctx.exhausted = true;
      return false;
    }
    const ok = verifySignature(alg.alg, key.info, child.tbs, child.signature);
    this.sigLinks.set(linkKey, ok);
    if (!ok)
      addReason(
        ctx,
        'BAD_SIGNATURE',
        `signature does not verify with ${describeName(issuer.subject)}'s key`,
        child,
        index,
      );
    return ok;
  }

  verify(req: VerifyRequest): VerifyResult {
    const fail = (code: ReasonCode, message: string, cert?: Cert): VerifyResult => ({
      ok: false,
      path: [],
      identity: undefined,
      reasons: [{ code, message, cert: cert ? certRef(cert, 0) : undefined }],
    });
    const atMs = req.at.getTime();
    if (!Number.isFinite(atMs)) return fail('INPUT_INVALID', 'validation time is not a valid date');
    const leafP = this.parse(req.leaf);
    if (!leafP.ok) return fail('MALFORMED_CERTIFICATE', `leaf certificate: ${leafP.error}`);
    const leaf = leafP.cert;

    const crls = [...this.baseCrls];
    const badCrls = [...this.baseBadCrls];
    for (const c of req.crls ?? []) this.addCrl(c, crls, badCrls);
    const minRsaBits = Math.max(2048, this.opts.minRsaBits ?? 2048);
    const pins = req.pins ? new Set(req.pins.map((p) => (p.startsWith('sha256/') ? p.slice(7) : p))) : undefined;
    const ctx: Ctx = {
      at: Math.floor(atMs / 1000),
      ekus: ekuOids(req.extendedKeyUsage ?? [req.purpose === 'client' ? 'clientAuth' : 'serverAuth']),
      maxDepth: Math.min(
        LIMITS.maxIntermediates,
        this.opts.maxDepth ?? LIMITS.maxIntermediates,
        req.maxDepth ?? Infinity,
      ),
      crls,
      badCrls,
      requireCrl: this.opts.requireCrl ?? 'none',
      pins,
      minRsaBits,
      budgetCandidates: LIMITS.maxCandidatesPerCall,
      budgetSignatures: LIMITS.maxSignatureChecks,
      exhausted: false,
      reasons: [],
      seen: new Set(),
      candidates: new Map(),
    };
    if (badCrls.length > 0) {
      return fail('CRL_INVALID', `a CRL does not parse: ${badCrls[0] ?? ''}`);
    }

    // The leaf on its own: encoding, profile, names and identity.
    addProblems(ctx, commonProblems(leaf, minRsaBits), leaf, 0);
    addProblems(ctx, akiProblems(leaf, false), leaf, 0);
    addProblems(ctx, this.leafProblems(leaf, req, ctx), leaf, 0);
    addProblems(ctx, timeProblems(leaf, ctx.at), leaf, 0);
    if (ctx.reasons.length > 0) return { ok: false, path: [], identity: undefined, reasons: ctx.reasons };
    const identity = this.identityOf(leaf, req, ctx);
    if (!identity) return { ok: false, path: [], identity: undefined, reasons: ctx.reasons };

    // The untrusted pool, deduplicated, anchors removed, capped.
    const pool = new Map<string, Cert[]>();
    let poolSize = 0;
    const seenFp = new Set<string>([leaf.fingerprint]);
    for (const input of req.intermediates ?? []) {
      if (poolSize >= LIMITS.maxPoolSize) break;
      const p = this.parse(input);
      if (!p.ok) continue; // an unparsable extra certificate can never be part of a path
      if (seenFp.has(p.cert.fingerprint) || this.anchorFingerprints.has(p.cert.fingerprint)) continue;
      seenFp.add(p.cert.fingerprint);
      const list = pool.get(p.cert.subject.key) ?? [];
      list.push(p.cert);
      pool.set(p.cert.subject.key, list);
      poolSize++;
    }

    const path = this.build(ctx, [leaf], pool);
    if (path) {
      return {
        ok: true,
        path: path.map((c, i) => entry(c, i, i === path.length - 1)),
        identity,
        reasons: [],
      };
    }
    if (ctx.exhausted) {
      addReason(
        ctx,
        'BUDGET_EXHAUSTED',
        'path building gave up: too many candidate issuers or signature checks',
        leaf,
        0,
      );
    }
    if (ctx.reasons.length === 0) addReason(ctx, 'UNKNOWN_ISSUER', 'no valid path to a trust anchor', leaf, 0);
    return { ok: false, path: [], identity: undefined, reasons: ctx.reasons };
  }

  private build(ctx: Ctx, path: Cert[], pool: Map<string, Cert[]>): Cert[] | undefined {
    const cur = path[path.length - 1] as Cert;
    const index = path.length; // index the candidate would take
    const anchors = this.anchorBySubject.get(cur.issuer.key) ?? [];
    const untrusted = pool.get(cur.issuer.key) ?? [];
    if (anchors.length === 0 && untrusted.length === 0) {
      addReason(
        ctx,
        'UNKNOWN_ISSUER',
        cur.selfIssued
          ? 'self-issued certificate that is not a trust anchor'
          : `issuer ${describeName(cur.issuer)} is neither a trust anchor nor among the intermediates`,
        cur,
        index - 1,
      );
      return undefined;
    }
    const akid = cur.authorityKeyId?.keyId;
    const memoKey = `${cur.issuer.key}|${akid ? hex(akid) : ''}`;
    let candidates = ctx.candidates.get(memoKey);
    if (!candidates) {
      const rank = (c: Cert): number => (akid && c.subjectKeyId && bytesEqual(akid, c.subjectKeyId) ? 0 : 1);
      candidates = [
        ...[...anchors].sort((a, b) => rank(a) - rank(b)).map((cert) => ({ cert, anchor: true })),
        ...[...untrusted].sort((a, b) => rank(a) - rank(b)).map((cert) => ({ cert, anchor: false })),
      ];
      ctx.candidates.set(memoKey, candidates);
    }
    for (const { cert, anchor } of candidates) {
      if (ctx.exhausted) return undefined;
      if (ctx.budgetCandidates-- <= 0) {
        ctx.exhausted = true;
        return undefined;
      }
      // No certificate twice, and no (subject, key) pair twice: cycles end here.
      if (
        path.some(
          (p) =>
            p.fingerprint === cert.fingerprint ||
            (p.subject.key === cert.subject.key && p.spkiSha256 === cert.spkiSha256),
        )
      ) {
        continue;
      }
      if (!anchor && path.length - 1 >= LIMITS.maxIntermediates) {
        addReason(
          ctx,
          'MAX_DEPTH_EXCEEDED',
          `paths longer than ${LIMITS.maxIntermediates} intermediates are not built`,
          cert,
          index,
        );
        continue;
      }
      const problems = [
        ...commonProblems(cert, ctx.minRsaBits),
        ...issuerProblems(cert, anchor),
        ...timeProblems(cert, ctx.at),
      ];
      if (problems.length > 0) {
        addProblems(ctx, problems, cert, index);
        continue;
      }
      if (!this.signedBy(ctx, cur, cert, index - 1)) continue;
      const next = [...path, cert];
      if (anchor) {
        if (this.finish(ctx, next)) return next;
        continue;
      }
      const found = this.build(ctx, next, pool);
      if (found) return found;
    }
    return undefined;
  }

  /** Checks that need the whole path: depth, pathLen, EKU nesting, name constraints, CRLs, pins. */
  private finish(ctx: Ctx, path: Cert[]): boolean {
    const n = path.length;
    let ok = true;
    const bad = (code: ReasonCode, message: string, i: number): void => {
      ok = false;
      addReason(ctx, code, message, path[i], i);
    };
    // Non-self-issued intermediates between leaf and anchor.
    let depth = 0;
    for (let i = 1; i < n - 1; i++) if (!(path[i] as Cert).selfIssued) depth++;
    if (depth > ctx.maxDepth)
      bad('MAX_DEPTH_EXCEEDED', `path has ${depth} intermediates; at most ${ctx.maxDepth} allowed`, n - 1);
    for (let i = 1; i < n; i++) {
      const ca = path[i] as Cert;
      const pathLen = ca.basicConstraints?.pathLen;
      if (pathLen !== undefined) {
        let below = 0;
        for (let j = 1; j < i; j++) if (!(path[j] as Cert).selfIssued) below++;
        if (below > pathLen)
          bad('PATH_LENGTH_EXCEEDED', `pathLenConstraint ${pathLen} but ${below} CA certificates follow`, i);
      }
      if (ca.extKeyUsage && !ca.extKeyUsage.includes(OID.anyExtendedKeyUsage)) {
        const missing = ctx.ekus.filter((e) => !ca.extKeyUsage?.includes(e));
        if (missing.length > 0) bad('INTERMEDIATE_EKU', `CA's extKeyUsage does not allow ${missing.join(', ')}`, i);
      }
      if (ca.nameConstraints && !this.nameConstraintsHold(ctx, path, i)) ok = false;
    }
    if (!ok) return false;
    if (!this.revocationHolds(ctx, path)) return false;
    if (ctx.pins && !path.some((c) => ctx.pins?.has(c.spkiSha256) === true)) {
      addReason(ctx, 'PIN_MISMATCH', 'no certificate of the validated path matches a pinned key', path[0], 0);
      return false;
    }
    return true;
  }

  private nameConstraintsHold(ctx: Ctx, path: Cert[], i: number): boolean {
    const ca = path[i] as Cert;
    const nc = ca.nameConstraints;
    if (!nc) return true;
    const byForm = (list: readonly GeneralName[] | undefined): Map<NameForm, GeneralName[]> => {
      const m = new Map<NameForm, GeneralName[]>();
      for (const c of list ?? []) {
        const f = formOf(c);
        const l = m.get(f) ?? [];
        l.push(c);
        m.set(f, l);
      }
      return m;
    };
    const permitted = byForm(nc.permitted);
    const excluded = byForm(nc.excluded);
    for (let j = 0; j < i; j++) {
      const cert = path[j] as Cert;
      if (j > 0 && cert.selfIssued) continue;
      const names = constrainedNames(cert);
      let cost = 0;
      for (const name of names) {
        const f = formOf(name);
        cost += (permitted.get(f)?.length ?? 0) + (excluded.get(f)?.length ?? 0);
      }
      if (cost > LIMITS.maxNameConstraintChecks) {
        addReason(
          ctx,
          'NAME_CONSTRAINT_TOO_COMPLEX',
          `${names.length} names against ${cost} constraint checks is over the limit`,
          cert,
          j,
        );
        return false;
      }
      for (const name of names) {
        const f = formOf(name);
        const ex = excluded.get(f) ?? [];
        const pe = permitted.get(f) ?? [];
        if (name.type === 'other' && (ex.length > 0 || pe.length > 0)) {
          addReason(ctx, 'NAME_CONSTRAINT_UNSUPPORTED', `name constraint on ${f} names is not processed`, cert, j);
          return false;
        }
        if (name.type === 'uri' && (ex.length > 0 || pe.length > 0)) {
          const host = uriHost(name.value);
          if (host === undefined || !isDnsName(host)) {
            addReason(
              ctx,
              'NAME_CONSTRAINT_VIOLATION',
              `${describe(name)} has no host name to check against URI constraints`,
              cert,
              j,
            );
            return false;
          }
        }
        if (ex.some((c) => constraintMatches(name, c, 'excluded'))) {
          addReason(
            ctx,
            'NAME_CONSTRAINT_VIOLATION',
            `${describe(name)} is in a subtree excluded by ${describeName(ca.subject)}`,
            cert,
            j,
          );
          return false;
        }
        if (pe.length > 0 && !pe.some((c) => constraintMatches(name, c, 'permitted'))) {
          addReason(
            ctx,
            'NAME_CONSTRAINT_VIOLATION',
            `${describe(name)} is outside the subtrees permitted by ${describeName(ca.subject)}`,
            cert,
            j,
          );
          return false;
        }
      }
    }
    return true;
  }

  private revocationHolds(ctx: Ctx, path: Cert[]): boolean {
    for (let j = 0; j < path.length - 1; j++) {
      const cert = path[j] as Cert;
      const issuer = path[j + 1] as Cert;
      const relevant = ctx.crls.filter((c) => c.issuer.key === issuer.subject.key);
      let used = 0;
      for (const crl of relevant) {
        if (crl.authorityKeyId && issuer.subjectKeyId && !bytesEqual(crl.authorityKeyId, issuer.subjectKeyId)) continue;
        if (crl.problem) {
          addReason(ctx, 'CRL_INVALID', `CRL of ${describeName(issuer.subject)}: ${crl.problem}`, issuer, j + 1);
          return false;
        }
        if (!bytesEqual(crl.tbsSigAlg.der, crl.sigAlg.der)) {
          addReason(ctx, 'CRL_INVALID', 'CRL signature algorithm fields differ', issuer, j + 1);
          return false;
        }
        const alg = checkSigAlg(crl.sigAlg);
        const key = keyOf(issuer, ctx.minRsaBits);
        if (!alg.ok || !key.ok || !verifySignature(alg.alg, key.info, crl.tbs, crl.signature)) {
          addReason(
            ctx,
            'CRL_INVALID',
            `CRL claiming issuer ${describeName(issuer.subject)} does not verify with its key`,
            issuer,
            j + 1,
          );
          return false;
        }
        if (issuer.keyUsage !== undefined && !hasKu(issuer.keyUsage, KU.cRLSign)) {
          addReason(ctx, 'CRL_INVALID', 'CRL issuer keyUsage lacks cRLSign', issuer, j + 1);
          return false;
        }
        if (crl.thisUpdate > ctx.at) {
          addReason(ctx, 'CRL_INVALID', `CRL is not valid before ${isoSeconds(crl.thisUpdate)}`, issuer, j + 1);
          return false;
        }
        if (crl.nextUpdate !== undefined && crl.nextUpdate < ctx.at) {
          addReason(ctx, 'CRL_STALE', `CRL expired at ${isoSeconds(crl.nextUpdate)} (nextUpdate)`, issuer, j + 1);
          return false;
        }
        const isCa = cert.basicConstraints?.ca === true;
        if ((crl.onlyUserCerts && isCa) || (crl.onlyCaCerts && !isCa)) continue;
        used++;
        if (crl.revoked.has(hex(cert.serial))) {
          addReason(
            ctx,
            'REVOKED',
            `revoked by the CRL of ${describeName(issuer.subject)} (number ${crl.crlNumber ?? '?'})`,
            cert,
            j,
          );
          return false;
        }
      }
      if (used === 0 && (ctx.requireCrl === 'all' || (ctx.requireCrl === 'leaf' && j === 0))) {
        addReason(ctx, 'CRL_MISSING', `no usable CRL from ${describeName(issuer.subject)}`, cert, j);
        return false;
      }
    }
    return true;
  }

  private leafProblems(leaf: Cert, req: VerifyRequest, ctx: Ctx): Problem[] {
    const out: Problem[] = [];
    if (leaf.basicConstraints?.ca === true && this.opts.allowCaLeaf !== true) {
      out.push({ code: 'CA_AS_LEAF', message: 'the leaf is a CA certificate (basicConstraints cA=TRUE)' });
    }
    if (leaf.keyUsage !== undefined) {
      const ku = leaf.keyUsage;
      const required = req.keyUsage ?? [];
      for (const name of required) {
        const bit = KU_NAMES[name];
        if (bit === undefined || !hasKu(ku, bit))
          out.push({ code: 'LEAF_KEY_USAGE', message: `keyUsage lacks ${name}` });
      }
      if (required.length === 0) {
        const sig = hasKu(ku, KU.digitalSignature);
        const tlsServerOk = sig || hasKu(ku, KU.keyEncipherment) || hasKu(ku, KU.keyAgreement);
        if (req.purpose === 'client' ? !sig : !tlsServerOk) {
          out.push({ code: 'LEAF_KEY_USAGE', message: `keyUsage does not allow TLS ${req.purpose} authentication` });
        }
      }
    }
    if (leaf.extKeyUsage && !leaf.extKeyUsage.includes(OID.anyExtendedKeyUsage)) {
      const missing = ctx.ekus.filter((e) => !leaf.extKeyUsage?.includes(e));
      if (missing.length > 0) out.push({ code: 'LEAF_EKU', message: `extKeyUsage lacks ${missing.join(', ')}` });
    }
    const sans = leaf.subjectAltNames;
    if (!sans && this.opts.allowMissingSan !== true) {
      out.push({
        code: 'SAN_MISSING',
        message: 'the leaf has no subjectAltName (the subject CN is never used as a name)',
      });
    }
    if (req.purpose === 'client' && sans?.some((n) => n.type === 'dns' && n.value.startsWith('*.'))) {
      out.push({ code: 'SAN_INVALID', message: 'wildcard DNS name in a client certificate' });
    }
    if (req.expectedNames && req.expectedNames.length > 0) {
      const m = matchExpected(sans ?? [], req.expectedNames);
      if (m) out.push(m);
    }
    return out;
  }

  private identityOf(leaf: Cert, req: VerifyRequest, ctx: Ctx): VerifiedIdentity | undefined {
    const sans = leaf.subjectAltNames ?? [];
    const uris = sans.filter((n): n is Extract<GeneralName, { type: 'uri' }> => n.type === 'uri');
    const spiffeLike = uris.filter((u) => /^spiffe:/i.test(u.value));
    let spiffeId: string | undefined;
    const bad = (code: ReasonCode, message: string): undefined => {
      addReason(ctx, code, message, leaf, 0);
      return undefined;
    };
    if (spiffeLike.length > 0) {
      if (uris.length !== 1) {
        bad('SPIFFE_SVID_INVALID', `an X509-SVID has exactly one URI SAN; this leaf has ${uris.length}`);
        return;
      }
      const id = (uris[0] as { value: string }).value;
      const parsed = parseSpiffe(id);
      if (!parsed.ok) {
        bad('SPIFFE_ID_INVALID', `"${printable(id)}": ${parsed.why}`);
        return;
      }
      if (leaf.basicConstraints?.ca === true) {
        bad('SPIFFE_SVID_INVALID', 'an X509-SVID leaf must not be a CA');
        return;
      }
      if (leaf.keyUsage !== undefined) {
        if (!hasKu(leaf.keyUsage, KU.digitalSignature)) {
          bad('SPIFFE_SVID_INVALID', 'an X509-SVID leaf must have digitalSignature');
          return;
        }
        if (hasKu(leaf.keyUsage, KU.keyCertSign) || hasKu(leaf.keyUsage, KU.cRLSign)) {
          bad('SPIFFE_SVID_INVALID', 'an X509-SVID leaf must not have keyCertSign or cRLSign');
          return;
        }
      }
      if (sans.some((n) => n.type === 'dns' && n.value.includes('*'))) {
        bad('SPIFFE_SVID_INVALID', 'an X509-SVID must not carry wildcard DNS names');
        return;
      }
      spiffeId = id;
    }
    if (req.expectedSpiffeId !== undefined) {
      if (spiffeId === undefined) {
        bad('SPIFFE_ID_MISMATCH', `expected SPIFFE ID ${printable(req.expectedSpiffeId)}, the leaf has none`);
        return;
      }
      if (spiffeId !== req.expectedSpiffeId) {
        bad('SPIFFE_ID_MISMATCH', `expected ${printable(req.expectedSpiffeId)}, the leaf is ${printable(spiffeId)}`);
        return;
      }
    }
    const dnsNames = sans.filter((n) => n.type === 'dns').map((n) => (n as { value: string }).value);
    const firstDns = dnsNames.find((d) => !d.startsWith('*.'));
    return {
      type: spiffeId !== undefined ? 'spiffe' : firstDns !== undefined ? 'dns' : 'none',
      value: spiffeId ?? firstDns,
      spiffeId,
      dnsNames,
      fingerprint: leaf.fingerprint,
      spkiSha256: leaf.spkiSha256,
      serial: hex(leaf.serial),
      issuer: describeName(leaf.issuer),
    };
  }
}

function describe(n: GeneralName): string {
  switch (n.type) {
    case 'dns':
      return `DNS name ${printable(n.value)}`;
    case 'email':
      return `email ${printable(n.value)}`;
    case 'uri':
      return `URI ${printable(n.value)}`;
    case 'ip':
      return `IP address ${Array.from(n.bytes).join('.')}`;
    case 'dn':
      return `directory name ${describeName(n.name)}`;
    case 'other':
      return `name of type ${n.tag}`;
  }
}

function matchExpected(sans: readonly GeneralName[], expected: readonly ExpectedName[]): Problem | undefined {
  const wanted: string[] = [];
  for (const e of expected) {
    const kind = typeof e === 'string' ? (parseIp(e) ? 'IP' : e.includes('@') ? 'EMAIL' : 'DNS') : e.kind;
    const value = typeof e === 'string' ? e : e.value;
    wanted.push(`${kind}:${printable(value)}`);
    if (kind === 'DNS') {
      if (!isDnsName(value)) continue;
      if (sans.some((n) => n.type === 'dns' && dnsMatches(n.value, value))) return undefined;
    } else if (kind === 'IP') {
      const ip = parseIp(value);
      if (ip && sans.some((n) => n.type === 'ip' && bytesEqual(n.bytes, ip))) return undefined;
    } else {
      const at = value.lastIndexOf('@');
      if (at <= 0) continue;
      const local = value.slice(0, at);
      const domain = value.slice(at + 1).toLowerCase();
      const hit = sans.some((n) => {
        if (n.type !== 'email') return false;
        const a = n.value.lastIndexOf('@');
        return n.value.slice(0, a) === local && n.value.slice(a + 1).toLowerCase() === domain;
      });
      if (hit) return undefined;
    }
  }
  return { code: 'NAME_MISMATCH', message: `the leaf's subjectAltName matches none of ${wanted.join(', ')}` };
}

/** Builds a reusable verifier: anchors parsed once, certificates and signature links cached. */
export function createVerifier(options: VerifierOptions): Verifier {
  return new PathVerifier(options);
}

/** One-shot verification (builds a verifier for the call; reuse `createVerifier` in servers). */
export function verifyChain(options: VerifyChainOptions): VerifyResult {
  const { anchors, crls, maxDepth, minRsaBits, requireCrl, allowMissingSan, allowCaLeaf, ...req } = options;
  const v = new PathVerifier({
    anchors,
    cacheSize: 64,
    ...(minRsaBits !== undefined ? { minRsaBits } : {}),
    ...(requireCrl !== undefined ? { requireCrl } : {}),
    ...(allowMissingSan !== undefined ? { allowMissingSan } : {}),
    ...(allowCaLeaf !== undefined ? { allowCaLeaf } : {}),
  });
  return v.verify({ ...req, ...(crls ? { crls } : {}), ...(maxDepth !== undefined ? { maxDepth } : {}) });
}
