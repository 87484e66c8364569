/**
 * One peer's judgement, shared by the server and the client helpers: OpenSSL's verdict, then
 * mutual's verifier on the same presented chain, then the identity read from the verified leaf's
 * DER, then the authorizer. Every step's refusal is a value with a reason.
 */
import type { DetailedPeerCertificate, TLSSocket } from 'node:tls';
import type { Authorizer } from '../authorize/index.js';
import { extractIdentity, type Identity } from '../identity/index.js';
import { peerChain, verifyTlsPeer, type Verifier, type VerifyResult } from '../verify/index.js';
import { readDerObjects } from '../pem/index.js';

/** What the helpers know of an admitted peer. */
export interface MtlsPeer {
  /** Read from the DER of the verified leaf. */
  readonly identity: Identity;
  /** The validated path (leaf first). */
  readonly verified: VerifyResult;
}

/** One decision about a peer, for audit (`onDecision`). */
export interface MtlsDecision {
  readonly at: Date;
  /** 'server': a client connecting to createMtlsServer; 'client': a server mtlsAgent connected to. */
  readonly side: 'server' | 'client';
  readonly remote: string;
  readonly decision: 'allow' | 'deny';
  /** `authorized`, a verifier reason code, `TLS_HANDSHAKE_FAILED`, or `UNAUTHORIZED: <authorizer reason>`. */
  readonly reason: string;
  readonly identity: string | null;
  readonly serial: string | null;
  readonly fingerprint: string | null;
}

export type Judgement =
  | { readonly ok: true; readonly peer: MtlsPeer; readonly reason: 'authorized' }
  | { readonly ok: false; readonly reason: string; readonly identity: Identity | undefined };

/** Reads the anchors of a trust option (PEM text, one or several). */
export function anchorsOf(trust: string | Uint8Array | readonly (string | Uint8Array)[]): Uint8Array[] {
  const list = typeof trust === 'string' || trust instanceof Uint8Array ? [trust] : trust;
  return list.flatMap((t) => readDerObjects(typeof t === 'string' ? Buffer.from(t) : t, ['CERTIFICATE']));
}

function identityOf(der: Uint8Array): Identity | undefined {
  try {
    return extractIdentity(der);
  } catch {
    return undefined;
  }
}

/** After a verdict: the identity from the verified leaf's DER, then the authorizer. */
function authorizeVerified(authorize: Authorizer, verified: VerifyResult, leaf: Uint8Array | undefined): Judgement {
  const identity = leaf === undefined ? undefined : identityOf(leaf);
  if (!verified.ok) return { ok: false, reason: verified.reasons[0]?.code ?? 'REFUSED', identity };
  if (identity === undefined) return { ok: false, reason: 'MALFORMED_CERTIFICATE', identity };
  const decision = authorize(identity);
  if (!decision.ok) return { ok: false, reason: `UNAUTHORIZED: ${decision.reason}`, identity };
  return { ok: true, peer: { identity, verified }, reason: 'authorized' };
}

/** Client side (inside checkServerIdentity, after OpenSSL accepted): the verifier, then the authorizer. */
export function judgeChain(
  verifier: Verifier,
  authorize: Authorizer,
  cert: DetailedPeerCertificate | undefined,
  purpose: 'client' | 'server',
  at: Date,
): Judgement {
  const chain = peerChain(cert);
  if (!chain) return { ok: false, reason: 'NO_CERTIFICATE', identity: undefined };
  const verified = verifier.verify({ leaf: chain.leaf, intermediates: chain.intermediates, at, purpose });
  return authorizeVerified(authorize, verified, chain.leaf);
}

/** Server side: OpenSSL's verdict and mutual's verifier on the socket (verifyTlsPeer), then the authorizer. */
export function judgeSocket(verifier: Verifier, authorize: Authorizer, socket: TLSSocket, at: Date): Judgement {
  const verified = verifyTlsPeer(verifier, socket, { at, purpose: 'client' });
  const chain = peerChain(socket.getPeerCertificate(true));
  return authorizeVerified(authorize, verified, chain?.leaf);
}

export function decisionOf(side: 'server' | 'client', remote: string, at: Date, j: Judgement): MtlsDecision {
  const id = j.ok ? j.peer.identity : j.identity;
  return {
    at,
    side,
    remote,
    decision: j.ok ? 'allow' : 'deny',
    reason: j.reason,
    identity: id?.value ?? null,
    serial: id?.serialHex ?? null,
    fingerprint: id?.fingerprintSha256 ?? null,
  };
}
