import { createHash, type KeyObject } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { createSecureContext, type SecureContext, type SecureContextOptions } from 'node:tls';
import { CaClient, bootstrapCa } from '../ca-client/index.js';
import type { CertificateResponse } from '../contract/index.js';
import { MutualError, toMutualError } from '../errors/index.js';
import { readCredentialPair, readFileCapped, writeCredentialPair } from '../files/index.js';
import { extractIdentity, type Identity } from '../identity/index.js';
import { exportPrivateKeyPem, importPrivateKey, publicKeyMatches, type KeyType } from '../keys/index.js';
import { encodePem, readDerObjects } from '../pem/index.js';
import {
  DEFAULT_RENEWAL_POLICY,
  backoffDelayMs,
  planRenewals,
  type PlannedRenewal,
  type RenewalPolicy,
} from '../renewal/index.js';
import { newKeyAndCsr } from './csr.js';

/** Where time comes from (tests pass a clock they move by hand). */
export interface CredentialsClock {
  now(): Date;
}

/** How the source waits (tests pass timers that fire when their clock is moved). */
export interface CredentialsTimers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface CreateCredentialsOptions {
  readonly ca: {
    /** Base URL of the mutual CA (https). */
    readonly url: string;
    /** PEM of the CA's root: trusts the CA's TLS certificate and (by default) peers of mTLS helpers. */
    readonly root?: string | Uint8Array;
    /** SHA-256 of the root (hex): the root is fetched once and kept only if it matches. */
    readonly fingerprint?: string;
    readonly timeoutMs?: number;
  };
  /** One-time enrollment token (the token decides names and profile). */
  readonly token?: string;
  /** File holding the token; read when an enrollment is attempted (a new token in it is used). */
  readonly tokenFile?: string;
  /** A certificate chain (leaf first) and key to start from; renewed over mTLS like any other. */
  readonly initial?: { readonly certPem: string | Uint8Array; readonly keyPem: string | Uint8Array };
  /**
   * Keep the certificate on disk: every new certificate is written with its key as a crash-safe
   * pair (both swapped together, key 0600), and a restart starts from it instead of enrolling
   * again (a token works once). Unreadable or mismatched files are ignored.
   */
  readonly persist?: { readonly cert: string; readonly key: string; readonly chain?: string };
  /** Type of every new key (one per enrollment and renewal). Default p256. */
  readonly keyType?: KeyType;
  /** Requested lifetime (`24h`); the CA caps it. Default: the CA's. */
  readonly lifetime?: string;
  /** Overrides of the renewal policy (2/3 of the lifetime ±5 %, overdue at 90 %, backoff 1 s … 5 min). */
  readonly policy?: Partial<RenewalPolicy>;
  /** A name for logs and the stable jitter of the first enrollment. */
  readonly name?: string;
  readonly clock?: CredentialsClock;
  readonly timers?: CredentialsTimers;
  /** Uniform random numbers in [0, 1) for the backoff jitter. */
  readonly random?: () => number;
  readonly onRotate?: (next: CurrentCredentials, previous: CurrentCredentials | undefined) => void;
  readonly onError?: (error: MutualError, status: CredentialsStatus) => void;
  readonly signal?: AbortSignal;
  /**
   * After each renewal (once 'rotated' listeners have swapped it in), revoke the certificate it
   * replaced, reason superseded, presenting that certificate (`POST /v1/revoke` as the holder): a
   * copy of the old key is then worth nothing. 'revoked' (serial) on success; a failure is an
   * 'error' (the renewal itself succeeded). Default false.
   */
  readonly revokeReplaced?: boolean;
}

/** The certificate in use: what a TLS server or client presents. */
export interface CurrentCredentials {
  /** PEM of the leaf only. */
  readonly certPem: string;
  /** PEM of the leaf followed by its intermediates: what to present. */
  readonly chainPem: string;
  readonly keyPem: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** Hex serial, lowercase, no leading zeros. */
  readonly serial: string;
  /** Read from the leaf's DER. */
  readonly identity: Identity;
  /** DER of the leaf. */
  readonly leafDer: Uint8Array;
}

export interface CredentialsStatus {
  readonly state: 'starting' | 'fresh' | 'due' | 'overdue' | 'expired' | 'missing' | 'stuck' | 'stopped';
  /** Consecutive failed attempts since the last success. */
  readonly failures: number;
  readonly nextAttemptAt: Date | null;
  readonly renewAt: Date | null;
  readonly overdueAt: Date | null;
  readonly notAfter: Date | null;
  readonly lastError: MutualError | null;
}

export interface OverdueEvent {
  readonly serial: string;
  readonly notAfter: Date;
  readonly overdueAt: Date;
  readonly failures: number;
  readonly lastError: MutualError | null;
}

export interface Credentials {
  /** The certificate in use; ERR_CREDENTIALS_NOT_READY before the first one. */
  current(): CurrentCredentials;
  /** Resolves with the first certificate; rejects when none can be had (ERR_CREDENTIALS_CANNOT_ENROLL, …). */
  ready(): Promise<CurrentCredentials>;
  /** A TLS context presenting the current certificate (cached per certificate). */
  secureContext(extra?: SecureContextOptions): SecureContext;
  /** PEM of the CA's root (known after `ready()`): the default trust of the mTLS helpers. */
  rootPem(): string;
  /** Renew (or enroll) now, outside the schedule; the schedule continues from the result. */
  renewNow(): Promise<CurrentCredentials>;
  status(): CredentialsStatus;
  /** The clock the source plans with (the mTLS helpers verify peers at its time). */
  readonly clock: CredentialsClock;
  /** Stops planning; the current certificate stays usable. */
  stop(): void;
  /**
   * 'rotated' (next, previous): a new certificate is in use. 'error' (MutualError, status): an
   * attempt failed and the current certificate was kept — emitted only when someone listens.
   * 'overdue' (OverdueEvent): past 90 % of the lifetime without a renewal: act now.
   * 'revoked' (serial): with `revokeReplaced`, the CA revoked the certificate a renewal replaced.
   */
  on(event: 'rotated', listener: (next: CurrentCredentials, previous: CurrentCredentials | undefined) => void): this;
  on(event: 'error', listener: (error: MutualError, status: CredentialsStatus) => void): this;
  on(event: 'overdue', listener: (event: OverdueEvent) => void): this;
  on(event: 'revoked', listener: (serial: string) => void): this;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  off(event: 'rotated' | 'error' | 'overdue' | 'revoked', listener: (...args: any[]) => void): this;
  once(event: 'rotated', listener: (next: CurrentCredentials, previous: CurrentCredentials | undefined) => void): this;
  once(event: 'error', listener: (error: MutualError, status: CredentialsStatus) => void): this;
  once(event: 'overdue', listener: (event: OverdueEvent) => void): this;
  once(event: 'revoked', listener: (serial: string) => void): this;
}

const MAX_TIMER_MS = 2 ** 31 - 1;

const systemClock: CredentialsClock = { now: () => new Date() };
const systemTimers: CredentialsTimers = {
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref();
    return t;
  },
  clearTimeout: (h) => {
    clearTimeout(h as NodeJS.Timeout);
  },
};

function invalidOptions(message: string): MutualError {
  return new MutualError('ERR_CREDENTIALS_OPTIONS_INVALID', { message });
}

const text = (v: string | Uint8Array): string => (typeof v === 'string' ? v : Buffer.from(v).toString('utf8'));

/** Builds the in-use form of a chain and key, checking that they belong together. */
function materialFrom(chain: readonly Uint8Array[], privateKey: KeyObject): CurrentCredentials {
  const leafDer = chain[0];
  if (leafDer === undefined) throw new MutualError('ERR_CREDENTIALS_ISSUED_INVALID', { message: 'No certificate.' });
  let identity: Identity;
  try {
    if (!publicKeyMatches(privateKey, leafDer)) throw new Error('the key does not match the certificate');
    identity = extractIdentity(leafDer);
  } catch (cause) {
    throw new MutualError('ERR_CREDENTIALS_ISSUED_INVALID', { cause });
  }
  const pems = chain.map((d) => encodePem(d, 'CERTIFICATE').trim());
  return Object.freeze({
    certPem: `${pems[0] ?? ''}\n`,
    chainPem: `${pems.join('\n')}\n`,
    keyPem: exportPrivateKeyPem(privateKey),
    notBefore: identity.notBefore,
    notAfter: identity.notAfter,
    serial: identity.serialHex,
    identity,
    leafDer,
  });
}

function chainOf(res: CertificateResponse): Uint8Array[] {
  const pem = res.chain.length > 0 ? res.chain.join('\n') : res.certificate;
  return readDerObjects(Buffer.from(pem), ['CERTIFICATE']);
}

const tokenKey = (token: string): string => createHash('sha256').update(token).digest('hex');

class CredentialSource extends EventEmitter implements Credentials {
  readonly clock: CredentialsClock;
  readonly #o: CreateCredentialsOptions;
  readonly #timers: CredentialsTimers;
  readonly #random: () => number;
  readonly #policy: RenewalPolicy;
  readonly #name: string;
  #current: CurrentCredentials | undefined;
  #root: string | undefined;
  #failures = 0;
  #retryAt: Date | undefined;
  #lastError: MutualError | null = null;
  #timer: unknown;
  #inFlight: Promise<CurrentCredentials> | undefined;
  #stopped = false;
  #stuck = false;
  #overdueSignalled: string | undefined;
  #lastPlan: PlannedRenewal | undefined;
  #tokenFromFile: string | undefined;
  /** Tokens the CA has consumed or refused (by hash): a token works once. */
  readonly #spent = new Set<string>();
  readonly #ready: Promise<CurrentCredentials>;
  #resolveReady!: (c: CurrentCredentials) => void;
  #rejectReady!: (e: MutualError) => void;
  #contexts = new WeakMap<CurrentCredentials, SecureContext>();

  constructor(o: CreateCredentialsOptions) {
    super();
    this.setMaxListeners(0); // every server and tunnel using the source listens for 'rotated'
    this.#o = o;
    this.clock = o.clock ?? systemClock;
    this.#timers = o.timers ?? systemTimers;
    this.#random = o.random ?? Math.random;
    this.#policy = { ...DEFAULT_RENEWAL_POLICY, ...(o.policy ?? {}) };
    this.#name = o.name ?? o.ca.url;
    this.#ready = new Promise((resolve, reject) => {
      this.#resolveReady = resolve;
      this.#rejectReady = reject;
    });
    this.#ready.catch(() => undefined); // a rejection nobody awaits is not a crash
    if (o.ca.root !== undefined) this.#root = text(o.ca.root);
    if (o.initial !== undefined) {
      const chain = readDerObjects(Buffer.from(text(o.initial.certPem)), ['CERTIFICATE']);
      this.#current = materialFrom(chain, importPrivateKey(o.initial.keyPem));
      if (this.#root !== undefined) this.#resolveReady(this.#current);
    }
    o.signal?.addEventListener(
      'abort',
      () => {
        this.stop();
      },
      { once: true },
    );
  }

  start(): this {
    void this.#boot();
    return this;
  }

  async #boot(): Promise<void> {
    const persist = this.#o.persist;
    if (persist !== undefined && this.#current === undefined) {
      try {
        const pair = await readCredentialPair(persist);
        const chain = readDerObjects(Buffer.from(`${pair.certPem}\n${pair.chainPem}`), ['CERTIFICATE']);
        this.#current = materialFrom(chain, importPrivateKey(pair.keyPem));
        if (this.#root !== undefined) this.#resolveReady(this.#current);
      } catch {
        // Nothing usable on disk: enroll (or renew from `initial`) as if there were no files.
      }
    }
    await this.#tick();
  }

  async #persist(next: CurrentCredentials): Promise<void> {
    const persist = this.#o.persist;
    if (persist === undefined) return;
    const [leaf, ...rest] = next.chainPem.trim().split(/\n(?=-----BEGIN)/);
    await writeCredentialPair(persist, {
      certPem: `${leaf ?? ''}\n`,
      keyPem: next.keyPem,
      chainPem: rest.length === 0 ? '' : `${rest.join('\n')}\n`,
      version: next.serial,
    });
  }

  current(): CurrentCredentials {
    if (this.#current === undefined || this.#root === undefined) throw new MutualError('ERR_CREDENTIALS_NOT_READY');
    return this.#current;
  }

  ready(): Promise<CurrentCredentials> {
    return this.#ready;
  }

  rootPem(): string {
    if (this.#root === undefined) throw new MutualError('ERR_CREDENTIALS_NOT_READY');
    return this.#root;
  }

  secureContext(extra: SecureContextOptions = {}): SecureContext {
    const cur = this.current();
    const plain = Object.keys(extra).length === 0;
    const cached = plain ? this.#contexts.get(cur) : undefined;
    if (cached) return cached;
    const ctx = createSecureContext({ ...extra, cert: cur.chainPem, key: cur.keyPem });
    if (plain) this.#contexts.set(cur, ctx);
    return ctx;
  }

  status(): CredentialsStatus {
    const p = this.#lastPlan;
    const state: CredentialsStatus['state'] = this.#stopped
      ? 'stopped'
      : this.#stuck
        ? 'stuck'
        : p === undefined
          ? 'starting'
          : p.status;
    return {
      state,
      failures: this.#failures,
      nextAttemptAt: this.#stuck || this.#stopped ? null : (this.#retryAt ?? p?.at ?? null),
      renewAt: p?.renewAt ?? null,
      overdueAt: p?.overdueAt ?? null,
      notAfter: this.#current?.notAfter ?? null,
      lastError: this.#lastError,
    };
  }

  renewNow(): Promise<CurrentCredentials> {
    if (this.#inFlight) return this.#inFlight;
    return this.#attempt(this.#current === undefined ? 'enroll' : 'renew', true);
  }

  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    if (this.#timer !== undefined) this.#timers.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#rejectReady(new MutualError('ERR_CREDENTIALS_STOPPED'));
  }

  // ---- planning ------------------------------------------------------------------------------

  /** The token to enroll with, if one is known and not spent (a token file is read by `#refreshToken`). */
  #availableToken(): string | undefined {
    const token = (this.#o.token ?? this.#tokenFromFile)?.trim();
    if (token === undefined || token === '' || this.#spent.has(tokenKey(token))) return undefined;
    return token;
  }

  async #refreshToken(): Promise<void> {
    if (this.#o.tokenFile === undefined) return;
    try {
      this.#tokenFromFile = (await readFileCapped(this.#o.tokenFile, 16 * 1024)).toString('utf8');
    } catch {
      this.#tokenFromFile = undefined;
    }
  }

  /** Reads the token file when an enrollment may be needed, then plans. */
  async #tick(): Promise<void> {
    if (this.#stopped || this.#inFlight) return;
    const cur = this.#current;
    if (cur !== undefined && this.#root === undefined) {
      // Started from a certificate with only the root's fingerprint: fetch and pin the root first.
      try {
        await this.#ensureRoot();
        this.#resolveReady(cur);
      } catch (err) {
        this.#failures += 1;
        this.#lastError = toMutualError(err);
        this.#retryAt = new Date(
          this.clock.now().getTime() + backoffDelayMs(this.#failures, this.#random(), this.#policy),
        );
        this.#report(this.#lastError);
        this.#timer = this.#timers.setTimeout(
          () => {
            this.#timer = undefined;
            void this.#tick();
          },
          Math.max(0, this.#retryAt.getTime() - this.clock.now().getTime()),
        );
        return;
      }
    }
    if (cur === undefined || this.clock.now().getTime() >= cur.notAfter.getTime()) await this.#refreshToken();
    this.#plan();
  }

  /** Plans at the clock's time: attempt now, or set one timer for the next point. */
  #plan(): void {
    if (this.#stopped || this.#inFlight) return;
    if (this.#timer !== undefined) this.#timers.clearTimeout(this.#timer);
    this.#timer = undefined;
    const now = this.clock.now();
    const cur = this.#current;
    const [item] = planRenewals(
      [
        {
          name: this.#name,
          current:
            cur === undefined ? undefined : { notBefore: cur.notBefore, notAfter: cur.notAfter, serial: cur.serial },
          canEnroll: this.#availableToken() !== undefined,
          failures: this.#failures,
          retryAt: this.#retryAt,
        },
      ],
      now,
      this.#policy,
    ).items;
    if (item === undefined) return;
    this.#lastPlan = item;
    if (cur !== undefined && (item.status === 'overdue' || item.status === 'expired')) this.#signalOverdue(cur, item);
    if (item.action === 'stuck') {
      this.#stuck = true;
      const error = this.#lastError ?? new MutualError('ERR_CREDENTIALS_CANNOT_ENROLL');
      const stuck =
        error.code === 'ERR_CREDENTIALS_CANNOT_ENROLL'
          ? error
          : new MutualError('ERR_CREDENTIALS_CANNOT_ENROLL', { details: { last: error.code }, cause: error });
      this.#rejectReady(stuck);
      this.#report(stuck);
      // A token file may get a new token: look again after the longest backoff.
      if (this.#o.tokenFile !== undefined) {
        this.#timer = this.#timers.setTimeout(() => {
          this.#timer = undefined;
          void this.#tick();
        }, this.#policy.backoffMaxMs);
      }
      return;
    }
    this.#stuck = false;
    if (item.action !== 'wait' && item.at.getTime() <= now.getTime()) {
      void this.#attempt(item.action, false).catch(() => undefined);
      return;
    }
    // Wake at the planned time, or earlier to raise the overdue signal on time.
    let wake = item.at.getTime();
    if (cur !== undefined && item.overdueAt !== null && this.#overdueSignalled !== cur.serial) {
      if (item.overdueAt.getTime() > now.getTime()) wake = Math.min(wake, item.overdueAt.getTime());
    }
    const delay = Math.min(MAX_TIMER_MS, Math.max(0, wake - now.getTime()));
    this.#timer = this.#timers.setTimeout(() => {
      this.#timer = undefined;
      void this.#tick();
    }, delay);
  }

  #signalOverdue(cur: CurrentCredentials, item: PlannedRenewal): void {
    if (this.#overdueSignalled === cur.serial) return;
    this.#overdueSignalled = cur.serial;
    const event: OverdueEvent = {
      serial: cur.serial,
      notAfter: cur.notAfter,
      overdueAt: item.overdueAt ?? cur.notAfter,
      failures: this.#failures,
      lastError: this.#lastError,
    };
    this.emit('overdue', event);
  }

  #report(error: MutualError): void {
    this.#o.onError?.(error, this.status());
    if (this.listenerCount('error') > 0) this.emit('error', error, this.status());
  }

  // ---- effects -------------------------------------------------------------------------------

  #attempt(action: 'enroll' | 'renew', forced: boolean): Promise<CurrentCredentials> {
    // The certificate a renewal presents (and replaces); an enrollment replaces nothing it could revoke.
    const renewedFrom = action === 'renew' ? this.#current : undefined;
    const run = this.#attemptOnce(action)
      .then(async (next) => {
        // A new certificate is used even when it cannot be written: the old one stays valid on disk.
        await this.#persist(next).catch((err: unknown) => {
          this.#report(toMutualError(err));
        });
        return next;
      })
      .then(
        (next) => {
          this.#inFlight = undefined;
          this.#failures = 0;
          this.#retryAt = undefined;
          this.#lastError = null;
          this.#stuck = false;
          const previous = this.#current;
          this.#current = next;
          this.#resolveReady(next);
          this.#o.onRotate?.(next, previous);
          this.#plan();
          this.emit('rotated', next, previous);
          if (this.#o.revokeReplaced === true && renewedFrom !== undefined) this.#revokeReplaced(renewedFrom);
          return next;
        },
        (err: unknown) => {
          this.#inFlight = undefined;
          const error = toMutualError(err);
          this.#failures += 1;
          this.#lastError = error;
          this.#retryAt = new Date(
            this.clock.now().getTime() + backoffDelayMs(this.#failures, this.#random(), this.#policy),
          );
          this.#report(error);
          this.#plan();
          throw error;
        },
      );
    this.#inFlight = run;
    if (!forced) run.catch(() => undefined);
    return run;
  }

  /** revokeReplaced: the replaced certificate revoked as its holder, in the background. */
  #revokeReplaced(replaced: CurrentCredentials): void {
    const root = this.#root;
    if (root === undefined) return;
    const timeout = this.#o.ca.timeoutMs === undefined ? {} : { timeoutMs: this.#o.ca.timeoutMs };
    new CaClient({ url: this.#o.ca.url, ca: root, cert: replaced.chainPem, key: replaced.keyPem, ...timeout })
      .revoke({ serial: replaced.serial, reason: 'superseded' })
      .then(
        () => {
          this.emit('revoked', replaced.serial);
        },
        (err: unknown) => {
          this.#report(toMutualError(err));
        },
      );
  }

  async #ensureRoot(): Promise<string> {
    if (this.#root !== undefined) return this.#root;
    const fp = this.#o.ca.fingerprint;
    if (fp === undefined) throw invalidOptions('Give ca.root (PEM) or ca.fingerprint.');
    const { rootPem } = await bootstrapCa(this.#o.ca.url, fp, this.#o.ca.timeoutMs);
    this.#root = rootPem;
    return rootPem;
  }

  async #attemptOnce(action: 'enroll' | 'renew'): Promise<CurrentCredentials> {
    if (this.#stopped) throw new MutualError('ERR_CREDENTIALS_STOPPED');
    const root = await this.#ensureRoot();
    const keyType = this.#o.keyType ?? 'p256';
    const lifetime = this.#o.lifetime === undefined ? {} : { lifetime: this.#o.lifetime };
    const timeout = this.#o.ca.timeoutMs === undefined ? {} : { timeoutMs: this.#o.ca.timeoutMs };
    const cur = this.#current;
    if (action === 'renew' && cur !== undefined) {
      const client = new CaClient({ url: this.#o.ca.url, ca: root, cert: cur.chainPem, key: cur.keyPem, ...timeout });
      const { privateKey, csrPem } = newKeyAndCsr(keyType);
      const res = await client.renew({ csr: csrPem, ...lifetime });
      return materialFrom(chainOf(res), privateKey);
    }
    await this.#refreshToken();
    const token = this.#availableToken();
    if (token === undefined) throw new MutualError('ERR_CREDENTIALS_CANNOT_ENROLL');
    const client = new CaClient({ url: this.#o.ca.url, ca: root, ...timeout });
    const { privateKey, csrPem } = newKeyAndCsr(keyType);
    try {
      const res = await client.sign({ token, csr: csrPem, ...lifetime });
      this.#spent.add(tokenKey(token));
      return materialFrom(chainOf(res), privateKey);
    } catch (err) {
      // The CA answered and refused: this token will not work again (it is used, expired or invalid).
      if (err instanceof MutualError && err.status >= 400 && err.status < 500) this.#spent.add(tokenKey(token));
      throw err;
    }
  }
}

/**
 * Self-renewing credentials: enrolls with a one-time token (or starts from a certificate), then
 * renews over mTLS with a new key at 2/3 of the lifetime (stable jitter), retries with exponential
 * backoff while the CA is unreachable, never drops the current certificate on failure, and says
 * `overdue` past 90 %. Await `ready()` before using `current()`.
 */
export function createCredentials(options: CreateCredentialsOptions): Credentials {
  let url: URL;
  try {
    url = new URL(options.ca.url);
  } catch {
    throw invalidOptions('ca.url must be an https URL.');
  }
  if (url.protocol !== 'https:') throw invalidOptions('ca.url must be an https URL.');
  if (options.ca.root === undefined && options.ca.fingerprint === undefined) {
    throw invalidOptions('Give ca.root (PEM) or ca.fingerprint.');
  }
  if (options.token !== undefined && options.tokenFile !== undefined) {
    throw invalidOptions('Give token or tokenFile, not both.');
  }
  if (
    options.token === undefined &&
    options.tokenFile === undefined &&
    options.initial === undefined &&
    options.persist === undefined
  ) {
    throw invalidOptions('Give a token, a tokenFile, an initial certificate and key, or persisted files.');
  }
  return new CredentialSource(options).start();
}
