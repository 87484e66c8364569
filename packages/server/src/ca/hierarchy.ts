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

  const hex = (b: Uint8Array): string => BigInt(`0x${Buffer.from(b).toString('hex')}`).toString(16);
  const rootMaterial: CaMaterial = {
    ...root,
    privateKey: rootKeys.privateKey,
    serial: hex(rootSerial),
    ...rootValidity,
  };
  return {
    root: rootMaterial,
    intermediate: createIntermediate({
      root: rootMaterial,
      commonName: `${input.name} Intermediate CA`,
      organization: input.name,
      keyType: input.keyType,
      now: input.now,
      random: input.random,
    }),
  };
}

/**
 * A new issuing intermediate (pathLen 0) under `root`, with a new key: at `ca init`, and at every
 * rotation (`mutual ca rotate-intermediate`, which gives each generation a name of its own). Its
 * validity is cut to the root's.
 */
export function createIntermediate(input: {
  root: Pick<CaMaterial, 'der' | 'privateKey' | 'notBefore' | 'notAfter'>;
  commonName: string;
  organization: string;
  keyType: KeyType;
  now: Date;
  random: RandomBytes;
}): CaMaterial {
  const keys = generateKeyPair(input.keyType);
  const validity = computeValidity({
    now: input.now,
    lifetimeMs: INTERMEDIATE_LIFETIME_MS,
    issuerNotBefore: input.root.notBefore,
    issuerNotAfter: input.root.notAfter,
  });
  const serial = generateSerial(input.random);
  const built = issueCertificate({
    profile: 'intermediate',
    subject: { commonName: input.commonName, organization: input.organization },
    names: { dns: [], ip: [], uri: [], email: [] },
    publicKey: keys.publicKey,
    issuer: { certificateDer: input.root.der, privateKey: input.root.privateKey },
    serial,
    notBefore: validity.notBefore,
    notAfter: validity.notAfter,
    pathLength: 0,
  });
  const hex = BigInt(`0x${Buffer.from(serial).toString('hex')}`).toString(16);
  return { ...built, privateKey: keys.privateKey, serial: hex, ...validity };
}
