import { X509Certificate, createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { LoadedCaConfig } from '../config/index.js';
import { isPkcs11Uri } from '../keys/index.js';
import type { CertificateState, ComponentRecord, Store } from '../store/index.js';
import { loadCaDir, openCaStore } from './ca-store.js';

const sha256 = (der: Uint8Array): string => createHash('sha256').update(der).digest('hex');
const DAY = 86_400_000;

/** How one reporting component stands towards the current root, as its last report says. */
export interface ComponentTrust {
  readonly kind: string;
  readonly name: string;
  readonly lastSeen: Date;
  /**
   * `trusts`: its trust anchors include the current root; `lacks`: they do not; `unreported`: its
   * reports do not list trust anchors; `stale`: no report within `reports.staleAfter` (not judged).
   */
  readonly standing: 'trusts' | 'lacks' | 'unreported' | 'stale';
}

/** Each component's standing towards `rootFingerprint`, from its last report. */
export function componentStandings(
  components: readonly ComponentRecord[],
  rootFingerprint: string,
  now: Date,
  staleAfterMs: number,
): ComponentTrust[] {
  return components.map((c) => {
    const anchors = c.health['trustAnchors'];
    const standing =
      now.getTime() - c.lastSeen.getTime() > staleAfterMs
        ? 'stale'
        : !Array.isArray(anchors)
          ? 'unreported'
          : anchors.includes(rootFingerprint)
            ? 'trusts'
            : 'lacks';
    return { kind: c.kind, name: c.name, lastSeen: c.lastSeen, standing };
  });
}

/**
 * Profiles of the CA's own certificates: its TLS and OCSP certificates are issued anew at each start,
 * and CA certificates go with the root they are under. They never keep a root in use.
 */
const CA_OWN_PROFILES: ReadonlySet<string> = new Set([
  'ca-server',
  'ocsp',
  'root',
  'intermediate',
  'cross-certificate',
]);

/**
 * Unexpired certificates (revoked ones included) issued by one of `issuers`, the CA's own left out.
 * With `max`, counting stops there (`capped`; `lastNotAfter` is then only of those counted): what a
 * status polled by the dashboard can afford on a CA with millions of certificates.
 */
export async function certificatesUnder(
  store: Pick<Store, 'listCertificates'>,
  issuers: readonly string[],
  now: Date,
  max = Infinity,
): Promise<{ count: number; capped: boolean; lastNotAfter: Date | undefined; sample: string[] }> {
  let count = 0;
  let lastNotAfter: Date | undefined;
  const sample: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await store.listCertificates({
      now,
      issuers,
      expiresFrom: now,
      limit: Math.min(1000, Math.max(1, max - count)),
      ...(cursor === undefined ? {} : { cursor }),
    });
    for (const c of page.items) {
      if (c.state === 'failed' || CA_OWN_PROFILES.has(c.profile)) continue;
      count += 1;
      if (lastNotAfter === undefined || c.notAfter > lastNotAfter) lastNotAfter = c.notAfter;
      if (sample.length < 5) sample.push(`${c.serial} ${c.identity ?? c.commonName ?? ''}`.trim());
    }
    cursor = page.nextCursor ?? undefined;
  } while (cursor !== undefined && count < max);
  return { count, capped: cursor !== undefined, lastNotAfter, sample };
}

/** Whether `child` names `parent` as its issuer and its signature verifies with `parent`'s key. */
export const issuedBy = (child: X509Certificate, parent: X509Certificate): boolean =>
  child.checkIssued(parent) && child.verify(parent.publicKey);

/** One CA certificate as `mutual ca status` shows it. */
export interface CaCertificateStatus {
  readonly subject: string;
  readonly fingerprint: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** Fraction of its lifetime left at `now` (0 once expired). */
  readonly left: number;
  /** Where its private key is: a file (path as ca.yaml gives it) or a PKCS#11 token (its URI). Not for cross-certificates. */
  readonly key?: { readonly storage: 'file' | 'pkcs11'; readonly location: string };
}

export interface CaStatus {
  readonly name: string;
  readonly dir: string;
  readonly store: 'sqlite' | 'postgres';
  readonly root: CaCertificateStatus;
  readonly intermediate: CaCertificateStatus;
  readonly previousRoots: readonly (CaCertificateStatus & {
    /** Unexpired certificates still issued under it (by it or its previous intermediates). */
    readonly certificates: number;
    /** Counting stopped at STATUS_COUNT_CAP: there are at least `certificates`. */
    readonly atLeast: boolean;
    readonly lastNotAfter: Date | null;
  })[];
  readonly previousIntermediates: readonly CaCertificateStatus[];
  readonly crossCertificates: readonly CaCertificateStatus[];
  readonly inventory: Record<CertificateState, number>;
  /** How long an expired certificate's record is kept (inventory.keepExpired); null: forever. */
  readonly keepExpiredMs: number | null;
  readonly components: readonly ComponentTrust[];
  /** What to do next, in order, worked out from the state above: the runbook of this CA today. */
  readonly next: readonly string[];
}

/** Certificates counted under a previous root by a status (ten pages of the inventory at most). */
const STATUS_COUNT_CAP = 10_000;

/** Below this fraction of its lifetime, a CA certificate is due for rotation. */
const ROTATE_AT_LEFT = 1 / 3;

/**
 * `mutual ca status`: the CA's certificates, inventory and reporting components, and the steps due
 * now — rotate an intermediate or root nearing its end, bring components to a new root, finish a
 * root rotation, retire a previous root — each with the command to run. Reads the CA directory and
 * its store; changes nothing.
 */
export async function caStatus(options: {
  readonly dir: string;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly now: Date;
  /** How many certificates to count under each previous root at most (default 10,000). */
  readonly countCap?: number;
}): Promise<CaStatus> {
  const dir = path.resolve(options.dir);
  const { loaded } = loadCaDir(dir);
  const store = await openCaStore({ dir, env: options.env });
  try {
    return await describeCaStatus({
      loaded,
      store,
      now: options.now,
      dir,
      ...(options.countCap === undefined ? {} : { countCap: options.countCap }),
    });
  } finally {
    await store.close();
  }
}

/** What `caStatus` works out, from a loaded configuration and an open store (`GET /v1/status` too). */
export async function describeCaStatus(options: {
  readonly loaded: LoadedCaConfig;
  readonly store: Pick<Store, 'listCertificates' | 'listComponents' | 'countByState'>;
  readonly now: Date;
  readonly dir: string;
  readonly countCap?: number;
}): Promise<CaStatus> {
  const { loaded, store, dir } = options;
  const { config } = loaded;
  const now = options.now;
  const describe = (file: string, key?: string): CaCertificateStatus & { x: X509Certificate } => {
    const x = new X509Certificate(readFileSync(loaded.resolve(file)));
    const notBefore = new Date(x.validFrom);
    const notAfter = new Date(x.validTo);
    const span = notAfter.getTime() - notBefore.getTime();
    return {
      x,
      subject: x.subject.replace(/\n/g, ', '),
      fingerprint: sha256(x.raw),
      notBefore,
      notAfter,
      left: span > 0 ? Math.max(0, Math.min(1, (notAfter.getTime() - now.getTime()) / span)) : 0,
      ...(key === undefined ? {} : { key: { storage: isPkcs11Uri(key) ? 'pkcs11' : 'file', location: key } }),
    };
  };
  const strip = ({ x: _x, ...rest }: CaCertificateStatus & { x: X509Certificate }): CaCertificateStatus => rest;
  const root = describe(config.root.certificate, config.root.key);
  const intermediate = describe(config.intermediate.certificate, config.intermediate.key);
  const previousIntermediates = config.previousIntermediates.map((f) => describe(f.certificate, f.key));
  const crossCertificates = config.crossCertificates.map((f) => describe(f));
  const previousRoots = [];
  for (const f of config.previousRoots) {
    const r = describe(f.certificate, f.key);
    const under = previousIntermediates.filter((i) => issuedBy(i.x, r.x));
    const live = await certificatesUnder(
      store,
      [r.fingerprint, ...under.map((i) => i.fingerprint)],
      now,
      options.countCap ?? STATUS_COUNT_CAP,
    );
    previousRoots.push({
      ...strip(r),
      certificates: live.count,
      atLeast: live.capped,
      lastNotAfter: live.capped ? null : (live.lastNotAfter ?? null),
    });
  }
  const components = componentStandings(await store.listComponents(), root.fingerprint, now, config.reports.staleAfter);
  const inventory = await store.countByState(now);

  const next: string[] = [];
  const short = (fp: string): string => `${fp.slice(0, 16)}…`;
  const until = (d: Date): string =>
    `${d.toISOString().slice(0, 10)} (${String(Math.max(0, Math.floor((d.getTime() - now.getTime()) / DAY)))} days)`;
  if (crossCertificates.length > 0) {
    const blocking = components.filter((c) => c.standing === 'lacks' || c.standing === 'unreported');
    const judged = components.filter((c) => c.standing !== 'stale');
    if (judged.length === 0)
      next.push(
        `Root rotation in progress, and no component reports which roots it trusts: make sure every relying party trusts the new root ${short(root.fingerprint)} (${loaded.resolve(config.root.certificate)}), then run \`mutual ca finish-root-rotation --force\` and restart every \`mutual ca serve\`.`,
      );
    else if (blocking.length > 0)
      next.push(
        `Root rotation in progress: ${String(blocking.length)} of ${String(judged.length)} reporting components do not trust the new root ${short(root.fingerprint)} yet (${blocking
          .slice(0, 5)
          .map((c) => `${c.kind} ${c.name}`)
          .join(
            ', ',
          )}${blocking.length > 5 ? ', …' : ''}): add ${loaded.resolve(config.root.certificate)} to their trust bundles (agents with ca.trustBundle learn it by themselves), then \`mutual ca finish-root-rotation\`.`,
      );
    else
      next.push(
        `Root rotation in progress, and every reporting component trusts the new root: run \`mutual ca finish-root-rotation\`, then restart every \`mutual ca serve\`.`,
      );
  } else {
    for (const r of previousRoots) {
      next.push(
        r.certificates > 0
          ? `The previous root ${short(r.fingerprint)} still has ${String(r.certificates)}${r.atLeast ? ' or more' : ''} unexpired certificates under it (${r.lastNotAfter === null ? '`mutual ca retire-root` counts them all' : `the last until ${until(r.lastNotAfter)}`}): renew them into the new hierarchy (agents do at their next renewal) or wait, then \`mutual ca retire-root --fingerprint ${r.fingerprint.slice(0, 16)}\`.`
          : `Nothing valid is left under the previous root ${short(r.fingerprint)}: run \`mutual ca retire-root --fingerprint ${r.fingerprint.slice(0, 16)}\`, restart every \`mutual ca serve\`, then remove it from trust bundles.`,
      );
    }
  }
  if (root.left < ROTATE_AT_LEFT && crossCertificates.length === 0)
    next.push(
      `The root ${short(root.fingerprint)} is in the last third of its life (until ${until(root.notAfter)}): start a root rotation with \`mutual ca rotate-root\` early — relying parties need time to take the new root.`,
    );
  if (intermediate.left < ROTATE_AT_LEFT)
    next.push(
      `The signing intermediate ${short(intermediate.fingerprint)} is in the last third of its life (until ${until(intermediate.notAfter)}): run \`mutual ca rotate-intermediate\` and restart every \`mutual ca serve\`.`,
    );
  const expired = previousIntermediates.filter((i) => i.notAfter <= now).length;
  if (expired > 0)
    next.push(
      `${String(expired)} previous intermediate(s) have expired: the next rotation drops them from ca.yaml (or remove them now).`,
    );
  if (inventory.expiring > 0)
    next.push(
      `${String(inventory.expiring)} certificate(s) expire within 7 days: \`mutual inventory --state expiring\` lists them.`,
    );
  const stale = components.filter((c) => c.standing === 'stale');
  if (stale.length > 0)
    next.push(
      `${String(stale.length)} component(s) have not reported within reports.staleAfter (${stale
        .slice(0, 5)
        .map((c) => `${c.kind} ${c.name}`)
        .join(', ')}${stale.length > 5 ? ', …' : ''}): check that they run.`,
    );
  return {
    name: config.name,
    dir,
    store: 'sqlite' in config.store ? 'sqlite' : 'postgres',
    root: strip(root),
    intermediate: strip(intermediate),
    previousRoots,
    previousIntermediates: previousIntermediates.map(strip),
    crossCertificates: crossCertificates.map(strip),
    inventory,
    keepExpiredMs: config.inventory.keepExpired,
    components,
    next,
  };
}
