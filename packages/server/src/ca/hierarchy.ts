import type { KeyObject } from 'node:crypto';
import { generateKeyPair, type KeyType } from '@mutual/sdk';
import { computeValidity, generateSerial, issueCertificate } from '../pki/index.js';
import type { RandomBytes } from './ports.js';

export interface CaMaterial {
  readonly der: Uint8Array;
  readonly pem: string;
  readonly privateKey: KeyObject;
  readonly serial: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

export interface CaHierarchy {
  readonly root: CaMaterial;
  readonly intermediate: CaMaterial;
}

export const ROOT_LIFETIME_MS = 10 * 365 * 86_400_000;
export const INTERMEDIATE_LIFETIME_MS = 5 * 365 * 86_400_000;

/**
 * Creates a root and an intermediate (pathLen 0) for a new CA. New keys every time; CA keys are
 * never rotated automatically.
 */
export function createCaHierarchy(input: {
  name: string;
  keyType: KeyType;
  now: Date;
  random: RandomBytes;
}): CaHierarchy {
  const rootKeys = generateKeyPair(input.keyType);
  const rootValidity = computeValidity({ now: input.now, lifetimeMs: ROOT_LIFETIME_MS });
  const rootSerial = generateSerial(input.random);
  const root = issueCertificate({
    profile: 'root',
    subject: { commonName: `${input.name} Root CA`, organization: input.name },
    names: { dns: [], ip: [], uri: [], email: [] },
    publicKey: rootKeys.publicKey,
    issuer: { selfSigned: rootKeys.privateKey },
    serial: rootSerial,
    notBefore: rootValidity.notBefore,
    notAfter: rootValidity.notAfter,
  });

  const intKeys = generateKeyPair(input.keyType);
  const intValidity = computeValidity({
    now: input.now,
    lifetimeMs: INTERMEDIATE_LIFETIME_MS,
    issuerNotBefore: rootValidity.notBefore,
    issuerNotAfter: rootValidity.notAfter,
  });
  const intSerial = generateSerial(input.random);
  const intermediate = issueCertificate({
    profile: 'intermediate',
    subject: { commonName: `${input.name} Intermediate CA`, organization: input.name },
    names: { dns: [], ip: [], uri: [], email: [] },
    publicKey: intKeys.publicKey,
    issuer: { certificateDer: root.der, privateKey: rootKeys.privateKey },
    serial: intSerial,
    notBefore: intValidity.notBefore,
    notAfter: intValidity.notAfter,
    pathLength: 0,
  });

  const hex = (b: Uint8Array): string => BigInt(`0x${Buffer.from(b).toString('hex')}`).toString(16);
  return {
    root: { ...root, privateKey: rootKeys.privateKey, serial: hex(rootSerial), ...rootValidity },
    intermediate: { ...intermediate, privateKey: intKeys.privateKey, serial: hex(intSerial), ...intValidity },
  };
}
