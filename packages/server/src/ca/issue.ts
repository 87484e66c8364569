import { X509Certificate, createHash, type KeyObject } from 'node:crypto';
import { MutualError, assertAcceptableKey, encodePem, isMutualError, spkiSha256 } from '@mutual/sdk';
import { computeValidity, generateSerial, issueCertificate } from '../pki/index.js';
import type { CompiledProfilePolicy, LeafProfile, RequestedNames } from './policy.js';
import type { CertificateStore, Clock, IssuerSigner, RandomBytes } from './ports.js';

export interface IssueRequest {
  readonly profile: string;
  readonly names: RequestedNames;
  readonly publicKey: KeyObject;
  /** Defaults to the CA's default lifetime; never more than the profile's maximum. */
  readonly lifetimeMs?: number;
  /** Who asked: `cli:<user>`, `token:<jti>`, `renew:<serial>` … recorded with the certificate. */
  readonly requester: string;
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
  readonly profile: LeafProfile;
  readonly names: RequestedNames;
}

export interface IssuanceServiceDeps {
  readonly store: CertificateStore;
  readonly issuer: IssuerSigner;
  readonly policies: Readonly<Record<LeafProfile, CompiledProfilePolicy>>;
  readonly defaultLifetimeMs: number;
  readonly clock: Clock;
  readonly random: RandomBytes;
}

export interface IssuanceService {
  issue(request: IssueRequest): Promise<IssuedCertificate>;
  readonly issuerFingerprint: string;
}

const isLeafProfile = (p: string): p is LeafProfile => p === 'server' || p === 'client' || p === 'both';

/**
 * Issuance as a fixed sequence of small steps: profile → names under policy → lifetime → key →
 * validity inside the issuer's → serial reserved in the store (intent) → build + lint → record.
 * A failure after the intent marks it failed; a crash leaves a pending intent, never an
 * unrecorded certificate or a reused serial.
 */
export function createIssuanceService(deps: IssuanceServiceDeps): IssuanceService {
  const issuerCert = new X509Certificate(deps.issuer.certificateDer);
  const issuerNotBefore = new Date(issuerCert.validFrom);
  const issuerNotAfter = new Date(issuerCert.validTo);
  const issuerFingerprint = createHash('sha256').update(deps.issuer.certificateDer).digest('hex');
  const issuerPem = encodePem(deps.issuer.certificateDer, 'CERTIFICATE');

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

    const now = deps.clock.now();
    let validity: { notBefore: Date; notAfter: Date };
    try {
      validity = computeValidity({ now, lifetimeMs, issuerNotBefore, issuerNotAfter });
    } catch (err) {
      throw new MutualError('ERR_CA_ISSUER_UNUSABLE', { cause: err });
    }

    const spiffe = names.uri[0];
    const firstDns = names.dns[0];
    const commonName = firstDns ?? spiffe ?? names.ip[0] ?? names.email[0] ?? null;
    const intentBase = {
      issuerFingerprint,
      profile,
      subject: commonName !== null && commonName.length <= 64 ? `CN=${commonName}` : '',
      commonName: commonName !== null && commonName.length <= 64 ? commonName : null,
      identityKind:
        spiffe !== undefined ? ('spiffe' as const) : firstDns !== undefined ? ('dns' as const) : ('none' as const),
      identity: spiffe ?? firstDns ?? null,
      sans: { dns: [...names.dns], ip: [...names.ip], uri: [...names.uri], email: [...names.email] },
      keyType: key.type ?? key.label,
      notBefore: validity.notBefore,
      notAfter: validity.notAfter,
      requester: request.requester,
      createdAt: now,
    };

    // Reserve the serial before signing. A collision of 128 random bits means a broken RNG or a
    // replayed random source: retry a few times, then refuse.
    let serialBytes: Uint8Array | undefined;
    let serial = '';
    for (let attempt = 0; attempt < 3 && serialBytes === undefined; attempt++) {
      const candidate = generateSerial(deps.random);
      const hex = Buffer.from(candidate).toString('hex');
      try {
        await deps.store.reserveSerial({ ...intentBase, serial: hex });
        serialBytes = candidate;
        serial = hex;
      } catch (err) {
        if (!(isMutualError(err) && err.code === 'ERR_STORE_SERIAL_CONFLICT')) throw err;
      }
    }
    if (serialBytes === undefined)
      throw new MutualError('ERR_INTERNAL_UNEXPECTED', { message: 'Could not reserve a unique serial.' });

    let built: { der: Uint8Array; pem: string };
    try {
      built = issueCertificate({
        profile,
        subject: intentBase.commonName === null ? {} : { commonName: intentBase.commonName },
        names: intentBase.sans,
        publicKey: request.publicKey,
        issuer: { certificateDer: deps.issuer.certificateDer, privateKey: deps.issuer.privateKey },
        serial: serialBytes,
        notBefore: validity.notBefore,
        notAfter: validity.notAfter,
      });
    } catch (err) {
      const reason = isMutualError(err) ? err.code : 'ERR_INTERNAL_UNEXPECTED';
      await deps.store.failIssuance(serial, reason);
      throw err;
    }
    const fingerprintSha256 = createHash('sha256').update(built.der).digest('hex');
    await deps.store.completeIssuance(serial, {
      pem: built.pem,
      fingerprintSha256,
      spkiSha256: spkiSha256(request.publicKey),
      issuedAt: now,
    });
    return {
      serial,
      der: built.der,
      pem: built.pem,
      chainPem: `${built.pem.trimEnd()}\n${issuerPem}`,
      fingerprintSha256,
      notBefore: validity.notBefore,
      notAfter: validity.notAfter,
      profile,
      names,
    };
  }

  return { issue, issuerFingerprint };
}
