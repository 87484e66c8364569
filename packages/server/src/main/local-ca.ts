import { X509Certificate, createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { KeyObject } from 'node:crypto';
import {
  MutualError,
  decodeOnePem,
  encodePem,
  exportPrivateKeyPem,
  generateKeyPair,
  importPrivateKey,
  isMutualError,
  readFileCapped,
  spkiSha256,
  syncDirectory,
  writeFileAtomic,
  type KeyType,
} from '@mutual/sdk';
import {
  ADMIN_PROFILE,
  LEAF_PROFILES,
  compileProfilePolicy,
  createCaHierarchy,
  createIssuanceService,
  type CaMaterial,
  type Clock,
  type CompiledProfilePolicy,
  type IssuanceService,
  type LeafProfile,
  type RandomBytes,
} from '../ca/index.js';
import { loadCaConfig, type LoadedCaConfig } from '../config/index.js';
import {
  inMemoryKey,
  isPkcs11Uri,
  loadIssuerFiles,
  loadPkcs11Module,
  parsePkcs11Uri,
  resolveSecret,
  type LoadedIssuer,
  type Pkcs11Access,
  type Pkcs11Key,
} from '../keys/index.js';
import { publicKeyOf } from '../pki/index.js';
import { openPostgresStore, openSqliteStore, type Store } from '../store/index.js';
import { CA_FILES, renderCaConfig } from './ca-files.js';

export type PassphraseChoice =
  | { readonly mode: 'generate' }
  | { readonly mode: 'file'; readonly file: string }
  | { readonly mode: 'env'; readonly env: string }
  | { readonly mode: 'none' };

export interface InitCaOptions {
  readonly dir: string;
  readonly name: string;
  readonly keyType: KeyType;
  readonly passphrase: PassphraseChoice;
  readonly trustDomain: string;
  readonly allowDns: readonly string[];
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly now: Date;
  readonly random?: RandomBytes;
  /**
   * Where the inventory and audit trail live: the CA directory's SQLite file (default), or a
   * PostgreSQL database whose connection string is in this environment variable — written to
   * ca.yaml as that reference, so every instance started with the variable set shares it.
   */
  readonly store?: { readonly postgresEnv: string };
  /**
   * Make the root and intermediate keys on a PKCS#11 token (sensitive, never extractable) instead
   * of in files: the vendor's module, the token's label and where the user PIN is.
   */
  readonly pkcs11?: {
    readonly module: string;
    readonly pin: { readonly file: string } | { readonly env: string };
  } & (
    | { readonly token: string }
    /** Keys already on a token (made by its own tools), by their `pkcs11:` URIs: used, never destroyed. */
    | { readonly keys: { readonly root: string; readonly intermediate: string } }
  );
}

export interface InitCaResult {
  readonly dir: string;
  readonly configFile: string;
  readonly rootFile: string;
  readonly rootFingerprint: string;
  readonly intermediateFingerprint: string;
  readonly passphraseFile: string | null;
  /** The operator's client certificate (profile `admin`) and its unencrypted key (0600). */
  readonly adminCertFile: string;
  readonly adminKeyFile: string;
  readonly adminSpiffeId: string;
  /** The `pkcs11:` URIs of the root and intermediate keys, when they were made on a token. */
  readonly tokenKeys?: { readonly root: string; readonly intermediate: string };
}

export const DEFAULT_ALLOW_DNS = ['localhost', '**.localhost', '**.internal', '**.local', '**.test'] as const;

const sha256 = (der: Uint8Array): string => createHash('sha256').update(der).digest('hex');
const cryptoRandom: RandomBytes = (n) => randomBytes(n);

async function readPassphrase(choice: PassphraseChoice, env: InitCaOptions['env']): Promise<string | null> {
  switch (choice.mode) {
    case 'none':
      return null;
    case 'generate':
      return randomBytes(32).toString('base64url');
    case 'env':
      return resolveSecret({ env: choice.env }, { env, baseDir: process.cwd() });
    case 'file':
      return resolveSecret({ file: path.resolve(choice.file) }, { env, baseDir: process.cwd() });
  }
}

/**
 * Creates a CA directory: root + intermediate with new keys (encrypted at rest unless the caller
 * explicitly chose none), ca.yaml and the SQLite inventory with both CA certificates recorded.
 * Everything is built in a staging directory and renamed into place, so a failure leaves nothing.
 */
export async function initCa(options: InitCaOptions): Promise<InitCaResult> {
  const dir = path.resolve(options.dir);
  if (await isNonEmptyDir(dir)) {
    const hasCa = await fs.stat(path.join(dir, CA_FILES.config)).then(
      () => true,
      () => false,
    );
    throw hasCa
      ? new MutualError('ERR_CA_ALREADY_EXISTS', { details: { dir } })
      : new MutualError('ERR_FILE_EXISTS', {
          message: 'The directory exists and is not empty.',
          details: { file: dir },
        });
  }
  const passphrase = await readPassphrase(options.passphrase, options.env);
  // Refused before anything is made when the variable is missing.
  const postgresUrl =
    options.store === undefined
      ? undefined
      : await resolveSecret({ env: options.store.postgresEnv }, { env: options.env, baseDir: process.cwd() });
  const random = options.random ?? cryptoRandom;
  const onToken = await tokenKeysForInit(options, random);
  let hierarchy: ReturnType<typeof createCaHierarchy>;
  try {
    hierarchy = createCaHierarchy({
      name: options.name,
      keyType: options.keyType,
      now: options.now,
      random,
      ...(onToken === undefined ? {} : { keys: onToken.keys }),
    });
  } catch (err) {
    onToken?.destroy();
    throw err;
  }

  const parent = path.dirname(dir);
  await fs.mkdir(parent, { recursive: true });
  const staging = await fs.mkdtemp(path.join(parent, `.${path.basename(dir)}.init-`));
  try {
    await fs.chmod(staging, 0o700);
    const key = (material: CaMaterial): string =>
      exportPrivateKeyPem(inMemoryKey(material.privateKey), passphrase ?? undefined);
    let passphraseRef: { file: string } | { env: string } | null = null;
    if (options.passphrase.mode === 'generate' && passphrase !== null) {
      await fs.mkdir(path.join(staging, CA_FILES.secretsDir), { mode: 0o700 });
      await writeFileAtomic(path.join(staging, CA_FILES.passphrase), `${passphrase}\n`, {
        mode: 0o600,
        exclusive: true,
      });
      passphraseRef = { file: CA_FILES.passphrase };
    } else if (options.passphrase.mode === 'file') {
      passphraseRef = { file: path.resolve(options.passphrase.file) };
    } else if (options.passphrase.mode === 'env') {
      passphraseRef = { env: options.passphrase.env };
    }
    if (onToken === undefined) {
      await writeFileAtomic(path.join(staging, CA_FILES.rootKey), key(hierarchy.root), {
        mode: 0o600,
        exclusive: true,
      });
      await writeFileAtomic(path.join(staging, CA_FILES.intermediateKey), key(hierarchy.intermediate), {
        mode: 0o600,
        exclusive: true,
      });
    }
    await writeFileAtomic(path.join(staging, CA_FILES.rootCert), hierarchy.root.pem, { exclusive: true });
    await writeFileAtomic(path.join(staging, CA_FILES.intermediateCert), hierarchy.intermediate.pem, {
      exclusive: true,
    });
    await writeFileAtomic(
      path.join(staging, CA_FILES.config),
      renderCaConfig({
        name: options.name,
        keyType: options.keyType,
        passphrase: passphraseRef,
        trustDomain: options.trustDomain,
        allowDns: options.allowDns,
        ...(options.store === undefined ? {} : { store: { postgresEnv: options.store.postgresEnv } }),
        ...(onToken === undefined || options.pkcs11 === undefined
          ? {}
          : {
              pkcs11: {
                module: path.resolve(options.pkcs11.module),
                pin:
                  'file' in options.pkcs11.pin ? { file: path.resolve(options.pkcs11.pin.file) } : options.pkcs11.pin,
                rootKey: onToken.keys.root.privateKey.uri,
                intermediateKey: onToken.keys.intermediate.privateKey.uri,
              },
            }),
      }),
      { mode: 0o600, exclusive: true },
    );
    // The key that signs enrollment tokens, encrypted like the CA keys.
    await writeFileAtomic(
      path.join(staging, CA_FILES.tokenKey),
      exportPrivateKeyPem(generateKeyPair('p256').privateKey, passphrase ?? undefined),
      { mode: 0o600, exclusive: true },
    );
    // Validate what we wrote exactly as a later command will read it.
    const loaded = loadCaConfig(path.join(staging, CA_FILES.config));

    // A PostgreSQL inventory is written in place (it cannot be staged): if init fails after this,
    // the records stay behind under a root fingerprint no CA directory has.
    const store =
      options.store === undefined
        ? await openSqliteStore({ file: path.join(staging, CA_FILES.database) })
        : await openPostgresStore({
            connectionString: postgresUrl ?? '',
          });
    try {
      await store.appendAudit({
        at: options.now,
        actor: 'ca-init',
        action: 'ca.init',
        subject: sha256(hierarchy.root.der),
        details: {
          name: options.name,
          keyType: options.keyType,
          rootFingerprint: sha256(hierarchy.root.der),
          intermediateFingerprint: sha256(hierarchy.intermediate.der),
          passphrase: options.passphrase.mode,
          store: options.store === undefined ? 'sqlite' : 'postgres',
          ...(onToken === undefined
            ? {}
            : {
                keys: {
                  root: onToken.keys.root.privateKey.uri,
                  intermediate: onToken.keys.intermediate.privateKey.uri,
                },
              }),
        },
      });
      for (const [profile, material, issuer] of [
        ['root', hierarchy.root, hierarchy.root],
        ['intermediate', hierarchy.intermediate, hierarchy.root],
      ] as const) {
        const cn = `${options.name} ${profile === 'root' ? 'Root' : 'Intermediate'} CA`;
        await store.reserveSerial({
          serial: material.serial,
          issuerFingerprint: sha256(issuer.der),
          profile,
          subject: `CN=${cn}`,
          commonName: cn,
          identityKind: 'none',
          identity: null,
          sans: { dns: [], ip: [], uri: [], email: [] },
          keyType: options.keyType,
          notBefore: material.notBefore,
          notAfter: material.notAfter,
          requester: 'ca-init',
          createdAt: options.now,
        });
        await store.completeIssuance(material.serial, {
          pem: material.pem,
          fingerprintSha256: sha256(material.der),
          spkiSha256: spkiSha256(publicKeyOf(material.privateKey)),
          issuedAt: options.now,
        });
      }
      // The first admin: a client certificate recorded with profile `admin`, for mTLS to the online CA.
      const adminKeys = generateKeyPair('p256');
      const issuance = createIssuanceService({
        store,
        issuer: {
          certificateDer: hierarchy.intermediate.der,
          chainDer: [hierarchy.root.der],
          privateKey: hierarchy.intermediate.privateKey,
        },
        policies: compilePolicies(loaded.config),
        defaultLifetimeMs: loaded.config.defaults.lifetime,
        clock: { now: () => options.now },
        random,
      });
      const admin = await issuance.issueTrusted({
        pkiProfile: 'client',
        recordProfile: ADMIN_PROFILE,
        names: { dns: [], ip: [], uri: [adminSpiffeId(options.trustDomain)], email: [] },
        publicKey: adminKeys.publicKey,
        lifetimeMs: loaded.config.server.admin.lifetime,
        requester: 'ca-init',
        audit: { action: 'admin.create' },
      });
      await fs.mkdir(path.join(staging, CA_FILES.adminDir), { mode: 0o700 });
      await writeFileAtomic(path.join(staging, CA_FILES.adminKey), exportPrivateKeyPem(adminKeys.privateKey), {
        mode: 0o600,
        exclusive: true,
      });
      await writeFileAtomic(path.join(staging, CA_FILES.adminCert), admin.chainPem, { exclusive: true });
    } finally {
      await store.close();
    }

    await syncDirectory(staging);
    if (await exists(dir)) await fs.rmdir(dir); // an existing empty directory is replaced
    await fs.rename(staging, dir);
    await syncDirectory(parent);
  } catch (err) {
    await fs.rm(staging, { recursive: true, force: true });
    onToken?.destroy();
    throw err;
  }
  return {
    dir,
    configFile: path.join(dir, CA_FILES.config),
    rootFile: path.join(dir, CA_FILES.rootCert),
    rootFingerprint: sha256(hierarchy.root.der),
    intermediateFingerprint: sha256(hierarchy.intermediate.der),
    passphraseFile: options.passphrase.mode === 'generate' ? path.join(dir, CA_FILES.passphrase) : null,
    adminCertFile: path.join(dir, CA_FILES.adminCert),
    adminKeyFile: path.join(dir, CA_FILES.adminKey),
    adminSpiffeId: adminSpiffeId(options.trustDomain),
    ...(onToken === undefined
      ? {}
      : {
          tokenKeys: {
            root: onToken.keys.root.privateKey.uri,
            intermediate: onToken.keys.intermediate.privateKey.uri,
          },
        }),
  };
}

/**
 * `ca init --pkcs11-token`: a new root and intermediate key pair on the token, labelled
 * `mutual-root-<hex>` / `mutual-intermediate-<hex>` with random ids; `destroy` removes both again
 * when init fails later (nothing half-made is left on the token).
 */
async function tokenKeysForInit(
  options: InitCaOptions,
  random: RandomBytes,
): Promise<{ keys: { root: TokenPair; intermediate: TokenPair }; destroy: () => void } | undefined> {
  if (options.pkcs11 === undefined) return undefined;
  const keyType = options.keyType;
  if (keyType === 'ed25519') {
    throw new MutualError('ERR_KEYS_PKCS11_KEY_UNSUPPORTED', {
      message: 'CA keys on a token are EC P-256/P-384 or RSA; choose --key-type p256, p384 or rsa*.',
    });
  }
  const pin = await resolveSecret(
    'file' in options.pkcs11.pin ? { file: path.resolve(options.pkcs11.pin.file) } : options.pkcs11.pin,
    { env: options.env, baseDir: process.cwd() },
  );
  const mod = loadPkcs11Module(path.resolve(options.pkcs11.module));
  if ('keys' in options.pkcs11) {
    const existing = (uri: string): TokenPair => {
      const ref = parsePkcs11Uri(uri);
      const key = mod.openToken(ref, pin).key(ref);
      return { publicKey: key.publicKey, privateKey: key };
    };
    const keys = { root: existing(options.pkcs11.keys.root), intermediate: existing(options.pkcs11.keys.intermediate) };
    if (keys.root.privateKey.uri === keys.intermediate.privateKey.uri) {
      throw new MutualError('ERR_USAGE_INVALID_ARGUMENT', {
        message: 'The root and the intermediate need keys of their own.',
      });
    }
    return { keys, destroy: () => undefined };
  }
  const token = mod.openToken({ token: options.pkcs11.token }, pin);
  const made: Pkcs11Key[] = [];
  const destroy = (): void => {
    for (const k of made) {
      try {
        token.destroy(parsePkcs11Uri(k.uri));
      } catch {
        // best effort: the error that made init fail is the one to report
      }
    }
  };
  try {
    for (const level of ['root', 'intermediate'] as const) {
      const id = random(8);
      made.push(token.generate(`mutual-${level}-${Buffer.from(id).toString('hex')}`, id, keyType));
    }
  } catch (err) {
    destroy();
    throw err;
  }
  const [root, intermediate] = made as [Pkcs11Key, Pkcs11Key];
  return {
    keys: {
      root: { publicKey: root.publicKey, privateKey: root },
      intermediate: { publicKey: intermediate.publicKey, privateKey: intermediate },
    },
    destroy,
  };
}

interface TokenPair {
  readonly publicKey: KeyObject;
  readonly privateKey: Pkcs11Key;
}

/** The SPIFFE ID of the CA's operators: `spiffe://<trust-domain>/mutual/admin`. */
export const adminSpiffeId = (trustDomain: string): string => `spiffe://${trustDomain}/mutual/admin`;

/** Compiles the name policy of every leaf profile from a loaded configuration. */
export function compilePolicies(
  config: LoadedCaConfig['config'],
): Readonly<Record<LeafProfile, CompiledProfilePolicy>> {
  return Object.fromEntries(
    LEAF_PROFILES.map((p) => {
      const pol = config.policy[p];
      return [
        p,
        compileProfilePolicy(p, {
          dns: pol.dns,
          ip: pol.ip,
          spiffe: pol.spiffe,
          email: pol.email,
          maxLifetimeMs: pol.maxLifetime,
          keyTypes: pol.keyTypes,
        }),
      ];
    }),
  ) as Record<LeafProfile, CompiledProfilePolicy>;
}

async function exists(p: string): Promise<boolean> {
  return fs.stat(p).then(
    () => true,
    () => false,
  );
}

async function isNonEmptyDir(p: string): Promise<boolean> {
  try {
    return (await fs.readdir(p)).length > 0;
  } catch (err) {
    if (isMutualError(err)) throw err;
    return false;
  }
}

/**
 * The CA passphrase (as ca.yaml says where it is) and the root and signing intermediate with their
 * keys, decrypted and matched to their certificates; `files` resolves ca.yaml's paths.
 */
export async function loadCaKeys(
  loaded: LoadedCaConfig,
  env: Readonly<Record<string, string | undefined>>,
): Promise<{
  passphrase: string | null;
  files: (f: { certificate: string; key: string }) => { certificate: string; key: string };
  /** Loads a root or intermediate as ca.yaml lists it (key file or `pkcs11:` URI). */
  load: (f: { certificate: string; key: string }) => Promise<LoadedIssuer>;
  /** The PKCS#11 module and PIN (resolved), when ca.yaml has keys.pkcs11. */
  pkcs11?: Pkcs11Access;
  root: LoadedIssuer;
  intermediate: LoadedIssuer;
}> {
  const { config } = loaded;
  const passphrase =
    config.keys.passphrase === null
      ? null
      : await resolveSecret(config.keys.passphrase, { env, baseDir: loaded.baseDir });
  const files = (f: { certificate: string; key: string }): { certificate: string; key: string } => ({
    certificate: loaded.resolve(f.certificate),
    key: isPkcs11Uri(f.key) ? f.key : loaded.resolve(f.key),
  });
  const pkcs11 =
    config.keys.pkcs11 === undefined
      ? undefined
      : {
          module: loaded.resolve(config.keys.pkcs11.module),
          pin: await resolveSecret(config.keys.pkcs11.pin, { env, baseDir: loaded.baseDir }),
        };
  const load = (f: { certificate: string; key: string }): Promise<LoadedIssuer> =>
    loadIssuerFiles(files(f), passphrase, pkcs11);
  const root = await load(config.root);
  const intermediate = await load(config.intermediate);
  return { passphrase, files, load, root, intermediate, ...(pkcs11 === undefined ? {} : { pkcs11 }) };
}

export interface LocalCa {
  readonly loaded: LoadedCaConfig;
  readonly store: Store;
  readonly issuance: IssuanceService;
  readonly rootDer: Uint8Array;
  readonly intermediateDer: Uint8Array;
  readonly rootPem: string;
  readonly rootFingerprint: string;
  readonly policies: Readonly<Record<LeafProfile, CompiledProfilePolicy>>;
  /**
   * The CA certificates with their (decrypted) keys: the intermediate signs leaves and its CRL, the
   * root its CRL; each previous intermediate (replaced by a rotation) still signs its own CRL and OCSP
   * answers. Previous intermediates that have expired are left out: no certificate of theirs is valid.
   */
  readonly issuers: {
    readonly root: LoadedIssuer;
    readonly intermediate: LoadedIssuer;
    readonly previous: readonly LoadedIssuer[];
    /** Roots replaced by `mutual ca rotate-root`, not expired: they still sign their CRLs and OCSP answers. */
    readonly previousRoots: readonly LoadedIssuer[];
    /** Cross-certificates (the root certified by a previous root), sent after the intermediate; not expired. */
    readonly cross: readonly Uint8Array[];
  };
  readonly clock: Clock;
  readonly random: RandomBytes;
  /**
   * The P-256 key that signs enrollment tokens (`server.tokens.key`). A CA made before tokens
   * existed gets one on first use, encrypted with the CA passphrase; `created` says so (audit it).
   */
  tokenKey(): Promise<{ key: KeyObject; file: string; created: boolean }>;
  close(): Promise<void>;
}

/** Opens the CA in a directory: config validated, keys decrypted and matched, store migrated. */
export async function openLocalCa(options: {
  /** The CA directory (its ca.yaml is used), or… */
  dir?: string;
  /** …a ca.yaml elsewhere (relative paths in it resolve against its directory). */
  configFile?: string;
  env: Readonly<Record<string, string | undefined>>;
  clock?: Clock;
  random?: RandomBytes;
}): Promise<LocalCa> {
  if (options.dir === undefined && options.configFile === undefined) {
    throw new MutualError('ERR_USAGE_INVALID_ARGUMENT', { message: 'Give the CA directory or its config file.' });
  }
  const configFile =
    options.configFile !== undefined
      ? path.resolve(options.configFile)
      : path.join(path.resolve(options.dir ?? '.'), CA_FILES.config);
  if (!(await exists(configFile))) {
    throw options.configFile !== undefined
      ? new MutualError('ERR_CONFIG_NOT_FOUND', { details: { file: configFile } })
      : new MutualError('ERR_CA_NOT_INITIALIZED', { details: { dir: path.dirname(configFile) } });
  }
  const loaded = loadCaConfig(configFile);
  const { config } = loaded;
  const { passphrase, load, root, intermediate } = await loadCaKeys(loaded, options.env);
  const clock = options.clock ?? { now: () => new Date() };
  const previous: LoadedIssuer[] = [];
  const unexpired = (der: Uint8Array): boolean => Date.parse(new X509Certificate(der).validTo) > clock.now().getTime();
  for (const f of config.previousIntermediates) {
    const loadedPrevious = await load(f);
    if (unexpired(loadedPrevious.certificateDer)) previous.push(loadedPrevious);
  }
  const previousRoots: LoadedIssuer[] = [];
  for (const f of config.previousRoots) {
    const loadedRoot = await load(f);
    if (unexpired(loadedRoot.certificateDer)) previousRoots.push(loadedRoot);
  }
  const cross: Uint8Array[] = [];
  for (const f of config.crossCertificates) {
    const der = decodeOnePem((await readFileCapped(loaded.resolve(f), 1024 * 1024)).toString('utf8'), 'CERTIFICATE');
    if (unexpired(der)) cross.push(der);
  }

  const store =
    'sqlite' in config.store
      ? await openSqliteStore({ file: loaded.resolve(config.store.sqlite.file) })
      : await openPostgresStore({
          connectionString: await resolveSecret(config.store.postgres.connectionString, {
            env: options.env,
            baseDir: loaded.baseDir,
          }),
        });

  const policies = compilePolicies(config);
  const random = options.random ?? cryptoRandom;

  const tokenKey = async (): Promise<{ key: KeyObject; file: string; created: boolean }> => {
    const file = loaded.resolve(config.server.tokens.key);
    if (!(await exists(file))) {
      const pem = exportPrivateKeyPem(generateKeyPair('p256').privateKey, passphrase ?? undefined);
      try {
        await writeFileAtomic(file, pem, { mode: 0o600, exclusive: true });
        return { key: importPrivateKey(pem, passphrase ?? undefined), file, created: true };
      } catch (err) {
        // Another process created it first: use theirs.
        if (!(isMutualError(err) && err.code === 'ERR_FILE_EXISTS')) throw err;
      }
    }
    const text = (await readFileCapped(file, 64 * 1024)).toString('utf8');
    return { key: importPrivateKey(text, passphrase ?? undefined), file, created: false };
  };

  const issuance = createIssuanceService({
    store,
    issuer: {
      certificateDer: intermediate.certificateDer,
      chainDer: [root.certificateDer],
      sentAfterDer: cross,
      privateKey: intermediate.privateKey,
    },
    policies,
    defaultLifetimeMs: config.defaults.lifetime,
    clock,
    random,
  });
  return {
    loaded,
    store,
    issuance,
    rootDer: root.certificateDer,
    intermediateDer: intermediate.certificateDer,
    rootPem: encodePem(root.certificateDer, 'CERTIFICATE'),
    rootFingerprint: sha256(root.certificateDer),
    policies,
    issuers: { root, intermediate, previous, previousRoots, cross },
    clock,
    random,
    tokenKey,
    close: () => store.close(),
  };
}
