/**
 * The verdict on a finished handshake: accepted only when OpenSSL and mutual's verifier both accept
 * the presented chain, the chain is within the size caps, the listener's pins match the validated
 * path and revocation allows it. Refusals carry the verifier's reason code for audit and metrics.
 */
import { createHash } from 'node:crypto';
import type { DetailedPeerCertificate } from 'node:tls';
import { peerChain, type Verifier, type VerifyResult } from '@mutual/sdk';
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
  | { readonly ok: true; readonly peer: AcceptedPeer | undefined; readonly reason: string }
  | { readonly ok: false; readonly reason: string; readonly detail: string; readonly partial?: PartialPeer };

/** What is known of a refused peer's leaf, for the audit record. */
export interface PartialPeer {
  readonly fingerprint: string | undefined;
  readonly serial: string | undefined;
  readonly issuer: string | undefined;
  readonly identity: string | undefined;
}

export interface HandshakeSocket {
  readonly authorized: boolean;
  readonly authorizationError?: Error | string | null;
  getPeerCertificate(detailed: true): DetailedPeerCertificate;
}

export interface HandshakeRules {
  readonly verifier: Verifier;
  readonly maxDepth: number;
  /** A connection without a client certificate is accepted (some route is anonymous). */
  readonly anonymous: boolean;
  /** Listener pins on the validated path; undefined when none. */
  readonly pins: ((peer: PeerIdentity) => boolean) | undefined;
  /** Revocation: undefined when the path may be used, else the reason and detail. */
  readonly revocation: (
    result: VerifyResult,
    chain: { leaf: Uint8Array; intermediates: readonly Uint8Array[] },
    at: Date,
  ) => { reason: string; detail: string } | undefined;
  /** Extra details of a certificate (subject, URIs) read from its DER. */
  readonly describeLeaf: (der: Uint8Array) => { subject: string; uris: readonly string[] };
}

function partialFrom(
  result: VerifyResult | undefined,
  info: { readonly fingerprint: string; readonly serial: string } | undefined,
): PartialPeer {
  const leaf = result?.path[0];
  return {
    fingerprint: leaf?.fingerprint ?? info?.fingerprint,
    serial: leaf?.serial ?? info?.serial,
    issuer: leaf?.issuer,
    identity: result?.identity?.value,
  };
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
  readonly chain: { leaf: Uint8Array; intermediates: Uint8Array[] } | undefined;
  /** Fingerprint and serial OpenSSL read from the presented leaf (for refusals the verifier could not parse). */
  readonly leafInfo: { readonly fingerprint: string; readonly serial: string } | undefined;
}

export function presentedBy(socket: HandshakeSocket): Presented {
  let raw: DetailedPeerCertificate | undefined;
  try {
    raw = socket.getPeerCertificate(true);
  } catch {
    raw = undefined;
  }
  return {
    authorized: socket.authorized,
    opensslError: opensslReason(socket.authorizationError),
    chain: peerChain(raw),
    leafInfo:
      raw && typeof raw.fingerprint256 === 'string' && raw.fingerprint256 !== ''
        ? {
            fingerprint: raw.fingerprint256.replace(/:/g, '').toLowerCase(),
            serial: raw.serialNumber.toLowerCase().replace(/^0+(?=.)/, ''), // canonical, as the CA keys serials
          }
        : undefined,
  };
}

/** Judges a socket right after its handshake. Never throws; time is an argument. */
export function judgeHandshake(socket: HandshakeSocket, rules: HandshakeRules, at: Date): HandshakeVerdict {
  return judgePresented(presentedBy(socket), rules, at);
}

/** Judges what a peer presented under the given rules at `at`. */
export function judgePresented(presented: Presented, rules: HandshakeRules, at: Date): HandshakeVerdict {
  const { chain, leafInfo: raw } = presented;
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
      partial: partialFrom(undefined, raw),
    };
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
    const why = presented.opensslError;
    return {
      ok: false,
      reason: first?.code ?? 'TLS_NOT_AUTHORIZED',
      detail: `OpenSSL: ${why}${first ? `; mutual: ${first.message}` : ''}`,
      partial: partialFrom(result, raw),
    };
  }
  if (!result.ok || !result.identity) {
    return {
      ok: false,
      reason: first?.code ?? 'UNKNOWN_ISSUER',
      detail: first?.message ?? 'refused',
      partial: partialFrom(result, raw),
    };
  }
  const id = result.identity;
  const described = rules.describeLeaf(chain.leaf);
  const leafEntry = result.path[0];
  const peer: AcceptedPeer = {
    type: id.type,
    value: id.value,
    spiffeId: id.spiffeId,
    dnsNames: id.dnsNames,
    path: result.path,
    fingerprint: id.fingerprint,
    serial: id.serial,
    issuer: id.issuer,
    subject: described.subject,
    uris: described.uris,
    notAfter: new Date(leafEntry?.notAfter ?? 0),
    leafDer: chain.leaf,
    intermediatesDer: validatedIntermediates(result, chain.intermediates),
  };
  if (rules.pins && !rules.pins(peer)) {
    return {
      ok: false,
      reason: 'PIN_MISMATCH',
      detail: 'no certificate of the validated path matches a listener pin',
      partial: partialFrom(result, raw),
    };
  }
  const revoked = rules.revocation(result, chain, at);
  if (revoked) return { ok: false, reason: revoked.reason, detail: revoked.detail, partial: partialFrom(result, raw) };
  return { ok: true, peer, reason: 'verified' };
}
