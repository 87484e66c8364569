import { X509Certificate, createHash, createPublicKey, randomBytes } from 'node:crypto';
import { existsSync, promises as fs, readFileSync, statSync } from 'node:fs';
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
import { isMap, isSeq, parseDocument } from 'yaml';
import { createIntermediate, type RandomBytes } from '../ca/index.js';
import { loadCaConfig } from '../config/index.js';
import { openCaStore } from './ca-store.js';
import { loadCaKeys } from './local-ca.js';
import { CA_FILES } from './ca-files.js';

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

const sha256 = (der: Uint8Array): string => createHash('sha256').update(der).digest('hex');
const cryptoRandom: RandomBytes = (n) => randomBytes(n);

/**
 * `mutual ca rotate-intermediate`: a new intermediate with a new key, signed by the root, becomes
 * the one that signs; the one it replaces moves to `previousIntermediates`, where its certificates
 * stay valid, renewable and revocable (its CRL and OCSP answers go on) until it expires. Nothing
 * that trusts the root changes. The new files are written first, the inventory record and the
 * audit record commit together, and ca.yaml is replaced last in one rename — a failure before that
 * leaves the CA as it was. A running `ca serve` picks the new intermediate up when it restarts.
 */
export async function rotateIntermediate(options: {
  dir: string;
  env: Readonly<Record<string, string | undefined>>;
  actor: string;
  now: Date;
  keyType?: KeyType;
  random?: RandomBytes;
}): Promise<RotatedIntermediate> {
  const dir = path.resolve(options.dir);
  const configFile = path.join(dir, CA_FILES.config);
  if (!existsSync(configFile)) throw new MutualError('ERR_CA_NOT_INITIALIZED', { details: { dir } });
  const loaded = loadCaConfig(configFile);
  const { config } = loaded;
  // Both keys decrypt and match their certificates before anything is made.
  const { passphrase, root, intermediate: current } = await loadCaKeys(loaded, options.env);
  const rootX = new X509Certificate(root.certificateDer);
  const keyType =
    options.keyType ?? describePublicKey(createPublicKey(current.privateKey)).type ?? config.defaults.keyType;

  const now = options.now;
  const expired = (f: { certificate: string }): boolean => {
    try {
      return Date.parse(new X509Certificate(readFileSync(loaded.resolve(f.certificate))).validTo) <= now.getTime();
    } catch {
      return false; // unreadable: left in place, `ca serve` reports it
    }
  };
  const kept = config.previousIntermediates.filter((f) => !expired(f));
  const dropped = config.previousIntermediates.filter((f) => expired(f)).map((f) => f.certificate);

  const store = await openCaStore({ dir, env: options.env });
  const written: string[] = [];
  let staged: string | undefined;
  try {
    // Each generation has a name of its own, so no tool confuses two intermediates (or their CRLs).
    const intermediates = await store.listCertificates({ now, profile: 'intermediate', limit: 1000 });
    const generation = intermediates.items.length + 1;
    const commonName = `${config.name} Intermediate CA ${String(generation)}`;
    const material = createIntermediate({
      root: {
        der: root.certificateDer,
        privateKey: root.privateKey,
        notBefore: new Date(rootX.validFrom),
        notAfter: new Date(rootX.validTo),
      },
      commonName,
      organization: config.name,
      keyType,
      now,
      random: options.random ?? cryptoRandom,
    });
    const fingerprint = sha256(material.der);
    const rootFp = sha256(root.certificateDer);
    const previousFingerprint = sha256(current.certificateDer);

    const relCert = `intermediates/${fingerprint.slice(0, 16)}.crt`;
    const relKey = `intermediates/${fingerprint.slice(0, 16)}.key`;
    await fs.mkdir(path.join(dir, 'intermediates'), { recursive: true, mode: 0o700 });
    const keyFile = path.join(dir, relKey);
    const certificateFile = path.join(dir, relCert);
    await writeFileAtomic(keyFile, exportPrivateKeyPem(material.privateKey, passphrase ?? undefined), {
      mode: 0o600,
      exclusive: true,
    });
    written.push(keyFile);
    await writeFileAtomic(certificateFile, material.pem, { exclusive: true });
    written.push(certificateFile);

    // The new ca.yaml (comments kept), checked as `ca serve` will read it before anything commits.
    const doc = parseDocument(readFileSync(configFile, 'utf8'));
    const flow = <T>(node: T): T => {
      if (isMap(node) || isSeq(node)) node.flow = true;
      return node;
    };
    doc.set('intermediate', flow(doc.createNode({ certificate: relCert, key: relKey })));
    const previousList = doc.createNode([
      { certificate: config.intermediate.certificate, key: config.intermediate.key },
      ...kept.map((f) => ({ certificate: f.certificate, key: f.key })),
    ]);
    if (isSeq(previousList)) for (const item of previousList.items) flow(item);
    doc.set('previousIntermediates', previousList);
    staged = `${configFile}.rotating-${String(process.pid)}`;
    await fs.writeFile(staged, doc.toString({ lineWidth: 0 }), { mode: statSync(configFile).mode & 0o777, flag: 'wx' });
    const check = loadCaConfig(staged).config;
    if (check.intermediate.certificate !== relCert || check.previousIntermediates.length !== kept.length + 1) {
      throw new MutualError('ERR_INTERNAL_UNEXPECTED', {
        message: 'The rewritten ca.yaml does not name the new intermediate.',
      });
    }

    const subject = `CN=${commonName}, O=${config.name}`;
    const audit = await store.transaction(async (tx) => {
      await tx.reserveSerial({
        serial: material.serial,
        issuerFingerprint: rootFp,
        profile: 'intermediate',
        subject,
        commonName,
        identityKind: 'none',
        identity: null,
        sans: { dns: [], ip: [], uri: [], email: [] },
        keyType,
        notBefore: material.notBefore,
        notAfter: material.notAfter,
        requester: options.actor,
        createdAt: now,
      });
      await tx.completeIssuance(material.serial, {
        pem: material.pem,
        fingerprintSha256: fingerprint,
        spkiSha256: spkiSha256(createPublicKey(material.privateKey)),
        issuedAt: now,
      });
      return tx.appendAudit({
        at: now,
        actor: options.actor,
        action: 'ca.rotate-intermediate',
        subject: fingerprint,
        details: {
          previousFingerprint,
          fingerprint,
          serial: material.serial,
          notAfter: material.notAfter.toISOString(),
          keyType,
          certificate: relCert,
          dropped,
        },
      });
    });
    await fs.rename(staged, configFile);
    staged = undefined;
    await syncDirectory(dir);
    return {
      fingerprint,
      subject,
      serial: material.serial,
      notBefore: material.notBefore,
      notAfter: material.notAfter,
      certificateFile,
      keyFile,
      previousFingerprint,
      dropped,
      auditSeq: audit.seq,
    };
  } catch (err) {
    // Nothing committed (or the rename failed): the CA stays as it was; the new files go.
    for (const f of written) await fs.rm(f, { force: true });
    throw err;
  } finally {
    if (staged !== undefined) await fs.rm(staged, { force: true });
    await store.close();
  }
}
