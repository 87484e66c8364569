import { X509Certificate, createHash, type KeyObject } from 'node:crypto';
import { MutualError, assertAcceptableKey, encodePem, isMutualError } from '@mutual/sdk';
import { computeValidity, generateSerial, spkiSha256Hex, type Profile } from '../pki/index.js';
import { inlinePkiWork } from './pki-work.js';
import type { CompiledProfilePolicy, LeafProfile, RequestedNames } from './policy.js';
import type { CaStore, Clock, IssuerSigner, PkiWork, RandomBytes } from './ports.js';

/** What an audit record of an issuance says beyond the certificate itself. */
export interface IssueAudit {
  /** Default: the requester. */
  readonly actor?: string;
  /** Default: `certificate.issue`. */
  readonly action?: string;
  readonly details?: Readonly<Record<string, unknown>>;
}

export interface IssueRequest {
  readonly profile: string;
  readonly names: RequestedNames;
  readonly publicKey: KeyObject;
  /** Defaults to the CA's default lifetime; never more than the profile's maximum. */
  readonly lifetimeMs?: number;
  /** Who asked: `cli:<user>`, `token:<jti>`, `renew:<serial>` … recorded with the certificate. */
  readonly requester: string;
  /**
   * Runs inside the transaction that records the intent, with the reserved serial, before anything
   * is signed — for example consuming a one-time token. If it throws, the intent is rolled back and
   * nothing is recorded or signed.
   */
  readonly onReserve?: (tx: CaStore, serial: string) => Promise<void>;
  readonly audit?: IssueAudit;
}

/** Leaf profiles pki can build without the name policy — for the CA's own certificates (admin, TLS server, responder). */
export type TrustedPkiProfile = Exclude<Profile, 'root' | 'intermediate'>;

/**
 * A certificate the CA issues for itself or its operators: names are not checked against the
 * requesters' policy (the CA chose them), but key, validity and lint rules are the same.
 */
export interface TrustedIssueRequest {
  /** Decides key usage and EKU. */
  readonly pkiProfile: TrustedPkiProfile;
  /** What the inventory records (`admin`, `ca-server`, `ocsp`, or a leaf profile on renewal). */
  readonly recordProfile: string;
  readonly names: RequestedNames;
  readonly publicKey: KeyObject;
  readonly lifetimeMs: number;
  readonly requester: string;
  /** A subject common name for certificates without names (an OCSP responder); default: the first name. */
  readonly commonName?: string;
  readonly onReserve?: (tx: CaStore, serial: string) => Promise<void>;
  readonly audit?: IssueAudit;
}

export interface IssuedCertificate {
  readonly serial: string;
  readonly der: Uint8Array;
  readonly pem: string;
  /** Leaf then issuer: what a TLS peer should present. */
  readonly chainPem: string;
  readonly fingerprintSha256: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** The pki profile the certificate was built with. */
  readonly profile: TrustedPkiProfile;
  /** The profile recorded in the inventory (equal to `profile` for policy issuance). */
  readonly recordProfile: string;
  readonly names: RequestedNames;
}

export interface IssuanceServiceDeps {
  readonly store: CaStore;
  readonly issuer: IssuerSigner;
  readonly policies: Readonly<Record<LeafProfile, CompiledProfilePolicy>>;
  readonly defaultLifetimeMs: number;
  readonly clock: Clock;
  readonly random: RandomBytes;
  /** Written into every certificate issued (the online CA's CRL and OCSP URLs). */
  readonly distribution?: { readonly crlUrl?: string; readonly ocspUrl?: string };
  /** Where certificates are built, signed and linted; default in this thread. */
  readonly pki?: PkiWork;
}

export interface IssuanceService {
  issue(request: IssueRequest): Promise<IssuedCertificate>;
  issueTrusted(request: TrustedIssueRequest): Promise<IssuedCertificate>;
  readonly issuerFingerprint: string;
  readonly issuerPem: string;
}

const isLeafProfile = (p: string): p is LeafProfile => p === 'server' || p === 'client' || p === 'both';

/** The identity a certificate carries: its SPIFFE ID, else its first DNS name. */
export function identityOf(names: RequestedNames): {
  kind: 'spiffe' | 'dns' | 'none';
  identity: string | null;
} {
  const spiffe = names.uri[0];
  if (spiffe !== undefined) return { kind: 'spiffe', identity: spiffe };
  const dns = names.dns[0];
  if (dns !== undefined) return { kind: 'dns', identity: dns };
  return { kind: 'none', identity: null };
}

/**
 * Issuance as a fixed sequence of small steps: profile → names under policy → lifetime → key →
 * validity inside the issuer's → serial reserved in the store (intent, in one transaction with
 * whatever authorizes it, such as a consumed token) → build + lint → result and audit record in
 * one transaction. A failure after the intent marks it failed; a crash leaves a pending intent,
 * never an unrecorded certificate or a reused serial.
 */
export function createIssuanceService(deps: IssuanceServiceDeps): IssuanceService {
  const issuerCert = new X509Certificate(deps.issuer.certificateDer);
  const issuerNotBefore = new Date(issuerCert.validFrom);
  const issuerNotAfter = new Date(issuerCert.validTo);
  const issuerFingerprint = createHash('sha256').update(deps.issuer.certificateDer).digest('hex');
  // The issuer, then whatever must follow it in served chains (cross-certificates of a root rollover).
  const issuerPem = [deps.issuer.certificateDer, ...(deps.issuer.sentAfterDer ?? [])]
    .map((der) => encodePem(der, 'CERTIFICATE'))
    .join('');
  const pki = deps.pki ?? inlinePkiWork;
  // One issuer object for every call: pki caches what it derives from it by identity.
  const issuer = { certificateDer: deps.issuer.certificateDer, privateKey: deps.issuer.privateKey };

  async function sign(input: {
    pkiProfile: TrustedPkiProfile;
    recordProfile: string;
    names: RequestedNames;
    publicKey: KeyObject;
    keyLabel: string;
    lifetimeMs: number;
    requester: string;
    commonName?: string | undefined;
    onReserve: IssueRequest['onReserve'];
    audit: IssueAudit | undefined;
  }): Promise<IssuedCertificate> {
    const { names } = input;
    const now = deps.clock.now();
    let validity: { notBefore: Date; notAfter: Date };
    try {
      validity = computeValidity({ now, lifetimeMs: input.lifetimeMs, issuerNotBefore, issuerNotAfter });
    } catch (err) {
      throw new MutualError('ERR_CA_ISSUER_UNUSABLE', { cause: err });
    }

    const firstName = names.dns[0] ?? names.uri[0] ?? names.ip[0] ?? names.email[0] ?? null;
    const commonName = input.commonName ?? (firstName !== null && firstName.length <= 64 ? firstName : null);
    const id = identityOf(names);
    const intentBase = {
      issuerFingerprint,
      profile: input.recordProfile,
      subject: commonName !== null ? `CN=${commonName}` : '',
      commonName,
      identityKind: id.kind,
      identity: id.identity,
      sans: { dns: [...names.dns], ip: [...names.ip], uri: [...names.uri], email: [...names.email] },
      keyType: input.keyLabel,
      notBefore: validity.notBefore,
      notAfter: validity.notAfter,
      requester: input.requester,
      createdAt: now,
    };

    // Reserve the serial before signing, in one transaction with what authorizes the issuance. A
    // collision of 128 random bits means a broken RNG or a replayed random source: retry a few
    // times, then refuse.
    const reserved = await deps.store.transaction(async (tx) => {
      for (let attempt = 0; attempt < 3; attempt++) {
        const candidate = generateSerial(deps.random);
        const hex = BigInt(`0x${Buffer.from(candidate).toString('hex')}`).toString(16);
        try {
          await tx.reserveSerial({ ...intentBase, serial: hex });
        } catch (err) {
          if (isMutualError(err) && err.code === 'ERR_STORE_SERIAL_CONFLICT') continue;
          throw err;
        }
        if (input.onReserve) await input.onReserve(tx, hex);
        return { bytes: candidate, serial: hex };
      }
      throw new MutualError('ERR_INTERNAL_UNEXPECTED', { message: 'Could not reserve a unique serial.' });
    });
    const { serial } = reserved;

    let built: { der: Uint8Array; pem: string };
    try {
      built = await pki.issue({
        profile: input.pkiProfile,
        subject: commonName === null ? {} : { commonName },
        names: intentBase.sans,
        publicKey: input.publicKey,
        issuer,
        serial: reserved.bytes,
        notBefore: validity.notBefore,
        notAfter: validity.notAfter,
        ...(deps.distribution?.crlUrl === undefined ? {} : { crlDistributionPoint: deps.distribution.crlUrl }),
        ...(deps.distribution?.ocspUrl === undefined ? {} : { ocspUrl: deps.distribution.ocspUrl }),
      });
    } catch (err) {
      const reason = isMutualError(err) ? err.code : 'ERR_INTERNAL_UNEXPECTED';
      await deps.store.transaction(async (tx) => {
        await tx.failIssuance(serial, reason);
        await tx.appendAudit({
          at: now,
          actor: input.audit?.actor ?? input.requester,
          action: 'certificate.fail',
          subject: serial,
          details: { reason, profile: input.recordProfile },
        });
      });
      throw err;
    }
    const fingerprintSha256 = createHash('sha256').update(built.der).digest('hex');
    await deps.store.transaction(async (tx) => {
      await tx.completeIssuance(serial, {
        pem: built.pem,
        fingerprintSha256,
        spkiSha256: spkiSha256Hex(input.publicKey),
        issuedAt: now,
      });
      await tx.appendAudit({
        at: now,
        actor: input.audit?.actor ?? input.requester,
        action: input.audit?.action ?? 'certificate.issue',
        subject: serial,
        details: {
          ...(input.audit?.details ?? {}),
          profile: input.recordProfile,
          identity: id.identity,
          names: intentBase.sans,
          notBefore: validity.notBefore.toISOString(),
          notAfter: validity.notAfter.toISOString(),
          fingerprintSha256,
          requester: input.requester,
        },
      });
    });
    return {
      serial,
      der: built.der,
      pem: built.pem,
      chainPem: `${built.pem.trimEnd()}\n${issuerPem}`,
      fingerprintSha256,
      notBefore: validity.notBefore,
      notAfter: validity.notAfter,
      profile: input.pkiProfile,
      recordProfile: input.recordProfile,
      names,
    };
  }

  async function issue(request: IssueRequest): Promise<IssuedCertificate> {
    if (!isLeafProfile(request.profile)) {
      throw new MutualError('ERR_POLICY_PROFILE_UNKNOWN', { details: { profile: request.profile.slice(0, 40) } });
    }
    const profile = request.profile;
    const policy = deps.policies[profile];
    const names = policy.checkNames(request.names);
    const lifetimeMs = request.lifetimeMs ?? Math.min(deps.defaultLifetimeMs, policy.maxLifetimeMs);
    policy.checkLifetime(lifetimeMs);
    const key = assertAcceptableKey(request.publicKey, { allowed: policy.keyTypes as never });
    return sign({
      pkiProfile: profile,
      recordProfile: profile,
      names,
      publicKey: request.publicKey,
      keyLabel: key.type ?? key.label,
      lifetimeMs,
      requester: request.requester,
      onReserve: request.onReserve,
      audit: request.audit,
    });
  }

  async function issueTrusted(request: TrustedIssueRequest): Promise<IssuedCertificate> {
    const key = assertAcceptableKey(request.publicKey);
    return sign({
      pkiProfile: request.pkiProfile,
      recordProfile: request.recordProfile,
      names: request.names,
      publicKey: request.publicKey,
      keyLabel: key.type ?? key.label,
      lifetimeMs: request.lifetimeMs,
      requester: request.requester,
      commonName: request.commonName,
      onReserve: request.onReserve,
      audit: request.audit,
    });
  }

  return { issue, issueTrusted, issuerFingerprint, issuerPem };
}
