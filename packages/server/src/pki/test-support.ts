/**
 * Test PKI made in code (DESIGN.md §5): a root, an intermediate and a leaf for one key type, built
 * and linted by pki itself. For tests only — never imported by production code. Keys come from
 * node:crypto; `now` is an argument like everywhere in pki.
 */
import { randomBytes as cryptoRandomBytes, type KeyObject } from 'node:crypto';
import { exportPrivateKeyPem, generateKeyPair, type KeyType } from '@mutual/sdk';
import type { DistinguishedName, SubjectNames } from './names.js';
import type { Profile } from './certificate.js';
import { issueCertificate } from './issue.js';
import { generateSerial } from './serial.js';
import { computeValidity } from './validity.js';

export interface TestCertificate {
  der: Uint8Array;
  pem: string;
  publicKey: KeyObject;
  /** Absent when the caller supplied only a public key. */
  privateKey?: KeyObject;
  /** PKCS#8 PEM of privateKey. */
  keyPem?: string;
}

export interface TestLeafOptions {
  profile?: Profile;
  names?: Partial<SubjectNames>;
  subject?: DistinguishedName;
  /** Key type of a freshly generated leaf key (default: the CA's). */
  keyType?: KeyType;
  /** Use this key instead of generating one (for example a CSR's). */
  publicKey?: KeyObject;
  /** Default: `now` of the CA. */
  now?: Date;
  /** Default 24 h. */
  lifetimeMs?: number;
  crlDistributionPoint?: string;
  ocspUrl?: string;
  caIssuersUrl?: string;
}

export interface TestCaOptions {
  now: Date;
  /** Key type of root, intermediate and default leaf. Default 'p256'. */
  keyType?: KeyType;
  /** Intermediate key type when it differs. */
  intermediateKeyType?: KeyType;
  rootLifetimeMs?: number;
  intermediateLifetimeMs?: number;
  /** The first leaf. Default: profile 'both', names localhost and 127.0.0.1. */
  leaf?: TestLeafOptions;
  randomBytes?: (n: number) => Uint8Array;
  /** Subject organization of the CA certificates. Default 'mutual test'. */
  organization?: string;
}

export interface TestCa {
  keyType: KeyType;
  root: Required<Pick<TestCertificate, 'privateKey' | 'keyPem'>> & TestCertificate;
  intermediate: Required<Pick<TestCertificate, 'privateKey' | 'keyPem'>> & TestCertificate;
  leaf: TestCertificate;
  /** Leaf PEM followed by the intermediate's: what a server or client presents. */
  leafChainPem: string;
  /** Issues another leaf (or intermediate with profile 'intermediate') under the intermediate. */
  issue(options?: TestLeafOptions): TestCertificate;
}

const DAY = 24 * 3600 * 1000;

function keyPair(type: KeyType): { privateKey: KeyObject; publicKey: KeyObject; keyPem: string } {
  const { privateKey, publicKey } = generateKeyPair(type);
  return { privateKey, publicKey, keyPem: exportPrivateKeyPem(privateKey) };
}

/** Builds root → intermediate → leaf for one key type, all linted. */
export function createTestCa(options: TestCaOptions): TestCa {
  const keyType = options.keyType ?? 'p256';
  const random = options.randomBytes ?? ((n: number) => new Uint8Array(cryptoRandomBytes(n)));
  const org = options.organization ?? 'mutual test';
  const { now } = options;

  const rootKeys = keyPair(keyType);
  const rootValidity = computeValidity({ now, lifetimeMs: options.rootLifetimeMs ?? 3650 * DAY });
  const root = {
    ...issueCertificate({
      profile: 'root',
      subject: { organization: org, commonName: `${org} root ${keyType}` },
      names: { dns: [], ip: [], uri: [], email: [] },
      publicKey: rootKeys.publicKey,
      issuer: { selfSigned: rootKeys.privateKey },
      serial: generateSerial(random),
      notBefore: rootValidity.notBefore,
      notAfter: rootValidity.notAfter,
    }),
    ...rootKeys,
  };

  const interKeys = keyPair(options.intermediateKeyType ?? keyType);
  const interValidity = computeValidity({
    now,
    lifetimeMs: options.intermediateLifetimeMs ?? 365 * DAY,
    issuerNotBefore: rootValidity.notBefore,
    issuerNotAfter: rootValidity.notAfter,
  });
  const intermediate = {
    ...issueCertificate({
      profile: 'intermediate',
      subject: { organization: org, commonName: `${org} intermediate ${keyType}` },
      names: { dns: [], ip: [], uri: [], email: [] },
      publicKey: interKeys.publicKey,
      issuer: { certificateDer: root.der, privateKey: root.privateKey },
      serial: generateSerial(random),
      notBefore: interValidity.notBefore,
      notAfter: interValidity.notAfter,
      pathLength: 0,
    }),
    ...interKeys,
  };

  const issue = (o: TestLeafOptions = {}): TestCertificate => {
    const names: SubjectNames = {
      dns: o.names?.dns ?? [],
      ip: o.names?.ip ?? [],
      uri: o.names?.uri ?? [],
      email: o.names?.email ?? [],
    };
    const profile = o.profile ?? 'both';
    const keys = o.publicKey ? { publicKey: o.publicKey } : keyPair(o.keyType ?? keyType);
    const v = computeValidity({
      now: o.now ?? now,
      lifetimeMs: o.lifetimeMs ?? DAY,
      issuerNotBefore: interValidity.notBefore,
      issuerNotAfter: interValidity.notAfter,
    });
    const built = issueCertificate({
      profile,
      subject: o.subject ?? {},
      names,
      publicKey: keys.publicKey,
      issuer: { certificateDer: intermediate.der, privateKey: intermediate.privateKey },
      serial: generateSerial(random),
      notBefore: v.notBefore,
      notAfter: v.notAfter,
      ...(o.crlDistributionPoint !== undefined ? { crlDistributionPoint: o.crlDistributionPoint } : {}),
      ...(o.ocspUrl !== undefined ? { ocspUrl: o.ocspUrl } : {}),
      ...(o.caIssuersUrl !== undefined ? { caIssuersUrl: o.caIssuersUrl } : {}),
    });
    return { ...built, ...keys };
  };

  const leafOptions: TestLeafOptions = {
    profile: 'both',
    names: { dns: ['localhost'], ip: ['127.0.0.1'] },
    ...options.leaf,
  };
  const leaf = issue(leafOptions);
  return {
    keyType,
    root,
    intermediate,
    leaf,
    leafChainPem: leaf.pem + intermediate.pem,
    issue,
  };
}
