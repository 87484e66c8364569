import { createHash } from 'node:crypto';
import type { SigningKey } from '../pki/index.js';
import type { CaStore, Clock } from './ports.js';
import { entryOf, REASON_CODES, type RevokedEntry, type RevocationReasonName } from './revoke.js';

/** One CRL entry as handed to the DER builder. */
export interface CrlEntryInput {
  /** Lowercase hex of the serial's content octets. */
  readonly serial: string;
  readonly revokedAt: Date;
  readonly reason: RevocationReasonName;
  readonly reasonCode: number;
}

/**
 * Port: one CA level's CRL kept entry by entry and signed on demand (pki's CrlEncoder, adapted by
 * the composition root). Adding or removing an entry costs the same whatever the CRL's size;
 * signing copies and hashes the entries once.
 */
export interface CrlList {
  /** Adds a revocation (a serial already listed is replaced). */
  add(entry: CrlEntryInput): void;
  remove(serial: string): void;
  sign(input: { readonly thisUpdate: Date; readonly nextUpdate: Date; readonly number: bigint }): Uint8Array;
}

/** Makes the CRL list of one level from its certificate and key. */
export type CrlBuilder = (issuer: { readonly certificateDer: Uint8Array; readonly privateKey: SigningKey }) => CrlList;

/**
 * A CA level that publishes a CRL: the root (listing revoked intermediates), the issuing
 * intermediate, or a previous intermediate (replaced by a rotation, still listing its revoked leaves).
 */
export interface CrlLevel {
  readonly name: 'root' | 'intermediate' | 'previous';
  readonly certificateDer: Uint8Array;
  readonly privateKey: SigningKey;
}

export interface PublishedCrl {
  readonly level: 'root' | 'intermediate' | 'previous';
  /** SHA-256 of the certificate of the CA that signed it. */
  readonly issuerFingerprint: string;
  readonly der: Uint8Array;
  readonly number: bigint;
  readonly thisUpdate: Date;
  readonly nextUpdate: Date;
  readonly etag: string;
  readonly entries: number;
}

export interface RevocationStateDeps {
  readonly store: CaStore;
  readonly clock: Clock;
  readonly levels: readonly CrlLevel[];
  readonly builder: CrlBuilder;
  /** nextUpdate − thisUpdate. */
  readonly crlLifetimeMs: number;
}

/** A revocation as the feed sends it: its id is the sequence number of its audit record. */
export interface FeedEvent {
  readonly id: string;
  readonly entry: RevokedEntry;
}

export interface RevocationState {
  /**
   * Starts from `baselineSeq`, the sequence of an audit record this instance has just written:
   * every revocation committed before it is loaded from the inventory; later ones arrive by sync().
   */
  start(baselineSeq: bigint): Promise<void>;
  /**
   * Picks up revocations committed since the last sync — here or by another instance — by reading
   * the audit log in chain (commit) order, pushes each to the feed in that order and republishes
   * the CRLs they touch. Cheap when nothing happened: one indexed query.
   */
  sync(): Promise<void>;
  /**
   * Reloads the revocations of unexpired certificates from the inventory and republishes every
   * level (the CRL timer).
   */
  refresh(): Promise<void>;
  crl(level: 'root' | 'intermediate'): PublishedCrl | undefined;
  /** The CRL of the CA certificate whose SHA-256 fingerprint starts with `prefix` (16 hex digits or more). */
  crlOfIssuer(prefix: string): PublishedCrl | undefined;
  /** Every published CRL, in the order of the levels (root first). */
  crls(): PublishedCrl[];
  /**
   * Events after `lastEventId`, in order. Without an id, or with one from before this instance
   * started, every known revocation of a certificate not yet expired (events are idempotent by serial).
   */
  since(lastEventId: string | undefined): FeedEvent[];
  /** Called for each revocation the first time this instance learns of it, in audit order. */
  onEvent(listener: (event: FeedEvent) => void): () => void;
  readonly size: number;
}

const sha256 = (der: Uint8Array): string => createHash('sha256').update(der).digest('hex');

const order = (a: RevokedEntry, b: RevokedEntry): number =>
  a.revokedAt.getTime() - b.revokedAt.getTime() || (a.serial < b.serial ? -1 : a.serial > b.serial ? 1 : 0);

const AUDIT_PAGE = 1000;

interface FeedItem {
  /** The audit sequence of the revocation (the baseline for those loaded from the inventory at start). */
  seq: bigint;
  readonly entry: RevokedEntry;
}

/** First index in `items` (sorted by seq) whose seq is above `n`. */
function firstAfter(items: readonly FeedItem[], n: bigint): number {
  let lo = 0;
  let hi = items.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((items[mid] as FeedItem).seq > n) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/**
 * What this CA instance knows about revocations: the list, the CRL of each level (rebuilt when a
 * revocation arrives and on refresh, CRL number strictly increasing through the store) and the
 * feed, ordered by the audit log so that a resumed subscriber misses nothing. Entries stay on the
 * CRL and in the feed until their certificate expires, then leave both: memory follows the
 * revocations that still matter, not every revocation ever made. All work is serialized.
 */
export function createRevocationState(deps: RevocationStateDeps): RevocationState {
  const entries = new Map<string, RevokedEntry>();
  /** Ordered by seq while `feedSorted`; an entry moved to a later seq clears it (sorted again on read). */
  let feed: FeedItem[] = [];
  let feedSorted = true;
  /** No entry of the feed expires before this (ms); the feed's expiry scan is skipped until then. */
  let feedNextExpiry = Number.POSITIVE_INFINITY;
  const feedBySerial = new Map<string, FeedItem>();
  /** By issuer fingerprint. */
  const published = new Map<string, PublishedCrl>();
  const listeners = new Set<(event: FeedEvent) => void>();
  /** Each level's CRL entries and when each listed certificate expires (it then leaves the CRL). */
  interface LevelCrl {
    readonly level: CrlLevel;
    readonly fingerprint: string;
    readonly list: CrlList;
    readonly expires: Map<string, number>;
    /** No listed certificate expires before this (ms); the expiry scan is skipped until then. */
    nextExpiry: number;
  }
  const crls = new Map<string, LevelCrl>();
  for (const level of deps.levels) {
    const fingerprint = sha256(level.certificateDer);
    crls.set(fingerprint, {
      level,
      fingerprint,
      list: deps.builder({ certificateDer: level.certificateDer, privateKey: level.privateKey }),
      expires: new Map(),
      nextExpiry: Number.POSITIVE_INFINITY,
    });
  }
  const crlOf = (level: CrlLevel): LevelCrl => {
    for (const crl of crls.values()) if (crl.level === level) return crl;
    throw new Error(`unknown CRL level ${level.name}`);
  };
  let baseline = 0n;
  let lastSeq = 0n;
  let chain: Promise<unknown> = Promise.resolve();

  const eventOf = (item: FeedItem): FeedEvent => ({
    id: item.seq.toString(),
    entry: item.entry,
  });

  /** Events go out after the CRLs were republished: whoever hears of a revocation finds it on the CRL. */
  let pending: FeedEvent[] = [];

  /**
   * Records a revocation once; true when it was new. The revocation of a certificate already
   * expired is not kept: no verifier accepts that certificate anyway.
   */
  const learn = (entry: RevokedEntry, seq: bigint): boolean => {
    const known = feedBySerial.get(entry.serial);
    if (known !== undefined) {
      // Loaded from the inventory at start, then seen in the audit log: keep its real place.
      if (known.seq === baseline && seq > baseline) {
        known.seq = seq;
        feedSorted = false;
      }
      return false;
    }
    const notAfter = entry.notAfter.getTime();
    if (notAfter < deps.clock.now().getTime()) return false;
    entries.set(entry.serial, entry);
    const item: FeedItem = { seq, entry };
    if (feed.length > 0 && (feed[feed.length - 1] as FeedItem).seq > seq) feedSorted = false;
    feed.push(item);
    feedBySerial.set(entry.serial, item);
    feedNextExpiry = Math.min(feedNextExpiry, notAfter);
    pending.push(eventOf(item));
    const crl = crls.get(entry.issuerFingerprint);
    if (crl !== undefined) {
      crl.list.add({
        serial: entry.serial,
        revokedAt: entry.revokedAt,
        reason: entry.reason,
        reasonCode: REASON_CODES[entry.reason],
      });
      crl.expires.set(entry.serial, notAfter);
      crl.nextExpiry = Math.min(crl.nextExpiry, notAfter);
    }
    return true;
  };
  /** Drops the feed's entries whose certificate has expired (valid through notAfter inclusive). */
  const pruneFeed = (): void => {
    const now = deps.clock.now().getTime();
    if (now <= feedNextExpiry) return;
    let next = Number.POSITIVE_INFINITY;
    feed = feed.filter((item) => {
      const notAfter = item.entry.notAfter.getTime();
      if (notAfter >= now) {
        if (notAfter < next) next = notAfter;
        return true;
      }
      entries.delete(item.entry.serial);
      feedBySerial.delete(item.entry.serial);
      return false;
    });
    feedNextExpiry = next;
  };
  const emit = (): void => {
    const events = pending;
    pending = [];
    for (const event of events) for (const l of listeners) l(event);
  };

  async function publish(level: CrlLevel): Promise<void> {
    const crl = crlOf(level);
    const now = deps.clock.now();
    if (now.getTime() > crl.nextExpiry) {
      // Entries stay until their certificate has expired (valid through notAfter inclusive).
      let next = Number.POSITIVE_INFINITY;
      for (const [serial, notAfter] of crl.expires) {
        if (notAfter < now.getTime()) {
          crl.list.remove(serial);
          crl.expires.delete(serial);
        } else if (notAfter < next) next = notAfter;
      }
      crl.nextExpiry = next;
    }
    const number = await deps.store.nextCrlNumber(crl.fingerprint);
    const thisUpdate = new Date(Math.floor(now.getTime() / 1000) * 1000);
    const nextUpdate = new Date(thisUpdate.getTime() + deps.crlLifetimeMs);
    const der = crl.list.sign({ thisUpdate, nextUpdate, number });
    const previous = published.get(crl.fingerprint);
    if (previous && previous.number >= number) return; // a newer one was published meanwhile
    published.set(crl.fingerprint, {
      level: level.name,
      issuerFingerprint: crl.fingerprint,
      der,
      number,
      thisUpdate,
      nextUpdate,
      // Numbers are per issuer: the etag names the issuer, so a rotation never makes an old tag match.
      etag: `"${crl.fingerprint.slice(0, 16)}-${number.toString()}"`,
      entries: crl.expires.size,
    });
  }

  const serialized = <T>(work: () => Promise<T>): Promise<T> => {
    const next = chain.then(work, work);
    chain = next.catch(() => undefined);
    return next;
  };

  async function loadAll(): Promise<void> {
    let cursor: string | undefined;
    const now = deps.clock.now();
    for (;;) {
      // Revoked and not expired: a range of the (status, not_after, serial) index, however many
      // revocations of expired certificates the inventory keeps.
      const page = await deps.store.listCertificates({
        now,
        states: ['revoked'],
        expiresFrom: now,
        limit: 1000,
        ...(cursor === undefined ? {} : { cursor }),
      });
      const found = page.items.map(entryOf).filter((e): e is RevokedEntry => e !== undefined);
      // Revocations already in the inventory but unknown here are older than the baseline or were
      // committed meanwhile; either way they are sent with the baseline as id (idempotent by serial).
      for (const e of found.sort(order)) learn(e, baseline);
      if (page.nextCursor === null) return;
      cursor = page.nextCursor;
    }
  }

  async function syncNow(): Promise<void> {
    const touched = new Set<CrlLevel>();
    for (;;) {
      const records = await deps.store.listAudit({ afterSeq: lastSeq, limit: AUDIT_PAGE });
      for (const record of records) {
        lastSeq = record.seq;
        if (record.action !== 'certificate.revoke') continue;
        const certificate = await deps.store.getCertificate(record.subject);
        const entry = certificate === undefined ? undefined : entryOf(certificate);
        if (entry === undefined) continue;
        const level = crls.get(entry.issuerFingerprint)?.level;
        if (learn(entry, record.seq) && level) touched.add(level);
      }
      if (records.length < AUDIT_PAGE) break;
    }
    for (const level of touched) await publish(level);
    pruneFeed();
    emit();
  }

  return {
    start: (baselineSeq) =>
      serialized(async () => {
        baseline = baselineSeq;
        lastSeq = baselineSeq;
        await loadAll();
        await syncNow(); // places revocations committed while loading at their audit position
        for (const level of deps.levels) await publish(level);
        emit();
      }),
    sync: () => serialized(syncNow),
    refresh: () =>
      serialized(async () => {
        await syncNow();
        await loadAll();
        for (const level of deps.levels) await publish(level);
        pruneFeed();
        emit();
      }),
    crl: (level) => {
      for (const c of crls.values()) if (c.level.name === level) return published.get(c.fingerprint);
      return undefined;
    },
    crlOfIssuer: (prefix) => {
      if (!/^[0-9a-f]{16,64}$/.test(prefix)) return undefined;
      for (const [fp, crl] of published) if (fp.startsWith(prefix)) return crl;
      return undefined;
    },
    crls: () => [...crls.values()].map((c) => published.get(c.fingerprint)).filter((c) => c !== undefined),
    since(lastEventId) {
      pruneFeed();
      if (!feedSorted) {
        feed.sort((a, b) => (a.seq < b.seq ? -1 : a.seq > b.seq ? 1 : 0));
        feedSorted = true;
      }
      const n = lastEventId !== undefined && /^\d{1,19}$/.test(lastEventId) ? BigInt(lastEventId) : undefined;
      const from = n === undefined || n < baseline ? 0 : firstAfter(feed, n);
      return feed.slice(from).map(eventOf);
    },
    onEvent(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    get size() {
      return entries.size;
    },
  };
}
