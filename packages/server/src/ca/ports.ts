import type { KeyObject } from 'node:crypto';

/** What the CA records before signing (the serial reserved) — written before any certificate exists. */
export interface IssuanceIntent {
  readonly serial: string;
  readonly issuerFingerprint: string;
  readonly profile: string;
  readonly subject: string;
  readonly commonName: string | null;
  readonly identityKind: 'spiffe' | 'dns' | 'none';
  readonly identity: string | null;
  readonly sans: { dns: string[]; ip: string[]; uri: string[]; email: string[] };
  readonly keyType: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly requester: string;
  readonly createdAt: Date;
}

/**
 * Port: where issuance is recorded. Intent first (a duplicate serial is refused with
 * ERR_STORE_SERIAL_CONFLICT), then the result, or the failure.
 */
export interface CertificateStore {
  reserveSerial(intent: IssuanceIntent): Promise<void>;
  completeIssuance(
    serial: string,
    result: { pem: string; fingerprintSha256: string; spkiSha256: string; issuedAt: Date },
  ): Promise<void>;
  failIssuance(serial: string, reason: string): Promise<void>;
}

/** Port: the issuing CA — its certificate, the chain above it, and a key that signs. */
export interface IssuerSigner {
  readonly certificateDer: Uint8Array;
  /** Certificates above the issuer, nearest first (the root last); not sent in chains served to peers except the issuer itself. */
  readonly chainDer: readonly Uint8Array[];
  readonly privateKey: KeyObject;
}

export interface Clock {
  now(): Date;
}

export type RandomBytes = (n: number) => Uint8Array;
