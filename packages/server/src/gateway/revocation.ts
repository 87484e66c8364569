/**
 * Revocation data for the handshake check: CRLs from files and from URLs polled with ETag. A source
 * holds one CRL (DER or PEM) or a PEM bundle of several (up to 64, e.g. one per CA level). A CRL
 * counts for an issuer only once its signature verifies with that issuer's key; an issuer that must
 * be covered and is not, or whose CRL is past nextUpdate plus the grace, is refused (fail closed)
 * unless it is listed in `failOpen`.
 *
 * A `feed` source follows a mutual CA's revocation feed (server-sent events, resumed with
 * Last-Event-ID, reconnected with backoff): a revoked serial counts from the moment its event
 * arrives. The same CA's CRLs are polled alongside, so a missed event is still caught and the
 * staleness rules above apply to the feed source as to any CRL URL.
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createHash } from 'node:crypto';
import { CaClient, MutualError, readDerObjects, readFileCapped, type VerifyResult } from '@mutual/sdk';
import type { LoadedGatewayConfig } from '../config/index.js';
import { crlIssuerOf, parseCrlInSlices, verifyCrlSignature, type ParsedCrl } from '../pki/index.js';

export interface Revocation {
  /** undefined when the path may be used at `at`; else a reason code and detail. */
  check(
    result: VerifyResult,
    chain: { leaf: Uint8Array; intermediates: readonly Uint8Array[] },
    anchors: readonly Uint8Array[],
    at: Date,
  ): { reason: string; detail: string } | undefined;
  /** Files read (watched for hot reload). */
  files(): string[];
  /** False while a configured source has never loaded. */
  ready(): boolean;
  /** Revocations held from each followed feed (unexpired certificates only; expired ones are forgotten). */
  feedEntries(): { feed: string; entries: number }[];
  close(): void;
}

/** Called after each load attempt; `changed` when the source's CRLs are new. */
export type RevocationListener = (source: string, ok: boolean, error: string | undefined, changed: boolean) => void;

/** The state of one followed revocation feed, carried across reloads. */
interface Feed {
  readonly name: string;
  lastEventId: string | undefined;
  /** serial (no leading zeros) → the issuers that revoked it and when the certificate expires. */
  readonly revoked: Map<string, FeedEntry>;
  /** No entry expires before this (ms); the expiry sweep is skipped until then. */
  nextExpiry: number;
  abort: AbortController | undefined;
  timer: NodeJS.Timeout | undefined;
}

interface FeedEntry {
  /** Fingerprints of the issuers that revoked this serial. */
  readonly issuers: Set<string>;
  /** When the certificate expires (ms; Infinity when the CA did not say): then no verifier accepts it anyway. */
  notAfter: number;
}

const FEED_BACKOFF = { initialMs: 250, maxMs: 30_000 } as const;
/** Past this many unexpired entries the oldest learnt is dropped (the CA's CRLs, polled alongside, still list it). */
const MAX_FEED_ENTRIES = 1_000_000;

/**
 * Forgets the revocations of certificates that have expired by `now` (the verifier refuses an
 * expired certificate before revocation is asked), so a long-running gateway holds what the CA's
 * CRLs hold and no more. Runs only once the earliest expiry has passed.
 */
function sweepFeed(feed: Feed, now: number): void {
  if (now < feed.nextExpiry) return;
  let next = Infinity;
  for (const [serial, entry] of feed.revoked) {
    if (entry.notAfter < now) feed.revoked.delete(serial);
    else if (entry.notAfter < next) next = entry.notAfter;
  }
  feed.nextExpiry = next;
}

interface LoadedCrl {
  readonly parsed: ParsedCrl;
  readonly fingerprint: string;
  readonly revoked: ReadonlySet<string>;
  /**
   * What the issuer certificates met on handshake paths say of its signature: `unknown` while none
   * is known for the issuer it names, `authentic` once one verified it, `forged` while the known
   * ones do not (judged again when more become known).
   */
  verdict: 'unknown' | 'authentic' | 'forged';
}

/**
 * Issuer certificates met on validated paths, by the issuer a CRL of theirs names (issuerKey, with
 * and without the key identifier): what a polled CRL is checked against before it replaces anything.
 */
type KnownIssuers = Map<string, Uint8Array[]>;
/** At most this many issuers are remembered, and this many certificates (keys) for each. */
const MAX_KNOWN_ISSUERS = 256;
const MAX_KEYS_PER_ISSUER = 4;

/** Every CRL of one source (a file or a URL's answer), and the SHA-256 of the bytes they were read from. */
interface CrlBundle {
  readonly fingerprint: string;
  readonly crls: readonly LoadedCrl[];
}

interface Source {
  readonly name: string;
  readonly kind: 'file' | 'url';
  bundle: CrlBundle | undefined;
  etag: string | undefined;
  timer: NodeJS.Timeout | undefined;
}

/** The most bytes one source may hold (all its CRLs together). */
const MAX_CRL_BYTES = 32 * 1024 * 1024;
/** The most CRLs one source may hold. */
const MAX_CRLS = 64;
const stripZeros = (hex: string): string => hex.toLowerCase().replace(/^0+(?=.)/, '');
const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

/** The CRLs of a source: one DER CRL, or PEM text with one or more CRL blocks (nothing else). */
function crlDers(bytes: Uint8Array): Uint8Array[] {
  let ders: Uint8Array[];
  try {
    ders = bytes[0] === 0x30 ? [bytes] : readDerObjects(bytes, ['X509 CRL', 'CRL'], { maxBytes: MAX_CRL_BYTES });
  } catch (err) {
    const index = err instanceof MutualError ? err.details.index : undefined;
    if (typeof index !== 'number') throw err;
    // A PEM block that is not one DER object: name it as the CRL it was meant to be.
    throw new MutualError('ERR_CRL_MALFORMED', {
      message: `CRL ${index + 1}: ${describe(err)}`,
      details: { reason: 'not a single DER SEQUENCE', index: index + 1 },
      cause: err,
    });
  }
  if (ders.length === 0) throw new MutualError('ERR_CRL_MALFORMED', { details: { reason: 'no CRL in the input' } });
  if (ders.length > MAX_CRLS)
    throw new MutualError('ERR_CRL_TOO_LARGE', {
      message: `The source holds ${ders.length} CRLs; at most ${MAX_CRLS} are read.`,
      details: { maxCrls: MAX_CRLS, crls: ders.length },
    });
  return ders;
}

/** An error's message with its details.reason, when it has one. */
function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const reason = err instanceof MutualError ? err.details.reason : undefined;
  return typeof reason === 'string' && !err.message.includes(reason)
    ? `${err.message.replace(/\.$/, '')}: ${reason}`
    : err.message;
}

/** Entries indexed per turn of the event loop when a polled CRL is loaded. */
const SLICE = 2000;

/**
 * Reads a CRL while the gateway serves (polled, or a file on reload): the CRL is read and its
 * serials indexed a slice at a time, letting requests and handshakes through in between (a CRL of
 * 100,000 entries took the event loop for ~170 ms in one piece). A CRL with the same DER as
 * `unchanged` (the one loaded before) is not read again.
 */
async function loadCrlInSlices(der: Uint8Array, unchanged?: LoadedCrl): Promise<LoadedCrl> {
  const fingerprint = sha256(der);
  if (unchanged?.fingerprint === fingerprint) return unchanged;
  const parsed = await parseCrlInSlices(der, { maxBytes: MAX_CRL_BYTES, sliceEntries: SLICE });
  const revoked = new Set<string>();
  for (let i = 0; i < parsed.revoked.length; i += SLICE) {
    if (i > 0) {
      await new Promise<void>((resolve) => {
        setImmediate(resolve);
      });
    }
    for (const e of parsed.revoked.slice(i, i + SLICE)) revoked.add(stripZeros(e.serialHex));
  }
  return { parsed, fingerprint, revoked, verdict: 'unknown' };
}

/**
 * Reads every CRL of a source, each as loadCrlInSlices does, letting the event loop through between
 * them too. Bytes equal to those of `unchanged` (the source's previous load) are not read again, and
 * a CRL whose DER was in `unchanged` is reused. Any CRL that cannot be read fails the whole source,
 * naming it by its position (1-based).
 */
async function loadCrlBundle(bytes: Uint8Array, unchanged?: CrlBundle): Promise<CrlBundle> {
  const fingerprint = sha256(bytes);
  if (unchanged?.fingerprint === fingerprint) return unchanged;
  const ders = crlDers(bytes);
  const known = new Map(unchanged?.crls.map((c) => [c.fingerprint, c]));
  const crls: LoadedCrl[] = [];
  for (const [i, der] of ders.entries()) {
    if (i > 0) {
      await new Promise<void>((resolve) => {
        setImmediate(resolve);
      });
    }
    try {
      crls.push(await loadCrlInSlices(der, known.get(sha256(der))));
    } catch (err) {
      const code = err instanceof MutualError ? err.code : 'ERR_CRL_MALFORMED';
      throw new MutualError(code, {
        message: `CRL ${i + 1} of ${ders.length}: ${describe(err)}`,
        details: { ...(err instanceof MutualError ? err.details : {}), index: i + 1 },
        cause: err,
      });
    }
  }
  return { fingerprint, crls };
}

/** Whether two loads hold the same CRLs (the same DER in the same order), whatever bytes they came from. */
const sameCrls = (a: CrlBundle | undefined, b: CrlBundle): boolean =>
  a !== undefined &&
  a.crls.length === b.crls.length &&
  a.crls.every((c, i) => c.fingerprint === b.crls[i]?.fingerprint);

/** Who a CRL claims to come from: its issuer name and, when present, its authority key identifier. */
const issuerKey = (crl: ParsedCrl): string =>
  `${Buffer.from(crl.issuerDer).toString('hex')}/${crl.authorityKeyId ? Buffer.from(crl.authorityKeyId).toString('hex') : ''}`;

/**
 * Why `next` may not replace `prev`: for an issuer both hold CRLs of, its highest CRL number went
 * down (an older CRL served again). A CRL the issuer's known key does not verify counts for
 * nothing, so a forged CRL with a high number cannot make the genuine ones look old afterwards. An
 * issuer appearing in or leaving the bundle is fine.
 */
function crlNumberWentBack(prev: CrlBundle, next: CrlBundle): string | undefined {
  const highest = (b: CrlBundle): Map<string, bigint> => {
    const out = new Map<string, bigint>();
    for (const { parsed, verdict } of b.crls) {
      if (verdict === 'forged') continue;
      const key = issuerKey(parsed);
      const held = out.get(key);
      if (held === undefined || parsed.crlNumber > held) out.set(key, parsed.crlNumber);
    }
    return out;
  };
  const before = highest(prev);
  const after = highest(next);
  for (const [i, { parsed, verdict }] of next.crls.entries()) {
    if (verdict === 'forged') continue;
    const key = issuerKey(parsed);
    const old = before.get(key);
    if (old !== undefined && parsed.crlNumber === after.get(key) && parsed.crlNumber < old)
      return `CRL ${i + 1} of ${next.crls.length}: CRL number went backwards for its issuer (${old} to ${parsed.crlNumber})`;
  }
  return undefined;
}

/** Judges a CRL's signature against the issuer certificates known for the issuer it names. */
function judge(crl: LoadedCrl, known: KnownIssuers): void {
  if (crl.verdict === 'authentic') return;
  const issuers = known.get(issuerKey(crl.parsed));
  if (issuers === undefined) return;
  crl.verdict = issuers.some((der) => verifyCrlSignature(crl.parsed, der)) ? 'authentic' : 'forged';
}

/**
 * Why a polled answer is refused outright: a CRL naming a known issuer by its key identifier whose
 * signature that issuer's key does not verify is forged (or corrupt), and the source keeps its
 * previous CRLs. (Without a key identifier the issuer may have a new key: such a CRL is taken, and
 * counts for nothing until a certificate met on a path verifies it.)
 */
function forgery(bundle: CrlBundle): string | undefined {
  const i = bundle.crls.findIndex((c) => c.verdict === 'forged' && c.parsed.authorityKeyId !== undefined);
  return i < 0
    ? undefined
    : `CRL ${i + 1} of ${bundle.crls.length}: its signature does not verify with the key of the issuer it names`;
}

/** Remembers an issuer certificate met on a validated path, under the names its CRLs would carry. */
function learnIssuer(known: KnownIssuers, issuerDer: Uint8Array): void {
  const named = crlIssuerOf(issuerDer);
  if (named === undefined) return;
  const name = Buffer.from(named.nameDer).toString('hex');
  const keys = [`${name}/`, ...(named.keyId ? [`${name}/${Buffer.from(named.keyId).toString('hex')}`] : [])];
  for (const key of keys) {
    const held = known.get(key);
    if (held?.some((d) => Buffer.from(d).equals(issuerDer))) continue;
    if (held === undefined && known.size >= MAX_KNOWN_ISSUERS) {
      const oldest = known.keys().next().value;
      if (oldest !== undefined) known.delete(oldest);
    }
    known.set(key, [issuerDer, ...(held ?? [])].slice(0, MAX_KEYS_PER_ISSUER));
  }
}

function fetchCrl(
  url: string,
  etag: string | undefined,
  ca: Buffer | undefined,
  timeoutMs: number,
): Promise<{ status: 200; body: Buffer; etag: string | undefined } | { status: 304 }> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const headers: Record<string, string> = { accept: 'application/pkix-crl' };
    if (etag !== undefined) headers['if-none-match'] = etag;
    const onResponse = (res: IncomingMessage): void => {
      if (res.statusCode === 304) {
        res.resume();
        resolve({ status: 304 });
        return;
      }
      if (res.statusCode !== 200) {
        res.resume();
        reject(new Error(`HTTP ${res.statusCode ?? 0}`));
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_CRL_BYTES) res.destroy(new Error('CRL too large'));
        else chunks.push(c);
      });
      res.on('end', () => {
        const tag = res.headers.etag;
        resolve({ status: 200, body: Buffer.concat(chunks), etag: typeof tag === 'string' ? tag : undefined });
      });
      res.on('error', reject);
    };
    const req =
      u.protocol === 'https:'
        ? httpsRequest(u, { headers, ...(ca ? { ca } : {}), timeout: timeoutMs }, onResponse)
        : httpRequest(u, { headers, timeout: timeoutMs }, onResponse);
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end();
  });
}

/**
 * Loads every configured source. File sources must load (a bad file refuses the configuration);
 * URL sources are polled and carry their last CRL over from `prev` across reloads.
 */
export async function createRevocation(
  loaded: LoadedGatewayConfig,
  prev: Revocation | undefined,
  onSource: RevocationListener,
  now: () => number = Date.now,
): Promise<Revocation> {
  const cfg = loaded.config.revocation;
  const failOpen = new Set(cfg.failOpen);
  const sources: Source[] = [];
  const previous = (prev as { sources?: readonly Source[] } | undefined)?.sources ?? [];
  const previousFeeds = (prev as { feeds?: readonly Feed[] } | undefined)?.feeds ?? [];
  const known: KnownIssuers = new Map((prev as { known?: KnownIssuers } | undefined)?.known ?? []);
  const feeds: Feed[] = [];
  let closed = false;
  /** Read after an await (a closed revocation ignores what arrives late). */
  const isClosed = (): boolean => closed;
  /** URL sources polled: CRL URLs, and the CRLs of each feed's CA. */
  const polled: { url: string; ca: string | undefined; interval: number; feed: string | undefined }[] = [];

  for (const s of cfg.sources) {
    if ('file' in s) {
      const file = loaded.resolve(s.file);
      const old = previous.find((p) => p.name === file);
      let bundle: CrlBundle;
      try {
        bundle = await loadCrlBundle(await readFileCapped(file, MAX_CRL_BYTES), old?.bundle);
      } catch (err) {
        const index = err instanceof MutualError ? err.details.index : undefined;
        throw new MutualError('ERR_GATEWAY_MATERIAL_INVALID', {
          message: `${file}: not a usable CRL (${describe(err)})`,
          details: { file, reason: 'crl', ...(typeof index === 'number' ? { index } : {}) },
          cause: err,
        });
      }
      sources.push({ name: file, kind: 'file', bundle, etag: undefined, timer: undefined });
      onSource(file, true, undefined, !sameCrls(old?.bundle, bundle));
    } else if ('url' in s) {
      polled.push({ url: s.url, ca: s.ca, interval: s.interval, feed: undefined });
    } else {
      // Every CRL the CA publishes, as one PEM: root, signing intermediate and previous intermediates (ADR 0027).
      polled.push({ url: `${s.feed}/v1/crl/all`, ca: s.ca, interval: s.interval, feed: s.feed });
      const old = previousFeeds.find((f) => f.name === s.feed);
      feeds.push({
        name: s.feed,
        lastEventId: old?.lastEventId,
        revoked: new Map<string, FeedEntry>(old ? old.revoked : []),
        nextExpiry: old ? old.nextExpiry : Infinity,
        abort: undefined,
        timer: undefined,
      });
    }
  }
  for (const p of polled) {
    const old = previous.find((x) => x.name === p.url);
    sources.push({ name: p.url, kind: 'url', bundle: old?.bundle, etag: old?.etag, timer: undefined });
  }

  const caOf = async (file: string | undefined): Promise<Buffer | undefined> =>
    file === undefined ? undefined : readFileCapped(loaded.resolve(file), 1024 * 1024);

  const poll = async (source: Source, url: string, ca: Buffer | undefined, interval: number): Promise<void> => {
    for (const f of feeds) sweepFeed(f, now()); // also when no event arrives for a long time
    try {
      const r = await fetchCrl(url, source.bundle ? source.etag : undefined, ca, Math.min(interval, 10_000));
      if (closed) return;
      if (r.status === 304) {
        onSource(url, true, undefined, false);
      } else {
        const bundle = await loadCrlBundle(r.body, source.bundle);
        if (isClosed()) return;
        const changed = !sameCrls(source.bundle, bundle);
        for (const c of bundle.crls) judge(c, known);
        for (const c of source.bundle?.crls ?? []) judge(c, known);
        const forged = forgery(bundle);
        if (forged !== undefined) throw new Error(forged);
        const back = source.bundle ? crlNumberWentBack(source.bundle, bundle) : undefined;
        if (back !== undefined) throw new Error(back);
        source.bundle = bundle;
        source.etag = r.etag;
        onSource(url, true, undefined, changed);
      }
    } catch (err) {
      if (!closed) onSource(url, false, describe(err), false);
    }
  };

  const started: Promise<void>[] = [];
  const pollNow = new Map<string, () => void>();
  for (const s of polled) {
    const source = sources.find((x) => x.name === s.url) as Source;
    const ca = await caOf(s.ca);
    pollNow.set(s.url, () => {
      void poll(source, s.url, ca, s.interval);
    });
    const loop = (): void => {
      source.timer = setTimeout(() => {
        void poll(source, s.url, ca, s.interval).finally(() => {
          if (!closed) loop();
        });
      }, s.interval);
      source.timer.unref();
    };
    const first = poll(source, s.url, ca, s.interval).finally(() => {
      if (!closed) loop();
    });
    // A first start waits for the first answer; a reload keeps the carried-over CRL and polls in the background.
    if (!source.bundle) started.push(first);
  }
  await Promise.all(started);

  for (const s of cfg.sources) {
    if (!('feed' in s)) continue;
    const feed = feeds.find((f) => f.name === s.feed) as Feed;
    followFeed(feed, await caOf(s.ca), () => {
      for (const p of polled) if (p.feed === s.feed) pollNow.get(p.url)?.();
    });
  }

  /**
   * Follows one feed until closed. Events arriving together are applied as one change; after a
   * disconnect the CRLs are polled at once and the stream is resumed from the last event id.
   */
  function followFeed(feed: Feed, ca: Buffer | undefined, pollCrls: () => void): void {
    const client = new CaClient({ url: feed.name, ca: ca ?? '', timeoutMs: 60_000 });
    let backoff: number = FEED_BACKOFF.initialMs;
    let pending = false;
    const notify = (): void => {
      if (pending) return;
      pending = true;
      setImmediate(() => {
        pending = false;
        if (!closed) onSource(feed.name, true, undefined, true);
      });
    };
    const connect = (): void => {
      if (closed) return;
      const abort = new AbortController();
      feed.abort = abort;
      client
        .followRevocations(
          (event, id) => {
            backoff = FEED_BACKOFF.initialMs;
            if (id !== undefined) feed.lastEventId = id;
            const at = now();
            const held = feed.revoked.size;
            sweepFeed(feed, at);
            if (feed.revoked.size !== held) notify();
            const parsed = event.notAfter === undefined ? NaN : Date.parse(event.notAfter);
            const notAfter = Number.isNaN(parsed) ? Infinity : parsed; // kept for good when the CA does not say
            if (notAfter < at) return; // already refused as expired before revocation is asked
            const serial = stripZeros(event.serial);
            let entry = feed.revoked.get(serial);
            if (!entry) {
              if (feed.revoked.size >= MAX_FEED_ENTRIES) {
                const oldest = feed.revoked.keys().next();
                if (oldest.done !== true) feed.revoked.delete(oldest.value);
              }
              feed.revoked.set(serial, (entry = { issuers: new Set(), notAfter }));
            } else if (notAfter > entry.notAfter) entry.notAfter = notAfter;
            if (notAfter < feed.nextExpiry) feed.nextExpiry = notAfter;
            entry.issuers.add(event.issuerFingerprint.toLowerCase());
            notify();
          },
          { signal: abort.signal, ...(feed.lastEventId === undefined ? {} : { lastEventId: feed.lastEventId }) },
        )
        .then(
          () => {
            if (!closed) onSource(feed.name, false, 'the revocation feed ended', false);
          },
          (err: unknown) => {
            if (!closed) onSource(feed.name, false, err instanceof Error ? err.message : String(err), false);
          },
        )
        .finally(() => {
          if (closed) return;
          pollCrls();
          const wait = backoff / 2 + Math.random() * (backoff / 2);
          backoff = Math.min(backoff * 2, FEED_BACKOFF.maxMs);
          feed.timer = setTimeout(connect, wait);
          feed.timer.unref();
        });
    };
    connect();
  }

  const feedRevoked = (serial: string, issuerFp: string): boolean => {
    for (const f of feeds) if (f.revoked.get(stripZeros(serial))?.issuers.has(issuerFp)) return true;
    return false;
  };

  const verified = new Map<string, boolean>();
  /** Fingerprints of the issuer certificates already in `known`. */
  const learnt = new Set<string>();
  const crlsFor = (issuerFp: string, issuerDer: Uint8Array): LoadedCrl[] => {
    const out: LoadedCrl[] = [];
    for (const s of sources) {
      for (const crl of s.bundle?.crls ?? []) {
        const key = `${crl.fingerprint}>${issuerFp}`;
        let ok = verified.get(key);
        if (ok === undefined) {
          ok = verifyCrlSignature(crl.parsed, issuerDer);
          if (verified.size > 4096) verified.clear();
          verified.set(key, ok);
          if (ok) crl.verdict = 'authentic';
        }
        if (ok) out.push(crl);
      }
    }
    return out;
  };

  const revocation: Revocation & { sources: readonly Source[]; feeds: readonly Feed[]; known: KnownIssuers } = {
    sources,
    feeds,
    known,
    check(result, chain, anchors, at) {
      if (sources.length === 0) return undefined;
      for (let i = 0; i + 1 < result.path.length; i++) {
        const cert = result.path[i];
        const issuer = result.path[i + 1];
        if (cert && issuer && feedRevoked(cert.serial, issuer.fingerprint))
          return {
            reason: 'REVOKED',
            detail: `serial ${cert.serial} is revoked by ${issuer.subject} (revocation feed)`,
          };
      }
      const derByFp = new Map<string, Uint8Array>();
      for (const der of [chain.leaf, ...chain.intermediates, ...anchors])
        derByFp.set(createHash('sha256').update(der).digest('hex'), der);
      const path = result.path;
      for (let i = 0; i + 1 < path.length; i++) {
        const cert = path[i];
        const issuer = path[i + 1];
        if (!cert || !issuer) break;
        const issuerDer = derByFp.get(issuer.fingerprint);
        if (issuerDer && !learnt.has(issuer.fingerprint)) {
          if (learnt.size > 4096) learnt.clear();
          learnt.add(issuer.fingerprint);
          learnIssuer(known, issuerDer);
        }
        const required = cfg.require === 'all' || i === 0;
        const open = failOpen.has(issuer.subject);
        const crls = issuerDer ? crlsFor(issuer.fingerprint, issuerDer) : [];
        const newest = crls.reduce<LoadedCrl | undefined>(
          (a, c) => (a === undefined || c.parsed.thisUpdate > a.parsed.thisUpdate ? c : a),
          undefined,
        );
        if (!newest) {
          if (required && !open)
            return { reason: 'CRL_MISSING', detail: `no verified CRL from ${issuer.subject} for certificate ${i}` };
          continue;
        }
        if (newest.revoked.has(stripZeros(cert.serial)))
          return { reason: 'REVOKED', detail: `serial ${cert.serial} is revoked by ${issuer.subject}` };
        if (at.getTime() > newest.parsed.nextUpdate.getTime() + cfg.grace && !open)
          return {
            reason: 'CRL_STALE',
            detail: `the CRL of ${issuer.subject} expired at ${newest.parsed.nextUpdate.toISOString()} (grace passed)`,
          };
      }
      return undefined;
    },
    files: () => sources.filter((s) => s.kind === 'file').map((s) => s.name),
    ready: () => sources.every((s) => s.bundle !== undefined),
    feedEntries: () => feeds.map((f) => ({ feed: f.name, entries: f.revoked.size })),
    close: () => {
      closed = true;
      for (const s of sources) if (s.timer) clearTimeout(s.timer);
      for (const f of feeds) {
        if (f.timer) clearTimeout(f.timer);
        f.abort?.abort();
      }
    },
  };
  return revocation;
}
