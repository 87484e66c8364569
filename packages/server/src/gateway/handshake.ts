/**
 * The verdict on a finished handshake: accepted only when OpenSSL and mutual's verifier both accept
 * the presented chain, the chain is within the size caps, the listener's pins match the validated
 * path and revocation allows it. Refusals carry the verifier's reason code for audit and metrics.
 * A chain the verifier accepted is remembered (VerifiedChains) by its leaf, so the same leaf presented
 * again skips the path validation until the earliest notAfter of its path (ADR 0023); OpenSSL's
 * verdict, pins and revocation are still checked on every handshake.
 */
import { X509Certificate, createHash } from 'node:crypto';
import type { VerifyResult, Verifier } from '@mutual/sdk';
import type { PeerIdentity } from './policy.js';

/** Most certificates and bytes a client may present. */
export const CHAIN_LIMITS = { maxCertificates: 10, maxBytes: 64 * 1024 } as const;

export interface AcceptedPeer extends PeerIdentity {
  readonly fingerprint: string;
  readonly serial: string;
  readonly issuer: string;
  readonly subject: string;
  readonly uris: readonly string[];
  readonly notAfter: Date;
  readonly leafDer: Uint8Array;
  readonly intermediatesDer: readonly Uint8Array[];
}

export type HandshakeVerdict =
  | {
      readonly ok: true;
      readonly peer: AcceptedPeer | undefined;
      readonly reason: string;
      /** The presented chain as first remembered (identical bytes, shared by every connection presenting it). */
      readonly chain?: Chain;
    }
  | { readonly ok: false; readonly reason: string; readonly detail: string; readonly partial?: PartialPeer };

/** What is known of a refused peer's leaf, for the audit record. */
export interface PartialPeer {
  readonly fingerprint: string | undefined;
  readonly serial: string | undefined;
  readonly issuer: string | undefined;
  readonly identity: string | undefined;
}

/** The parts of a server-side TLSSocket the judge reads. */
export interface HandshakeSocket {
  readonly authorized: boolean;
  readonly authorizationError?: Error | string | null;
  /** The presented leaf; its issuerCertificate links are the rest of the presented chain. */
  getPeerX509Certificate(): X509Certificate | undefined;
  /** The TLS session, DER (OpenSSL's SSL_SESSION encoding, which holds the peer's leaf). */
  getSession?(): Buffer | undefined;
}

type Chain = { readonly leaf: Uint8Array; readonly intermediates: readonly Uint8Array[] };

export interface HandshakeRules {
  readonly verifier: Verifier;
  readonly maxDepth: number;
  /** A connection without a client certificate is accepted (some route is anonymous). */
  readonly anonymous: boolean;
  /** Listener pins on the validated path; undefined when none. */
  readonly pins: ((peer: PeerIdentity, atMs: number) => boolean) | undefined;
  /** Revocation: undefined when the path may be used, else the reason and detail. */
  readonly revocation: (result: VerifyResult, chain: Chain, at: Date) => { reason: string; detail: string } | undefined;
  /** Extra details of a certificate (subject, URIs) read from its DER. */
  readonly describeLeaf: (der: Uint8Array) => { subject: string; uris: readonly string[] };
  /**
   * Verdicts of chains already verified under these rules (same verifier, anchors and depth). Built
   * with the rules, so a reload that changes them starts empty.
   */
  readonly verified?: VerifiedChains;
}

/** A chain the verifier accepted, with what the judge derives from it. */
interface Verified {
  readonly result: VerifyResult;
  readonly chain: Chain;
  readonly described: { readonly subject: string; readonly uris: readonly string[] };
  readonly intermediatesDer: readonly Uint8Array[];
  /** The verdict holds for times in [fromMs, untilMs): the latest notBefore and earliest notAfter of the path. */
  readonly fromMs: number;
  readonly untilMs: number;
}

/** A bounded LRU of accepted chains keyed by the SHA-256 of the leaf's DER. */
export interface VerifiedChains {
  get(key: string, atMs: number): Verified | undefined;
  set(key: string, value: Verified): void;
  readonly size: number;
}

export function createVerifiedChains(max = 1024): VerifiedChains {
  const map = new Map<string, Verified>();
  return {
    get(key, atMs) {
      const v = map.get(key);
      if (v === undefined) return undefined;
      map.delete(key);
      if (atMs < v.fromMs || atMs >= v.untilMs) return undefined; // outside its validity: verified afresh
      map.set(key, v);
      return v;
    },
    set(key, value) {
      map.delete(key);
      map.set(key, value);
      while (map.size > max) {
        const oldest = map.keys().next();
        if (oldest.done === true) break;
        map.delete(oldest.value);
      }
    },
    get size() {
      return map.size;
    },
  };
}

function leafKey(leaf: Uint8Array): string {
  return createHash('sha256').update(leaf).digest('base64');
}

/** One DER element at `at`: its tag, where its content starts and ends; undefined when malformed. */
function element(der: Uint8Array, at: number, end: number): { tag: number; start: number; end: number } | undefined {
  if (at + 2 > end) return undefined;
  const tag = der[at] as number;
  let len = der[at + 1] as number;
  let start = at + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 3 || start + n > end) return undefined;
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + (der[start + i] as number);
    start += n;
  }
  if (start + len > end) return undefined;
  return { tag, start, end: start + len };
}

/**
 * The peer's leaf certificate (DER) from a TLS session as OpenSSL encodes it (SSL_SESSION: a SEQUENCE whose
 * `[3]` element holds the peer certificate): read without decoding any certificate. Undefined when the
 * session or that element is missing or malformed; the caller then reads the presented chain itself.
 */
export function sessionLeaf(session: Uint8Array | undefined): Uint8Array | undefined {
  if (!session) return undefined;
  const outer = element(session, 0, session.length);
  if (outer?.tag !== 0x30 || outer.end !== session.length) return undefined;
  for (let at = outer.start; at < outer.end;) {
    const e = element(session, at, outer.end);
    if (!e) return undefined;
    if (e.tag === 0xa3) {
      const cert = element(session, e.start, e.end);
      if (cert?.tag !== 0x30 || cert.end !== e.end) return undefined;
      return Uint8Array.prototype.slice.call(session, e.start, e.end);
    }
    at = e.end;
  }
  return undefined;
}

function opensslReason(err: Error | string | null | undefined): string {
  if (err === null || err === undefined) return 'unknown';
  return typeof err === 'string' ? err : ((err as { code?: string }).code ?? err.message);
}

/** The presented certificates that are intermediates of the validated path (no anchor, no extras). */
function validatedIntermediates(result: VerifyResult, presented: readonly Uint8Array[]): Uint8Array[] {
  const wanted = new Set(result.path.filter((e) => e.index > 0 && !e.anchor).map((e) => e.fingerprint));
  return presented.filter((der) => wanted.has(createHash('sha256').update(der).digest('hex')));
}

/** What a peer presented in its handshake, captured once (re-judged on reload without touching the socket). */
export interface Presented {
  readonly authorized: boolean;
  readonly opensslError: string;
  readonly chain: Chain | undefined;
}

/**
 * Reads the presented chain as DER. `getPeerX509Certificate()` decodes nothing until asked, where
 * `getPeerCertificate(true)` turns every certificate (and the anchor OpenSSL found) into an object
 * of strings: the cheapest form that gives the DER.
 */
export function presentedBy(socket: HandshakeSocket): Presented {
  let chain: Chain | undefined;
  try {
    const leaf = socket.getPeerX509Certificate();
    if (leaf) {
      const intermediates: Uint8Array[] = [];
      let cur = leaf.issuerCertificate;
      // Only what the peer sent is linked here; a self-signed certificate points at itself.
      while (cur && intermediates.length < 16 && cur !== leaf) {
        intermediates.push(cur.raw);
        const next = cur.issuerCertificate;
        if (next === cur) break;
        cur = next;
      }
      chain = { leaf: leaf.raw, intermediates };
    }
  } catch {
    chain = undefined;
  }
  return { authorized: socket.authorized, opensslError: opensslReason(socket.authorizationError), chain };
}

/** Fingerprint and serial of a leaf the verifier could not parse, as OpenSSL reads them. */
function leafInfo(chain: Chain | undefined): { fingerprint: string; serial: string } | undefined {
  if (!chain) return undefined;
  try {
    const x = new X509Certificate(chain.leaf);
    return {
      fingerprint: createHash('sha256').update(chain.leaf).digest('hex'),
      serial: x.serialNumber.toLowerCase().replace(/^0+(?=.)/, ''), // canonical, as the CA keys serials
    };
  } catch {
    return undefined;
  }
}

function partialFrom(result: VerifyResult | undefined, chain: Chain | undefined): PartialPeer {
  const leaf = result?.path[0];
  const info = leaf ? undefined : leafInfo(chain);
  return {
    fingerprint: leaf?.fingerprint ?? info?.fingerprint,
    serial: leaf?.serial ?? info?.serial,
    issuer: leaf?.issuer,
    identity: result?.identity?.value,
  };
}

/**
 * What a peer presented, read the cheap way when it can be: a leaf OpenSSL accepted and whose verdict is
 * remembered is recognised from the TLS session's copy of it (no certificate is decoded), and the remembered
 * path stands for the chain; otherwise the presented chain is read whole (presentedBy).
 */
export function presentedFor(socket: HandshakeSocket, rules: HandshakeRules, at: Date): Presented {
  if (socket.authorized && rules.verified && socket.getSession) {
    let leaf: Uint8Array | undefined;
    try {
      leaf = sessionLeaf(socket.getSession());
    } catch {
      leaf = undefined;
    }
    const hit = leaf ? rules.verified.get(leafKey(leaf), at.getTime()) : undefined;
    if (hit) return { authorized: true, opensslError: opensslReason(undefined), chain: hit.chain };
  }
  return presentedBy(socket);
}

/** Judges a socket right after its handshake. Never throws; time is an argument. */
export function judgeHandshake(socket: HandshakeSocket, rules: HandshakeRules, at: Date): HandshakeVerdict {
  return judgePresented(presentedFor(socket, rules, at), rules, at);
}

/** Runs the verifier (or finds its earlier verdict on the same leaf); a refusal as a verdict. */
function verifyChain(
  presented: Presented & { chain: Chain },
  rules: HandshakeRules,
  at: Date,
): { readonly verified: Verified; readonly remembered: boolean } | (HandshakeVerdict & { ok: false }) {
  const { chain } = presented;
  const atMs = at.getTime();
  // Only chains OpenSSL authorized are looked up or remembered: both verdicts stay per handshake.
  const key = presented.authorized && rules.verified ? leafKey(chain.leaf) : undefined;
  if (key !== undefined) {
    const hit = rules.verified?.get(key, atMs);
    if (hit) return { verified: hit, remembered: true };
  }
  const result = rules.verifier.verify({
    leaf: chain.leaf,
    intermediates: chain.intermediates,
    at,
    purpose: 'client',
    maxDepth: rules.maxDepth,
  });
  const first = result.reasons[0];
  if (!presented.authorized) {
    return {
      ok: false,
      reason: first?.code ?? 'TLS_NOT_AUTHORIZED',
      detail: `OpenSSL: ${presented.opensslError}${first ? `; mutual: ${first.message}` : ''}`,
      partial: partialFrom(result, chain),
    };
  }
  if (!result.ok || !result.identity) {
    return {
      ok: false,
      reason: first?.code ?? 'UNKNOWN_ISSUER',
      detail: first?.message ?? 'refused',
      partial: partialFrom(result, chain),
    };
  }
  const verified: Verified = {
    result,
    chain,
    described: rules.describeLeaf(chain.leaf),
    intermediatesDer: validatedIntermediates(result, chain.intermediates),
    fromMs: Math.max(...result.path.map((e) => Date.parse(e.notBefore))),
    untilMs: Math.min(...result.path.map((e) => Date.parse(e.notAfter))),
  };
  // A path whose dates do not parse is never remembered (NaN fails every comparison).
  if (key !== undefined && Number.isFinite(verified.fromMs) && Number.isFinite(verified.untilMs))
    rules.verified?.set(key, verified);
  return { verified, remembered: false };
}

/** Judges what a peer presented under the given rules at `at`. */
export function judgePresented(presented: Presented, rules: HandshakeRules, at: Date): HandshakeVerdict {
  const { chain } = presented;
  if (!chain) {
    if (rules.anonymous) return { ok: true, peer: undefined, reason: 'anonymous' };
    return { ok: false, reason: 'NO_CERTIFICATE', detail: 'the client presented no certificate' };
  }
  const count = 1 + chain.intermediates.length;
  const bytes = chain.leaf.length + chain.intermediates.reduce((n, c) => n + c.length, 0);
  if (count > CHAIN_LIMITS.maxCertificates || bytes > CHAIN_LIMITS.maxBytes) {
    return {
      ok: false,
      reason: 'CHAIN_TOO_LARGE',
      detail: `${count} certificates, ${bytes} bytes`,
      partial: partialFrom(undefined, chain),
    };
  }
  const checked = verifyChain({ ...presented, chain }, rules, at);
  if ('ok' in checked) return checked;
  const v = checked.verified;
  const { result } = v;
  const id = result.identity;
  if (!id) return { ok: false, reason: 'UNKNOWN_ISSUER', detail: 'refused', partial: partialFrom(result, chain) };
  const peer: AcceptedPeer = {
    type: id.type,
    value: id.value,
    spiffeId: id.spiffeId,
    dnsNames: id.dnsNames,
    path: result.path,
    fingerprint: id.fingerprint,
    serial: id.serial,
    issuer: id.issuer,
    subject: v.described.subject,
    uris: v.described.uris,
    notAfter: new Date(result.path[0]?.notAfter ?? 0),
    leafDer: v.chain.leaf,
    intermediatesDer: v.intermediatesDer,
  };
  if (rules.pins && !rules.pins(peer, at.getTime())) {
    return {
      ok: false,
      reason: 'PIN_MISMATCH',
      detail: 'no certificate of the validated path matches a listener pin',
      partial: partialFrom(result, chain),
    };
  }
  const revoked = rules.revocation(result, v.chain, at);
  if (revoked)
    return { ok: false, reason: revoked.reason, detail: revoked.detail, partial: partialFrom(result, chain) };
  // 'remembered': the path validation of this leaf was reused; OpenSSL, pins and revocation were checked now.
  return { ok: true, peer, reason: checked.remembered ? 'remembered' : 'verified', chain: v.chain };
}
