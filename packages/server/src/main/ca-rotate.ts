import { X509Certificate, createHash, randomBytes } from 'node:crypto';
import { promises as fs, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import {
  MutualError,
  describePublicKey,
  exportPrivateKeyPem,
  spkiSha256,
  syncDirectory,
  writeFileAtomic,
  type KeyType,
} from '@mutual/sdk';
import { isMap, isSeq, parseDocument, type Document } from 'yaml';
import {
  createIntermediate,
  createRoot,
  crossCertify,
  type CaKeyPair,
  type CaMaterial,
  type RandomBytes,
} from '../ca/index.js';
import { loadCaConfig, type LoadedCaConfig } from '../config/index.js';
import { inMemoryKey, loadPkcs11Module, parsePkcs11Uri, type LoadedIssuer, type Pkcs11Token } from '../keys/index.js';
import { isExternalKey, publicKeyOf } from '../pki/index.js';
import type { Store } from '../store/index.js';
import { loadCaDir, openCaStore } from './ca-store.js';
import { loadCaKeys } from './local-ca.js';
import { certificatesUnder, componentStandings, issuedBy, type ComponentTrust } from './ca-status.js';

export interface RotatedIntermediate {
  /** SHA-256 of the new intermediate, which signs from the next start of `mutual ca serve`. */
  readonly fingerprint: string;
  readonly subject: string;
  readonly serial: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly certificateFile: string;
  readonly keyFile: string;
  /** SHA-256 of the intermediate it replaces (kept in `previousIntermediates`). */
  readonly previousFingerprint: string;
  /** Previous intermediates dropped from ca.yaml because they have expired (their files are left). */
  readonly dropped: readonly string[];
  /** The audit record of the rotation. */
  readonly auditSeq: bigint;
}

export interface RotatedRoot {
  /** The new root: what relying parties should add to their trust bundles. */
  readonly root: {
    readonly fingerprint: string;
    readonly subject: string;
    readonly notAfter: Date;
    readonly file: string;
  };
  /** The new root's name and key certified by the previous root, sent after the intermediate in every chain. */
  readonly cross: { readonly fingerprint: string; readonly notAfter: Date; readonly file: string };
  /** The new intermediate, under the new root. */
  readonly intermediate: {
    readonly fingerprint: string;
    readonly subject: string;
    readonly notAfter: Date;
    readonly file: string;
  };
  /** SHA-256 of the root it replaces (kept in `previousRoots`). */
  readonly previousFingerprint: string;
  readonly dropped: readonly string[];
  readonly auditSeq: bigint;
}

const sha256 = (der: Uint8Array): string => createHash('sha256').update(der).digest('hex');
const cryptoRandom: RandomBytes = (n) => randomBytes(n);
const validity = (der: Uint8Array): { notBefore: Date; notAfter: Date } => {
  const x = new X509Certificate(der);
  return { notBefore: new Date(x.validFrom), notAfter: new Date(x.validTo) };
};
type Files = { certificate: string; key: string };

interface Opened {
  readonly dir: string;
  readonly configFile: string;
  readonly loaded: LoadedCaConfig;
  readonly passphrase: string | null;
  readonly root: LoadedIssuer;
  readonly current: LoadedIssuer;
  readonly keyType: KeyType;
  /** Entries of a ca.yaml list of CA files whose certificate has not expired at `now`, and those that have. */
  split(list: readonly Files[]): { kept: Files[]; dropped: string[] };
  /**
   * The key pair for a new CA certificate replacing `like`: on the same PKCS#11 token when `like`'s
   * key is on one (undefined: make it in memory, written encrypted to a file as before).
   */
  newKey(like: LoadedIssuer, level: 'root' | 'intermediate'): CaKeyPair | undefined;
  /** Destroys the keys `newKey` made on a token (the rotation failed before ca.yaml named them). */
  discard(): void;
}

/** The CA directory, its keys decrypted and matched to their certificates before anything is made. */
async function openForRotation(options: {
  dir: string;
  env: Readonly<Record<string, string | undefined>>;
  now: Date;
  keyType?: KeyType;
}): Promise<Opened> {
  const dir = path.resolve(options.dir);
  const { configFile, loaded } = loadCaDir(dir);
  const { passphrase, pkcs11, root, intermediate: current } = await loadCaKeys(loaded, options.env);
  const keyType =
    options.keyType ?? describePublicKey(publicKeyOf(current.privateKey)).type ?? loaded.config.defaults.keyType;
  const expired = (f: { certificate: string }): boolean => {
    try {
      return (
        Date.parse(new X509Certificate(readFileSync(loaded.resolve(f.certificate))).validTo) <= options.now.getTime()
      );
    } catch {
      return false; // unreadable: left in place, `ca serve` reports it
    }
  };
  const onToken: { token: Pkcs11Token; uri: string }[] = [];
  return {
    dir,
    configFile,
    loaded,
    passphrase,
    root,
    current,
    keyType,
    newKey: (like, level) => {
      if (!isExternalKey(like.privateKey)) return undefined;
      if (pkcs11 === undefined) throw new MutualError('ERR_KEYS_PKCS11_NOT_CONFIGURED');
      if (keyType === 'ed25519') throw new MutualError('ERR_KEYS_PKCS11_KEY_UNSUPPORTED');
      const token = loadPkcs11Module(pkcs11.module).openToken(parsePkcs11Uri(like.privateKey.description), pkcs11.pin);
      const id = randomBytes(8);
      const key = token.generate(`mutual-${level}-${id.toString('hex')}`, id, keyType);
      onToken.push({ token, uri: key.uri });
      return { publicKey: key.publicKey, privateKey: key };
    },
    discard: () => {
      for (const { token, uri } of onToken.splice(0)) {
        try {
          token.destroy(parsePkcs11Uri(uri));
        } catch {
          // best effort: the error that stopped the rotation is the one to report
        }
      }
    },
    split: (list) => ({
      kept: list.filter((f) => !expired(f)),
      dropped: list.filter((f) => expired(f)).map((f) => f.certificate),
    }),
  };
}

/** Where a CA certificate a rotation makes is written: `<folder>/<first 16 hex digits of its SHA-256>.crt|.key`. */
const relOf = (m: Made): Files => {
  const fp = sha256(m.material.der).slice(0, 16);
  const key = m.material.privateKey;
  return { certificate: `${m.folder}/${fp}.crt`, key: isExternalKey(key) ? key.description : `${m.folder}/${fp}.key` };
};

/** One CA certificate a rotation makes: written under `<folder>/<fp16>`, recorded in the inventory. */
interface Made {
  readonly material: CaMaterial;
  readonly profile: 'root' | 'intermediate' | 'cross-certificate';
  readonly issuerFingerprint: string;
  readonly commonName: string;
  readonly folder: 'roots' | 'intermediates';
  /** Write the key too (a cross-certificate shares the new root's key, written with the root). */
  readonly withKey: boolean;
}

/**
 * The steps every rotation shares, all or nothing until the last: the new files (keys encrypted
 * with the CA passphrase, exclusive), a staged ca.yaml (comments kept) checked as `ca serve` will
 * read it, the inventory records and the audit record in one transaction, then ca.yaml replaced in
 * one rename. A failure before that removes the new files and leaves the CA as it was.
 */
async function applyRotation(
  opened: Pick<Opened, 'dir' | 'configFile' | 'passphrase' | 'keyType' | 'loaded' | 'discard'>,
  options: { actor: string; now: Date; env: Readonly<Record<string, string | undefined>> },
  store: Store,
  made: readonly Made[],
  edit: (doc: Document, flow: <T>(node: T) => T) => void,
  check: (config: LoadedCaConfig['config']) => boolean,
  audit: { action: string; subject: string; details: Record<string, unknown> },
): Promise<bigint> {
  const { dir, configFile, passphrase, keyType } = opened;
  const written: string[] = [];
  let staged: string | undefined;
  try {
    for (const m of made) {
      const rel = relOf(m);
      await fs.mkdir(path.join(dir, m.folder), { recursive: true, mode: 0o700 });
      if (m.withKey && !isExternalKey(m.material.privateKey)) {
        const keyFile = path.join(dir, rel.key);
        await writeFileAtomic(
          keyFile,
          exportPrivateKeyPem(inMemoryKey(m.material.privateKey), passphrase ?? undefined),
          {
            mode: 0o600,
            exclusive: true,
          },
        );
        written.push(keyFile);
      }
      const certificateFile = path.join(dir, rel.certificate);
      await writeFileAtomic(certificateFile, m.material.pem, { exclusive: true });
      written.push(certificateFile);
    }

    const doc = parseDocument(readFileSync(configFile, 'utf8'));
    const flow = <T>(node: T): T => {
      if (isMap(node) || isSeq(node)) node.flow = true;
      return node;
    };
    edit(doc, flow);
    staged = `${configFile}.rotating-${String(process.pid)}`;
    await fs.writeFile(staged, doc.toString({ lineWidth: 0 }), { mode: statSync(configFile).mode & 0o777, flag: 'wx' });
    if (!check(loadCaConfig(staged).config)) {
      throw new MutualError('ERR_INTERNAL_UNEXPECTED', {
        message: 'The rewritten ca.yaml does not name the new files.',
      });
    }

    const record = await store.transaction(async (tx) => {
      for (const m of made) {
        await tx.reserveSerial({
          serial: m.material.serial,
          issuerFingerprint: m.issuerFingerprint,
          profile: m.profile,
          subject: `CN=${m.commonName}, O=${opened.loaded.config.name}`,
          commonName: m.commonName,
          identityKind: 'none',
          identity: null,
          sans: { dns: [], ip: [], uri: [], email: [] },
          keyType,
          notBefore: m.material.notBefore,
          notAfter: m.material.notAfter,
          requester: options.actor,
          createdAt: options.now,
        });
        await tx.completeIssuance(m.material.serial, {
          pem: m.material.pem,
          fingerprintSha256: sha256(m.material.der),
          spkiSha256: spkiSha256(publicKeyOf(m.material.privateKey)),
          issuedAt: options.now,
        });
      }
      return tx.appendAudit({ at: options.now, actor: options.actor, ...audit });
    });
    await fs.rename(staged, configFile);
    staged = undefined;
    await syncDirectory(dir);
    return record.seq;
  } catch (err) {
    // Nothing committed (or the rename failed): the CA stays as it was; the new files go.
    for (const f of written) await fs.rm(f, { force: true });
    opened.discard();
    throw err;
  } finally {
    if (staged !== undefined) await fs.rm(staged, { force: true });
  }
}

/** Makes a rotation's certificates; keys it made on a token go again if that fails. */
function beforeApplying<T>(opened: Pick<Opened, 'discard'>, make: () => T): T {
  try {
    return make();
  } catch (err) {
    opened.discard();
    throw err;
  }
}

/** Each generation has a name of its own, so no tool confuses two CA certificates (or their CRLs). */
async function generation(store: Store, now: Date, profile: 'root' | 'intermediate'): Promise<number> {
  return (await store.listCertificates({ now, profile, limit: 1000 })).items.length + 1;
}

const filesNode = (f: Files): Files => ({ certificate: f.certificate, key: f.key });

/** A ca.yaml list of CA files, each entry on one line (`{ certificate: …, key: … }`). */
function filesList(doc: Document, flow: <T>(node: T) => T, items: readonly Files[]): unknown {
  const node = doc.createNode(items.map(filesNode));
  if (isSeq(node)) for (const item of node.items) flow(item);
  return node;
}

/** What both rotations take: the CA directory, where secrets come from, who runs it and when. */
export interface RotationOptions {
  readonly dir: string;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Recorded as the audit record's actor. */
  readonly actor: string;
  readonly now: Date;
  /** Default: that of the current intermediate. */
  readonly keyType?: KeyType;
  readonly random?: RandomBytes;
}

/**
 * `mutual ca rotate-intermediate`: a new intermediate with a new key, signed by the root, becomes
 * the one that signs; the one it replaces moves to `previousIntermediates`, where its certificates
 * stay valid, renewable and revocable (its CRL and OCSP answers go on) until it expires. Nothing
 * that trusts the root changes. A running `ca serve` picks the new intermediate up when it restarts.
 */
export async function rotateIntermediate(options: RotationOptions): Promise<RotatedIntermediate> {
  const opened = await openForRotation(options);
  const { config } = opened.loaded;
  const { kept, dropped } = opened.split(config.previousIntermediates);
  const store = await openCaStore({ dir: opened.dir, env: options.env });
  try {
    const commonName = `${config.name} Intermediate CA ${String(await generation(store, options.now, 'intermediate'))}`;
    const material = beforeApplying(opened, () => {
      const keys = opened.newKey(opened.current, 'intermediate');
      return createIntermediate({
        root: {
          der: opened.root.certificateDer,
          privateKey: opened.root.privateKey,
          ...validity(opened.root.certificateDer),
        },
        commonName,
        organization: config.name,
        keyType: opened.keyType,
        now: options.now,
        random: options.random ?? cryptoRandom,
        ...(keys === undefined ? {} : { keys }),
      });
    });
    const made: Made = {
      material,
      profile: 'intermediate',
      issuerFingerprint: sha256(opened.root.certificateDer),
      commonName,
      folder: 'intermediates',
      withKey: true,
    };
    const fingerprint = sha256(material.der);
    const previousFingerprint = sha256(opened.current.certificateDer);
    const rel = relOf(made);
    const seq = await applyRotation(
      opened,
      options,
      store,
      [made],
      (doc, flow) => {
        doc.set('intermediate', flow(doc.createNode(rel)));
        doc.set('previousIntermediates', filesList(doc, flow, [config.intermediate, ...kept]));
      },
      (c) => c.intermediate.certificate === rel.certificate && c.previousIntermediates.length === kept.length + 1,
      {
        action: 'ca.rotate-intermediate',
        subject: fingerprint,
        details: {
          previousFingerprint,
          fingerprint,
          serial: material.serial,
          notAfter: material.notAfter.toISOString(),
          keyType: opened.keyType,
          certificate: rel.certificate,
          key: rel.key,
          dropped,
        },
      },
    );
    return {
      fingerprint,
      subject: `CN=${commonName}, O=${config.name}`,
      serial: material.serial,
      notBefore: material.notBefore,
      notAfter: material.notAfter,
      certificateFile: path.join(opened.dir, rel.certificate),
      keyFile: isExternalKey(material.privateKey) ? rel.key : path.join(opened.dir, rel.key),
      previousFingerprint,
      dropped,
      auditSeq: seq,
    };
  } finally {
    await store.close();
  }
}

/**
 * `mutual ca rotate-root`: a new root (new key), its name and key certified by the current root (a
 * cross-certificate), and a new intermediate under the new root, which signs after the next start.
 * Every chain the CA hands out then ends with the cross-certificate, so relying parties that still
 * trust only the previous root keep validating (leaf → intermediate → cross-certificate → previous
 * root) while those that trust the new root stop at it — no flag day: add the new root to the trust
 * bundles at the fleet's pace, then remove the cross-certificate from ca.yaml (and later the
 * previous root). The previous root and intermediate keep signing their CRLs and OCSP answers.
 */
export async function rotateRoot(options: RotationOptions): Promise<RotatedRoot> {
  const opened = await openForRotation(options);
  const { config } = opened.loaded;
  const random = options.random ?? cryptoRandom;
  const intermediates = opened.split(config.previousIntermediates);
  const roots = opened.split(config.previousRoots);
  const crosses = opened.split(config.crossCertificates.map((certificate) => ({ certificate, key: '' })));
  // At most 4 are kept (ca.yaml's limit): the newest.
  const crossKept = crosses.kept.map((c) => c.certificate).slice(0, 3);
  const dropped = [...intermediates.dropped, ...roots.dropped, ...crosses.dropped];
  const store = await openCaStore({ dir: opened.dir, env: options.env });
  try {
    const rootName = `${config.name} Root CA ${String(await generation(store, options.now, 'root'))}`;
    const intermediateName = `${config.name} Intermediate CA ${String(await generation(store, options.now, 'intermediate'))}`;
    const { root, cross, intermediate } = beforeApplying(opened, () => {
      const rootKeys = opened.newKey(opened.root, 'root');
      const newRoot = createRoot({
        commonName: rootName,
        organization: config.name,
        keyType: opened.keyType,
        now: options.now,
        random,
        ...(rootKeys === undefined ? {} : { keys: rootKeys }),
      });
      const previous = {
        der: opened.root.certificateDer,
        privateKey: opened.root.privateKey,
        ...validity(opened.root.certificateDer),
      };
      const intermediateKeys = opened.newKey(opened.current, 'intermediate');
      return {
        root: newRoot,
        cross: crossCertify({
          root: { ...newRoot, commonName: rootName, organization: config.name },
          by: previous,
          now: options.now,
          random,
        }),
        intermediate: createIntermediate({
          root: newRoot,
          commonName: intermediateName,
          organization: config.name,
          keyType: opened.keyType,
          now: options.now,
          random,
          ...(intermediateKeys === undefined ? {} : { keys: intermediateKeys }),
        }),
      };
    });
    const previousFingerprint = sha256(opened.root.certificateDer);
    const madeRoot: Made = {
      material: root,
      profile: 'root',
      issuerFingerprint: sha256(root.der),
      commonName: rootName,
      folder: 'roots',
      withKey: true,
    };
    const madeCross: Made = {
      material: cross,
      profile: 'cross-certificate',
      issuerFingerprint: previousFingerprint,
      commonName: rootName,
      folder: 'roots',
      withKey: false,
    };
    const madeIntermediate: Made = {
      material: intermediate,
      profile: 'intermediate',
      issuerFingerprint: sha256(root.der),
      commonName: intermediateName,
      folder: 'intermediates',
      withKey: true,
    };
    const rel = { root: relOf(madeRoot), cross: relOf(madeCross), intermediate: relOf(madeIntermediate) };
    const seq = await applyRotation(
      opened,
      options,
      store,
      [madeRoot, madeCross, madeIntermediate],
      (doc, flow) => {
        const list = (items: Files[]): unknown => filesList(doc, flow, items);
        doc.set('root', flow(doc.createNode(rel.root)));
        doc.set('intermediate', flow(doc.createNode(rel.intermediate)));
        doc.set('previousRoots', list([config.root, ...roots.kept]));
        doc.set('previousIntermediates', list([config.intermediate, ...intermediates.kept]));
        // The new cross-certificate first; earlier ones stay, so a relying party still at an older root keeps a path.
        doc.set('crossCertificates', flow(doc.createNode([rel.cross.certificate, ...crossKept])));
      },
      (c) =>
        c.root.certificate === rel.root.certificate &&
        c.intermediate.certificate === rel.intermediate.certificate &&
        c.crossCertificates.length === crossKept.length + 1 &&
        c.previousRoots.length === roots.kept.length + 1,
      {
        action: 'ca.rotate-root',
        subject: sha256(root.der),
        details: {
          previousFingerprint,
          fingerprint: sha256(root.der),
          crossFingerprint: sha256(cross.der),
          intermediateFingerprint: sha256(intermediate.der),
          notAfter: root.notAfter.toISOString(),
          keyType: opened.keyType,
          keys: { root: rel.root.key, intermediate: rel.intermediate.key },
          dropped,
        },
      },
    );
    return {
      root: {
        fingerprint: sha256(root.der),
        subject: `CN=${rootName}, O=${config.name}`,
        notAfter: root.notAfter,
        file: path.join(opened.dir, rel.root.certificate),
      },
      cross: {
        fingerprint: sha256(cross.der),
        notAfter: cross.notAfter,
        file: path.join(opened.dir, rel.cross.certificate),
      },
      intermediate: {
        fingerprint: sha256(intermediate.der),
        subject: `CN=${intermediateName}, O=${config.name}`,
        notAfter: intermediate.notAfter,
        file: path.join(opened.dir, rel.intermediate.certificate),
      },
      previousFingerprint,
      dropped,
      auditSeq: seq,
    };
  } finally {
    await store.close();
  }
}

export interface FinishedRootRotation {
  /** SHA-256 of the current root, at which every chain now ends. */
  readonly rootFingerprint: string;
  /** SHA-256 of each cross-certificate no longer sent. */
  readonly crossCertificates: readonly string[];
  readonly components: readonly ComponentTrust[];
  /** Finished with `force` while some components lacked the current root or did not say. */
  readonly forced: boolean;
  readonly auditSeq: bigint;
}

const certificateFingerprint = (file: string): string => {
  const x = new X509Certificate(readFileSync(file));
  return sha256(x.raw);
};

/**
 * `mutual ca finish-root-rotation`: the last step of a root rotation. Chains stop carrying the
 * cross-certificate (ca.yaml's `crossCertificates` is emptied; `ca serve` instances send the shorter
 * chain after a restart), so from then on only relying parties that trust the current root
 * validate new certificates. Gated on what components report (ADR 0029): refused with
 * ERR_CA_ROOT_NOT_TRUSTED_YET while a component that reported within `reports.staleAfter` lacks
 * the current root or does not say which roots it trusts, or when none reported at all, unless
 * `force` (recorded in the audit record, with every component's standing). The previous roots stay: their CRLs and OCSP answers go
 * on for the certificates still under them.
 */
export async function finishRootRotation(options: {
  readonly dir: string;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly actor: string;
  readonly now: Date;
  readonly force?: boolean;
}): Promise<FinishedRootRotation> {
  const dir = path.resolve(options.dir);
  const { configFile, loaded } = loadCaDir(dir);
  const { config } = loaded;
  if (config.crossCertificates.length === 0)
    throw new MutualError('ERR_CA_NO_ROOT_ROTATION', { details: { configFile } });
  const rootFingerprint = certificateFingerprint(loaded.resolve(config.root.certificate));
  const crossCertificates = config.crossCertificates.map((f) => certificateFingerprint(loaded.resolve(f)));
  const store = await openCaStore({ dir, env: options.env });
  try {
    const components = componentStandings(
      await store.listComponents(),
      rootFingerprint,
      options.now,
      config.reports.staleAfter,
    );
    const blocking = components.filter((c) => c.standing === 'lacks' || c.standing === 'unreported');
    const judged = components.filter((c) => c.standing !== 'stale');
    // Fail closed: with no component reporting, nothing says the relying parties have the new root.
    if (judged.length === 0 && options.force !== true) {
      throw new MutualError('ERR_CA_ROOT_NOT_TRUSTED_YET', {
        message: `No component has reported to this CA within reports.staleAfter: nothing tells whether the relying parties trust the new root ${rootFingerprint.slice(0, 16)}… yet.`,
        details: { rootFingerprint, components: [] },
      });
    }
    if (blocking.length > 0 && options.force !== true) {
      throw new MutualError('ERR_CA_ROOT_NOT_TRUSTED_YET', {
        message: `${String(blocking.length)} of ${String(components.length)} components do not trust the new root ${rootFingerprint.slice(0, 16)}… yet: ${blocking
          .slice(0, 10)
          .map((c) => `${c.kind} ${c.name} (${c.standing === 'lacks' ? 'lacks it' : 'does not report its roots'})`)
          .join(', ')}${blocking.length > 10 ? ', …' : ''}.`,
        details: {
          rootFingerprint,
          components: blocking.slice(0, 100).map((c) => ({ kind: c.kind, name: c.name, standing: c.standing })),
        },
      });
    }
    const forced = blocking.length > 0 || judged.length === 0;
    const seq = await applyRotation(
      { dir, configFile, passphrase: null, keyType: config.defaults.keyType, loaded, discard: () => undefined },
      options,
      store,
      [],
      (doc) => {
        doc.delete('crossCertificates');
      },
      (c) => c.crossCertificates.length === 0,
      {
        action: 'ca.finish-root-rotation',
        subject: rootFingerprint,
        details: {
          rootFingerprint,
          crossCertificates,
          forced,
          components: components
            .slice(0, 100)
            .map((c) => ({ kind: c.kind, name: c.name, standing: c.standing, lastSeen: c.lastSeen.toISOString() })),
        },
      },
    );
    return { rootFingerprint, crossCertificates, components, forced, auditSeq: seq };
  } finally {
    await store.close();
  }
}

export interface RetiredRoot {
  readonly fingerprint: string;
  readonly subject: string;
  /** SHA-256 of the previous intermediates under it, dropped from ca.yaml with it. */
  readonly intermediates: readonly string[];
  /** Unexpired certificates (revoked ones included) that still chained to it: 0 unless forced. */
  readonly certificates: number;
  readonly forced: boolean;
  readonly auditSeq: bigint;
}

/**
 * `mutual ca retire-root`: after `finish-root-rotation`, the previous root leaves ca.yaml with the
 * previous intermediates under it — `/v1/roots` stops listing it and its CRLs and OCSP answers end
 * after a restart. Refused (ERR_CA_ROOT_STILL_NEEDED, nothing changed) while a cross-certificate it
 * signed is still sent or the signing intermediate is under it — never overridable — and while
 * unexpired certificates chain to it (revoked ones included: their CRL must go on listing them),
 * unless `force`. The files stay; the audit record (`ca.retire-root`) keeps what went and why.
 */
export async function retireRoot(options: {
  readonly dir: string;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly actor: string;
  readonly now: Date;
  /** Leading hex digits (at least 8) of the root's SHA-256; default: the only previous root. */
  readonly fingerprint?: string;
  readonly force?: boolean;
}): Promise<RetiredRoot> {
  const dir = path.resolve(options.dir);
  const { configFile, loaded } = loadCaDir(dir);
  const { config } = loaded;
  const read = (file: string): X509Certificate => new X509Certificate(readFileSync(loaded.resolve(file)));
  const roots = config.previousRoots.map((f) => ({ files: f, cert: read(f.certificate) }));
  const wanted = options.fingerprint?.toLowerCase();
  if (wanted !== undefined && !/^[0-9a-f]{8,64}$/.test(wanted))
    throw new MutualError('ERR_CA_NO_PREVIOUS_ROOT', {
      message: 'Name the root by at least 8 hex digits of its SHA-256 fingerprint.',
      details: { fingerprint: options.fingerprint },
    });
  const matching = roots.filter((r) => wanted === undefined || sha256(r.cert.raw).startsWith(wanted));
  const target = matching.length === 1 ? matching[0] : undefined;
  if (target === undefined)
    throw new MutualError('ERR_CA_NO_PREVIOUS_ROOT', {
      details: {
        previousRoots: roots.map((r) => sha256(r.cert.raw)),
        ...(wanted === undefined ? {} : { fingerprint: wanted }),
      },
    });
  const fingerprint = sha256(target.cert.raw);
  const subject = target.cert.subject.replace(/\n/g, ', ');
  const still = (reason: string, message: string, details: Record<string, unknown> = {}): MutualError =>
    new MutualError('ERR_CA_ROOT_STILL_NEEDED', { message, details: { fingerprint, reason, ...details } });

  const signedCross = config.crossCertificates.filter((f) => issuedBy(read(f), target.cert));
  if (signedCross.length > 0)
    throw still(
      'cross-certificate',
      `The root ${fingerprint.slice(0, 16)}… signed a cross-certificate that is still sent (${signedCross.join(', ')}): run \`mutual ca finish-root-rotation\` first.`,
    );
  if (issuedBy(read(config.intermediate.certificate), target.cert))
    throw still('intermediate', `The intermediate that signs is under the root ${fingerprint.slice(0, 16)}….`);
  const under = config.previousIntermediates.filter((f) => issuedBy(read(f.certificate), target.cert));
  const intermediates = under.map((f) => sha256(read(f.certificate).raw));

  const store = await openCaStore({ dir, env: options.env });
  try {
    const live = await certificatesUnder(store, [fingerprint, ...intermediates], options.now);
    const { count: certificates, lastNotAfter, sample } = live;
    if (certificates > 0 && options.force !== true)
      throw still(
        'certificates',
        `${String(certificates)} unexpired certificates still chain to the root ${fingerprint.slice(0, 16)}… (the last expires at ${lastNotAfter?.toISOString() ?? '?'}): renew them, or wait.`,
        { certificates, lastNotAfter: lastNotAfter?.toISOString(), sample },
      );
    const kept = config.previousIntermediates.filter((f) => !under.includes(f));
    const seq = await applyRotation(
      { dir, configFile, passphrase: null, keyType: config.defaults.keyType, loaded, discard: () => undefined },
      options,
      store,
      [],
      (doc, flow) => {
        doc.set(
          'previousRoots',
          filesList(
            doc,
            flow,
            config.previousRoots.filter((f) => f !== target.files),
          ),
        );
        doc.set('previousIntermediates', filesList(doc, flow, kept));
      },
      (c) =>
        c.previousRoots.length === config.previousRoots.length - 1 && c.previousIntermediates.length === kept.length,
      {
        action: 'ca.retire-root',
        subject: fingerprint,
        details: {
          fingerprint,
          intermediates,
          certificates,
          forced: certificates > 0,
          ...(lastNotAfter === undefined ? {} : { lastNotAfter: lastNotAfter.toISOString() }),
        },
      },
    );
    return { fingerprint, subject, intermediates, certificates, forced: certificates > 0, auditSeq: seq };
  } finally {
    await store.close();
  }
}
