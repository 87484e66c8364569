import type { KeyObject } from 'node:crypto';
import { generateKeyPair, type KeyType } from '@mutual/sdk';
import { computeValidity, generateSerial, issueCertificate, publicKeyOf, type SigningKey } from '../pki/index.js';
import type { RandomBytes } from './ports.js';

export interface CaMaterial {
  readonly der: Uint8Array;
  readonly pem: string;
  readonly privateKey: SigningKey;
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
/** Room below a cross-certificate: the intermediate plus up to three later cross-certificates (ca.yaml keeps four). */
export const CROSS_PATH_LENGTH = 4;

/**
 * Creates a root and an intermediate (pathLen 0) for a new CA. New keys every time; CA keys are
 * never rotated automatically.
 */
export function createCaHierarchy(input: {
  name: string;
  keyType: KeyType;
  now: Date;
  random: RandomBytes;
  /** Keys made elsewhere (on a PKCS#11 token) instead of new ones in memory. */
  keys?: { readonly root: CaKeyPair; readonly intermediate: CaKeyPair };
}): CaHierarchy {
  const rootMaterial = createRoot({
    commonName: `${input.name} Root CA`,
    organization: input.name,
    keyType: input.keyType,
    now: input.now,
    random: input.random,
    ...(input.keys === undefined ? {} : { keys: input.keys.root }),
  });
  return {
    root: rootMaterial,
    intermediate: createIntermediate({
      root: rootMaterial,
      commonName: `${input.name} Intermediate CA`,
      organization: input.name,
      keyType: input.keyType,
      now: input.now,
      random: input.random,
      ...(input.keys === undefined ? {} : { keys: input.keys.intermediate }),
    }),
  };
}

/** A CA key pair: made here, or held by a token (its private half a signer only). */
export interface CaKeyPair {
  readonly publicKey: KeyObject;
  readonly privateKey: SigningKey;
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
  keys?: CaKeyPair;
}): CaMaterial {
  const keys: CaKeyPair = input.keys ?? generateKeyPair(input.keyType);
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

const hexSerial = (b: Uint8Array): string => BigInt(`0x${Buffer.from(b).toString('hex')}`).toString(16);

/** A new self-signed root with a new key: at `ca init`, and at `mutual ca rotate-root`. */
export function createRoot(input: {
  commonName: string;
  organization: string;
  keyType: KeyType;
  now: Date;
  random: RandomBytes;
  keys?: CaKeyPair;
}): CaMaterial {
  const keys: CaKeyPair = input.keys ?? generateKeyPair(input.keyType);
  const validity = computeValidity({ now: input.now, lifetimeMs: ROOT_LIFETIME_MS });
  const serial = generateSerial(input.random);
  const built = issueCertificate({
    profile: 'root',
    subject: { commonName: input.commonName, organization: input.organization },
    names: { dns: [], ip: [], uri: [], email: [] },
    publicKey: keys.publicKey,
    issuer: { selfSigned: keys.privateKey },
    serial,
    notBefore: validity.notBefore,
    notAfter: validity.notAfter,
  });
  return { ...built, privateKey: keys.privateKey, serial: hexSerial(serial), ...validity };
}

/**
 * The new root's name and key, certified by the previous root (a cross-certificate): sent after the
 * intermediate, it lets whoever still trusts only the previous root validate certificates under the
 * new one (leaf → intermediate → cross-certificate → previous root), while whoever trusts the new
 * root stops at it. Valid while both roots are. pathLen CROSS_PATH_LENGTH: below it an intermediate and the
 * cross-certificates of later rotations (kept so a relying party still at an older root keeps a path).
 */
export function crossCertify(input: {
  root: Pick<CaMaterial, 'privateKey' | 'notBefore' | 'notAfter'> & {
    readonly commonName: string;
    readonly organization: string;
  };
  by: Pick<CaMaterial, 'der' | 'privateKey' | 'notBefore' | 'notAfter'>;
  now: Date;
  random: RandomBytes;
}): CaMaterial {
  const validity = computeValidity({
    now: input.now,
    lifetimeMs: Math.max(1000, input.root.notAfter.getTime() - input.now.getTime()),
    issuerNotBefore: input.by.notBefore,
    issuerNotAfter: input.by.notAfter,
  });
  const serial = generateSerial(input.random);
  const built = issueCertificate({
    profile: 'intermediate',
    subject: { commonName: input.root.commonName, organization: input.root.organization },
    names: { dns: [], ip: [], uri: [], email: [] },
    publicKey: publicKeyOf(input.root.privateKey),
    issuer: { certificateDer: input.by.der, privateKey: input.by.privateKey },
    serial,
    notBefore: validity.notBefore,
    notAfter: validity.notAfter,
    pathLength: CROSS_PATH_LENGTH,
  });
  return { ...built, privateKey: input.root.privateKey, serial: hexSerial(serial), ...validity };
}
