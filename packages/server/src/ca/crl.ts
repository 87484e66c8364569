import { createHash, type KeyObject } from 'node:crypto';
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

/** Port: builds and signs a CRL (pki's pure builder, adapted by the composition root). */
export type CrlBuilder = (input: {
  readonly issuer: { readonly certificateDer: Uint8Array; readonly privateKey: KeyObject };
  readonly revoked: readonly CrlEntryInput[];
  readonly thisUpdate: Date;
  readonly nextUpdate: Date;
  readonly number: bigint;
}) => Uint8Array | Promise<Uint8Array>;

/** A CA level that publishes a CRL: the root (listing revoked intermediates) or the issuing intermediate. */
export interface CrlLevel {
  readonly name: 'root' | 'intermediate';
  readonly certificateDer: Uint8Array;
  readonly privateKey: KeyObject;
}

export interface PublishedCrl {
  readonly level: 'root' | 'intermediate';
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
  /** Absent: revocations are still tracked and fed, but no CRL is published. */
  readonly builder?: CrlBuilder;
  /** nextUpdate − thisUpdate. */
  readonly crlLifetimeMs: number;
}

/** A revocation as the feed sends it, with its resumable id. */
export interface FeedEvent {
  readonly id: string;
  readonly entry: RevokedEntry;
}

export interface RevocationState {
  /** Reloads every revocation from the store (other instances' too), then republishes every level. */
  refresh(): Promise<void>;
  /** Records a revocation just committed here and republishes the CRL of its issuer. */
  add(entry: RevokedEntry): Promise<void>;
  crl(level: 'root' | 'intermediate'): PublishedCrl | undefined;
  /**
   * Revocations after `lastEventId` (all when undefined), oldest first; on resume also those of the
   * minute before it (RESUME_MARGIN_MS), as ordering by revocation time is only approximate.
   */
  since(lastEventId: string | undefined): FeedEvent[];
  /** Called for each revocation the first time this instance learns of it. */
  onEvent(listener: (event: FeedEvent) => void): () => void;
  readonly size: number;
}

const sha256 = (der: Uint8Array): string => createHash('sha256').update(der).digest('hex');

/** On resume, revocations up to this long before Last-Event-ID are sent again. */
export const RESUME_MARGIN_MS = 60_000;

export const feedId = (e: RevokedEntry): string => `${e.revokedAt.getTime()}-${e.serial}`;

function parseFeedId(id: string): { ms: number; serial: string } | undefined {
  const m = /^(\d{1,15})-([0-9a-f]{1,128})$/.exec(id);
  if (!m?.[1] || !m[2]) return undefined;
  return { ms: Number(m[1]), serial: m[2] };
}

const order = (a: RevokedEntry, b: RevokedEntry): number =>
  a.revokedAt.getTime() - b.revokedAt.getTime() || (a.serial < b.serial ? -1 : a.serial > b.serial ? 1 : 0);

/**
 * What this CA instance knows about revocations: the list, the CRL of each level (rebuilt on every
 * revocation and on refresh, CRL number strictly increasing through the store) and the feed.
 * Entries stay on the CRL until their certificate expires. Rebuilds are serialized.
 */
export function createRevocationState(deps: RevocationStateDeps): RevocationState {
  const entries = new Map<string, RevokedEntry>();
  const published = new Map<'root' | 'intermediate', PublishedCrl>();
  const listeners = new Set<(event: FeedEvent) => void>();
  const levelByFingerprint = new Map(deps.levels.map((l) => [sha256(l.certificateDer), l] as const));
  let chain: Promise<unknown> = Promise.resolve();

  const learn = (entry: RevokedEntry): void => {
    if (entries.has(entry.serial)) return;
    entries.set(entry.serial, entry);
    const event = { id: feedId(entry), entry };
    for (const l of listeners) l(event);
  };

  async function publish(level: CrlLevel): Promise<void> {
    if (!deps.builder) return;
    const fingerprint = sha256(level.certificateDer);
    const now = deps.clock.now();
    const revoked = [...entries.values()]
      .filter((e) => e.issuerFingerprint === fingerprint && e.notAfter.getTime() >= now.getTime())
      .sort(order)
      .map((e) => ({ serial: e.serial, revokedAt: e.revokedAt, reason: e.reason, reasonCode: REASON_CODES[e.reason] }));
    const number = await deps.store.nextCrlNumber(fingerprint);
    const thisUpdate = new Date(Math.floor(now.getTime() / 1000) * 1000);
    const nextUpdate = new Date(thisUpdate.getTime() + deps.crlLifetimeMs);
    const der = await deps.builder({
      issuer: { certificateDer: level.certificateDer, privateKey: level.privateKey },
      revoked,
      thisUpdate,
      nextUpdate,
      number,
    });
    const previous = published.get(level.name);
    if (previous && previous.number >= number) return; // a newer one was published meanwhile
    published.set(level.name, {
      level: level.name,
      der,
      number,
      thisUpdate,
      nextUpdate,
      etag: `"${level.name}-${number.toString()}"`,
      entries: revoked.length,
    });
  }

  const serialized = <T>(work: () => Promise<T>): Promise<T> => {
    const next = chain.then(work, work);
    chain = next.catch(() => undefined);
    return next;
  };

  async function loadAll(): Promise<void> {
    let cursor: string | undefined;
    for (;;) {
      const page = await deps.store.listCertificates({
        now: deps.clock.now(),
        states: ['revoked'],
        limit: 1000,
        ...(cursor === undefined ? {} : { cursor }),
      });
      const found = page.items.map(entryOf).filter((e): e is RevokedEntry => e !== undefined);
      for (const e of found.sort(order)) learn(e);
      if (page.nextCursor === null) return;
      cursor = page.nextCursor;
    }
  }

  return {
    refresh: () =>
      serialized(async () => {
        await loadAll();
        for (const level of deps.levels) await publish(level);
      }),
    add: (entry) =>
      serialized(async () => {
        if (entries.has(entry.serial)) return;
        learn(entry);
        const level = levelByFingerprint.get(entry.issuerFingerprint);
        if (level) await publish(level);
      }),
    crl: (level) => published.get(level),
    since(lastEventId) {
      const all = [...entries.values()].sort(order);
      const last = lastEventId === undefined ? undefined : parseFeedId(lastEventId);
      if (last === undefined) return all.map((entry) => ({ id: feedId(entry), entry }));
      // Revocation times order events only roughly (the same millisecond, clocks of several
      // instances): replay a margin before the last event too. Events are idempotent by serial.
      return all
        .filter((e) => e.revokedAt.getTime() >= last.ms - RESUME_MARGIN_MS && e.serial !== last.serial)
        .map((entry) => ({ id: feedId(entry), entry }));
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
