import { publishIdentity } from './identities.js';
import { promises as fs } from 'node:fs';
import {
  DEFAULT_RENEWAL_POLICY,
  MutualError,
  backoffDelayMs,
  exportPrivateKeyPem,
  extractIdentity,
  formatDuration,
  planRenewals,
  readCredentialPair,
  readDerObjects,
  toMutualError,
  writeCredentialPair,
  writeFileAtomic,
  type KeyType,
  type ManagedCertificateState,
  type PlannedRenewal,
  type RenewalPlan,
  type RenewalPolicy,
} from '@mutual/sdk';
import type { CertificateResponse, ReportRequest } from '@mutual/sdk/contract';
import type { AgentCertificateConfig, LoadedAgentConfig, ReloadAction } from './config.js';
import type { AgentCa, PairIdentity } from './ca.js';
import { endorsedRoots, type TrustedRoots } from './roots.js';
import {
  emptyCertificateState,
  readAgentState,
  writeAgentState,
  type AgentState,
  type CertificateState,
} from './state.js';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type AgentLog = (level: LogLevel, message: string, fields?: Record<string, unknown>) => void;

export interface AgentClock {
  now(): Date;
}

export interface AgentTimers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

type CreateKeyAndCsr = (
  keyType: KeyType,
  names: { dns: readonly string[]; ip: readonly string[]; uri: readonly string[]; email: readonly string[] },
) => Promise<{ privateKey: import('node:crypto').KeyObject; csrPem: string }>;

export interface AgentDeps {
  readonly config: LoadedAgentConfig;
  readonly ca: AgentCa;
  readonly clock: AgentClock;
  readonly log: AgentLog;
  /** The environment, for `token: { env: NAME }` (the agent never reads process.env itself). */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** [0, 1) — backoff jitter. */
  readonly random?: () => number;
  readonly timers?: AgentTimers;
  readonly createKeyAndCsr?: CreateKeyAndCsr;
  readonly reload?: (action: ReloadAction, resolve: (p: string) => string) => Promise<string>;
  /** Process id written to the state file. */
  readonly pid?: number;
  /**
   * Where each managed certificate is published as an identity for `mutual curl/doctor --identity`
   * (`<dir>/<name>/{cert,key,ca}.pem`); absent: not published.
   */
  readonly identities?: { readonly dir: string; readonly rootPem: string | Uint8Array };
  /** The roots this agent trusts (its CA root file and trust bundle): their SHA-256 go with every report. */
  readonly trust?: TrustedRoots;
  /** Where the agent writes the roots it trusts when it learns one (`ca.trustBundle`): set, it follows root rotations. */
  readonly trustBundle?: string;
}

/** One certificate as the agent sees it now (for status, metrics and reports). */
export interface CertificateView {
  readonly name: string;
  readonly path: string;
  readonly serial: string | null;
  readonly notAfter: Date | null;
  readonly renewAt: Date | null;
  readonly overdueAt: Date | null;
  readonly status: PlannedRenewal['status'];
  readonly overdue: boolean;
  readonly failures: number;
  readonly retryAt: Date | null;
  readonly lastRenewalAt: Date | null;
  readonly lastError: string | null;
  readonly renewals: { success: number; failure: number };
}

interface OnDisk {
  readonly serial: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly names: { dns: string[]; ip: string[]; uri: string[]; email: string[] };
  readonly identity: PairIdentity;
}

const MAX_SLEEP_MS = 60 * 60_000;

/** The chain a pair presents: the certificate file, plus the chain file when it is not in it already. */
const presentedChain = (pair: { certPem: string; chainPem: string }): string =>
  pair.chainPem.trim() === '' || pair.certPem.includes(pair.chainPem.trim())
    ? pair.certPem
    : pair.certPem + pair.chainPem;

/**
 * The renewal agent: plan (pure, `planRenewals`), then apply what is due (enroll with a token or
 * renew over mTLS, always with a new key; write the pair crash-safely; run the reload actions),
 * then sleep until the next point in the plan. A failure never touches the certificate in place:
 * it is retried with exponential backoff, and past the overdue point it raises an alert.
 */
export class RenewalAgent {
  readonly #d: AgentDeps;
  readonly #policy: RenewalPolicy;
  #state: AgentState;
  #views: CertificateView[] = [];
  readonly #counts = new Map<string, { success: number; failure: number }>();
  readonly #alerted = new Set<string>();
  readonly #revocations = { success: 0, failure: 0 };
  /** Certificates whose last renewal the CA refused (not merely failed to answer). */
  readonly #refused = new Set<string>();
  #timer: unknown = undefined;
  #running: Promise<unknown> | null = null;
  #stopped = false;
  #lastReportAt = 0;
  #lastRootsAt = 0;
  #reportSilenced = false;
  #pendingReports = new Set<Promise<void>>();
  /** Resolvers waiting for the next completed tick (tests). */
  #tickWaiters: Array<() => void> = [];

  constructor(deps: AgentDeps) {
    this.#d = deps;
    const c = deps.config.config;
    this.#policy = {
      ...DEFAULT_RENEWAL_POLICY,
      overdueFraction: c.overdueAt,
      backoffBaseMs: c.backoff.base,
      backoffMaxMs: c.backoff.max,
    };
    this.#state = { version: 1, agent: c.name, pid: deps.pid ?? 0, updatedAt: '', certificates: {} };
  }

  /** Loads the state file written by a previous run (failures, backoff and local validity survive restarts). */
  async init(): Promise<void> {
    const saved = await readAgentState(this.#d.config.stateFile).catch((err: unknown) => {
      this.#d.log('warn', 'state file unreadable; starting afresh', { error: toMutualError(err).code });
      return null;
    });
    if (saved !== null) this.#state = { ...saved, agent: this.#d.config.config.name, pid: this.#d.pid ?? 0 };
  }

  /** The certificates as of the last tick. */
  views(): readonly CertificateView[] {
    return this.#views;
  }

  /** One pass: plan, apply what is due, plan again, record. Returns the plan after applying. */
  async tick(): Promise<RenewalPlan> {
    if (this.#d.config.config.revokeOnRemove) await this.#revokeRemoved();
    const before = await this.#inspectAll();
    const plan = planRenewals(
      before.map((b) => b.managed),
      this.#d.clock.now(),
      this.#policy,
    );
    let acted = false;
    for (const [i, item] of plan.items.entries()) {
      const entry = before[i];
      if (entry === undefined || this.#stopped) continue;
      if ((item.action === 'enroll' || item.action === 'renew') && item.at.getTime() <= this.#d.clock.now().getTime()) {
        acted = true;
        await this.#apply(entry.config, item, entry.disk);
      } else if (item.action === 'stuck') {
        this.#d.log('error', 'certificate cannot be renewed: no certificate in place and no token', {
          certificate: item.name,
          alert: true,
        });
      }
    }
    const after = acted ? await this.#inspectAll() : before;
    const now = this.#d.clock.now();
    const finalPlan = planRenewals(
      after.map((a) => a.managed),
      now,
      this.#policy,
    );
    this.#record(finalPlan, after, now);
    await this.#persist(now);
    this.#maybeReport(now, acted);
    for (const w of this.#tickWaiters.splice(0)) w();
    return finalPlan;
  }

  /** Runs ticks until stop(): each sleeps until the plan's next point (or the report interval). */
  start(): void {
    const timers = this.#d.timers ?? defaultTimers;
    const loop = async (): Promise<void> => {
      if (this.#stopped) return;
      let plan: RenewalPlan | null = null;
      try {
        plan = await this.tick();
      } catch (err) {
        this.#d.log('error', 'agent tick failed', { error: toMutualError(err).message });
      }
      if (this.#halted()) return;
      const now = this.#d.clock.now().getTime();
      const c = this.#d.config.config;
      // A pass that failed as a whole (say, an unreadable directory) is retried soon, not in an hour.
      let wait =
        plan === null
          ? Math.min(60_000, c.backoff.max)
          : plan.nextWakeAt
            ? plan.nextWakeAt.getTime() - now
            : MAX_SLEEP_MS;
      if (c.report.enabled) wait = Math.min(wait, Math.max(0, this.#lastReportAt + c.report.interval - now));
      wait = Math.max(50, Math.min(MAX_SLEEP_MS, wait));
      this.#timer = timers.setTimeout(() => {
        this.#running = loop();
      }, wait);
    };
    this.#running = loop();
  }

  /** Stops the loop after the tick in progress (a rotation is never cut short by a clean stop). */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== undefined) (this.#d.timers ?? defaultTimers).clearTimeout(this.#timer);
    await this.#running;
    await Promise.allSettled([...this.#pendingReports]);
  }

  #halted(): boolean {
    return this.#stopped;
  }

  /** Resolves after the next tick completes (tests of the loop). */
  nextTick(): Promise<void> {
    return new Promise((resolve) => this.#tickWaiters.push(resolve));
  }

  async #inspectAll(): Promise<
    Array<{ config: AgentCertificateConfig; managed: ManagedCertificateState; disk: OnDisk | null }>
  > {
    const out = [];
    for (const cfg of this.#d.config.config.certificates) {
      const disk = await this.#readDisk(cfg);
      const st = this.#certState(cfg);
      const local =
        disk !== null && st.serial === disk.serial && st.localStart !== null && st.localEnd !== null
          ? { notBefore: new Date(st.localStart), notAfter: new Date(st.localEnd) }
          : disk;
      out.push({
        config: cfg,
        disk,
        managed: {
          name: cfg.name,
          current:
            disk === null || local === null
              ? undefined
              : { serial: disk.serial, notBefore: local.notBefore, notAfter: local.notAfter },
          canEnroll: await this.#tokenAvailable(cfg),
          failures: st.failures,
          retryAt: st.retryAt === null ? undefined : new Date(st.retryAt),
        },
      });
    }
    return out;
  }

  async #readDisk(cfg: AgentCertificateConfig): Promise<OnDisk | null> {
    const r = this.#d.config.resolve;
    try {
      const pair = await readCredentialPair({ cert: r(cfg.cert), key: r(cfg.key) });
      const [leaf] = readDerObjects(Buffer.from(pair.certPem), ['CERTIFICATE']);
      if (leaf === undefined) return null;
      const id = extractIdentity(leaf);
      const chainPem = presentedChain(pair);
      return {
        serial: id.serialHex,
        notBefore: id.notBefore,
        notAfter: id.notAfter,
        names: { dns: id.dnsNames, ip: id.ipAddresses, uri: id.uris, email: id.emails },
        identity: { chainPem, keyPem: pair.keyPem },
      };
    } catch {
      return null;
    }
  }

  #certState(cfg: AgentCertificateConfig): CertificateState {
    let st = this.#state.certificates[cfg.name];
    if (st === undefined) {
      st = emptyCertificateState(this.#d.config.resolve(cfg.cert));
      this.#state.certificates[cfg.name] = st;
    }
    st.path = this.#d.config.resolve(cfg.cert);
    st.keyPath = this.#d.config.resolve(cfg.key);
    return st;
  }

  /** Revocations asked of the CA since the agent started (revokeReplaced, revokeOnRemove), by outcome. */
  revocations(): { readonly success: number; readonly failure: number } {
    return { ...this.#revocations };
  }

  /**
   * revokeOnRemove: a certificate in the state file that the configuration no longer lists is
   * revoked (cessationOfOperation) by presenting its pair, then forgotten. Never when a listed
   * certificate uses the same file (a renamed entry), nor when the pair is gone or expired; a CA
   * that cannot be reached is asked again at the next tick.
   */
  async #revokeRemoved(): Promise<void> {
    const configured = new Set(this.#d.config.config.certificates.map((c) => c.name));
    const paths = new Set(this.#d.config.config.certificates.map((c) => this.#d.config.resolve(c.cert)));
    for (const [name, st] of Object.entries(this.#state.certificates)) {
      if (configured.has(name) || this.#stopped) continue;
      const forget = (level: LogLevel, message: string, fields: Record<string, unknown> = {}): void => {
        // eslint-disable-next-line @typescript-eslint/no-dynamic-delete -- the state is a record keyed by name
        delete this.#state.certificates[name];
        this.#d.log(level, message, { certificate: name, ...fields });
      };
      if (paths.has(st.path)) {
        forget('info', 'removed certificate not revoked: a listed certificate uses its file', { path: st.path });
        continue;
      }
      if (st.keyPath === undefined) {
        forget(
          'warn',
          'removed certificate not revoked: its key file is not in the state file (written by an older agent)',
        );
        continue;
      }
      let pair: { serial: string; notAfter: Date; identity: PairIdentity };
      try {
        const read = await readCredentialPair({ cert: st.path, key: st.keyPath });
        const [leaf] = readDerObjects(Buffer.from(read.certPem), ['CERTIFICATE']);
        if (leaf === undefined) throw new Error('no certificate in the file');
        const id = extractIdentity(leaf);
        pair = {
          serial: id.serialHex,
          notAfter: id.notAfter,
          identity: { chainPem: presentedChain(read), keyPem: read.keyPem },
        };
      } catch (err) {
        forget('warn', 'removed certificate not revoked: its pair cannot be read', {
          path: st.path,
          detail: err instanceof Error ? err.message : String(err),
        });
        continue;
      }
      if (pair.notAfter.getTime() <= this.#d.clock.now().getTime()) {
        forget('info', 'removed certificate not revoked: it has expired', { serial: pair.serial });
        continue;
      }
      try {
        await this.#d.ca.revoke({ serial: pair.serial, reason: 'cessationOfOperation' }, pair.identity);
        this.#revocations.success += 1;
        forget('info', 'removed certificate revoked', { serial: pair.serial, reason: 'cessationOfOperation' });
      } catch (err) {
        this.#revocations.failure += 1;
        const e = toMutualError(err);
        const status = e.details['status'];
        if (e.kind === 'refused' || (typeof status === 'number' && status >= 400 && status < 500)) {
          // The CA answered and said no (already revoked, not its certificate): asking again changes nothing.
          forget('warn', 'removed certificate: the CA refused to revoke it', {
            serial: pair.serial,
            error: e.code,
            detail: describeError(e),
          });
        } else {
          this.#d.log('warn', 'removed certificate: revocation failed; trying again at the next pass', {
            certificate: name,
            serial: pair.serial,
            error: e.code,
            detail: describeError(e),
          });
        }
      }
    }
  }

  /** revokeReplaced: the certificate a renewal replaced, revoked by presenting it (superseded). */
  async #revokeReplaced(cfg: AgentCertificateConfig, replaced: OnDisk): Promise<void> {
    try {
      await this.#d.ca.revoke({ serial: replaced.serial, reason: 'superseded' }, replaced.identity);
      this.#revocations.success += 1;
      this.#d.log('info', 'replaced certificate revoked', {
        certificate: cfg.name,
        serial: replaced.serial,
        reason: 'superseded',
      });
    } catch (err) {
      this.#revocations.failure += 1;
      const e = toMutualError(err);
      this.#d.log('warn', 'replaced certificate not revoked', {
        certificate: cfg.name,
        serial: replaced.serial,
        error: e.code,
        detail: describeError(e),
      });
    }
  }

  async #readToken(cfg: AgentCertificateConfig): Promise<string | null> {
    const ref = cfg.token;
    if (ref === undefined) return null;
    if ('env' in ref) {
      const v = this.#d.env[ref.env]?.trim();
      return v === undefined || v === '' ? null : v;
    }
    try {
      const v = (await fs.readFile(this.#d.config.resolve(ref.file), 'utf8')).trim();
      return v === '' ? null : v;
    } catch {
      return null;
    }
  }

  async #tokenAvailable(cfg: AgentCertificateConfig): Promise<boolean> {
    return (await this.#readToken(cfg)) !== null;
  }

  async #apply(cfg: AgentCertificateConfig, item: PlannedRenewal, disk: OnDisk | null): Promise<void> {
    const st = this.#certState(cfg);
    const counts = this.#count(cfg.name);
    const started = this.#d.clock.now();
    st.lastAttemptAt = started.toISOString();
    const keyType = cfg.keyType ?? this.#d.config.config.keyType;
    const lifetime = cfg.lifetime === undefined ? {} : { lifetime: formatDuration(cfg.lifetime) };
    const create = this.#d.createKeyAndCsr ?? (await import('../csr.js')).createKeyAndCsr;
    try {
      let res: CertificateResponse;
      // After the CA refused a renewal (revoked, expired past its grace), a token, if there is one, enrolls anew.
      const refused = this.#refused.has(cfg.name) && (await this.#tokenAvailable(cfg));
      let replaced: OnDisk | null = null;
      if (item.action === 'renew' && disk !== null && !refused) {
        const { privateKey, csrPem } = await create(keyType, disk.names);
        res = await this.#d.ca.renew({ csr: csrPem, ...lifetime }, disk.identity);
        await this.#write(cfg, res, exportPrivateKeyPem(privateKey));
        replaced = disk;
      } else {
        const token = await this.#readToken(cfg);
        if (token === null)
          throw new MutualError('ERR_AGENT_TOKEN_UNAVAILABLE', { details: { certificate: cfg.name } });
        const { privateKey, csrPem } = await create(keyType, cfg.names);
        res = await this.#d.ca.sign({ token, csr: csrPem, ...lifetime });
        await this.#write(cfg, res, exportPrivateKeyPem(privateKey));
      }
      const received = this.#d.clock.now();
      const notBefore = new Date(res.notBefore);
      const notAfter = new Date(res.notAfter);
      // Validity on our clock: from receipt, for the lifetime the CA granted (without its backdating).
      const span = Math.min(notAfter.getTime() - notBefore.getTime(), cfg.lifetime ?? Number.POSITIVE_INFINITY);
      Object.assign(st, {
        serial: res.serial,
        notAfter: notAfter.toISOString(),
        localStart: received.toISOString(),
        localEnd: new Date(received.getTime() + span).toISOString(),
        failures: 0,
        retryAt: null,
        lastRenewalAt: received.toISOString(),
        lastError: null,
        renewals: st.renewals + 1,
      } satisfies Partial<CertificateState>);
      this.#refused.delete(cfg.name);
      counts.success += 1;
      this.#d.log('info', item.action === 'renew' ? 'certificate renewed' : 'certificate enrolled', {
        certificate: cfg.name,
        serial: res.serial,
        previous: disk?.serial ?? null,
        notAfter: res.notAfter,
        renewals: st.renewals,
      });
      const reloaded = await this.#reloadAfterWrite(cfg);
      if (replaced !== null && (cfg.revokeReplaced ?? this.#d.config.config.revokeReplaced)) {
        if (reloaded) await this.#revokeReplaced(cfg, replaced);
        else
          this.#d.log('warn', 'replaced certificate not revoked: a reload action failed, it may still be in use', {
            certificate: cfg.name,
            serial: replaced.serial,
          });
      }
    } catch (err) {
      const e = toMutualError(err);
      const status = e.details['status'];
      if (item.action === 'renew' && (e.kind === 'refused' || status === 401 || status === 403)) {
        this.#refused.add(cfg.name);
      }
      st.failures += 1;
      const now = this.#d.clock.now();
      const delay = backoffDelayMs(st.failures, (this.#d.random ?? Math.random)(), this.#policy);
      st.retryAt = new Date(now.getTime() + delay).toISOString();
      st.lastError = `${e.code}: ${describeError(e)}`.slice(0, 1024);
      counts.failure += 1;
      this.#d.log('warn', 'renewal failed; the current certificate stays in place', {
        certificate: cfg.name,
        action: item.action,
        status: item.status,
        error: e.code,
        detail: describeError(e),
        failures: st.failures,
        retryInMs: delay,
        retryAt: st.retryAt,
      });
    }
  }

  async #write(cfg: AgentCertificateConfig, res: CertificateResponse, keyPem: string): Promise<void> {
    const r = this.#d.config.resolve;
    await writeCredentialPair(
      {
        cert: r(cfg.cert),
        key: r(cfg.key),
        ...(cfg.chain === undefined ? {} : { chain: r(cfg.chain) }),
        ...(cfg.bundle === undefined ? {} : { bundle: r(cfg.bundle) }),
      },
      { certPem: res.chain.join(''), keyPem, chainPem: res.chain.slice(1).join(''), version: res.serial },
    );
    const identities = this.#d.identities;
    if (identities !== undefined) {
      try {
        await publishIdentity(
          identities.dir,
          cfg.name,
          { cert: r(cfg.cert), key: r(cfg.key) },
          this.#d.trust?.pem() ?? identities.rootPem,
        );
      } catch (err) {
        // The pair is in place; only the client tools' shortcut to it is missing.
        this.#d.log('warn', 'could not publish the identity for the client tools', {
          certificate: cfg.name,
          dir: identities.dir,
          detail: err instanceof Error ? err.message : String(err),
        });
      }
    }
  }

  /** Runs the reload actions in order; true when every one succeeded. */
  async #reloadAfterWrite(cfg: AgentCertificateConfig): Promise<boolean> {
    const run = this.#d.reload ?? (await import('./reload.js')).runReloadAction;
    let ok = true;
    for (const action of cfg.reload) {
      try {
        const what = await run(action, this.#d.config.resolve);
        this.#d.log('info', 'reload action done', { certificate: cfg.name, action: what });
      } catch (err) {
        ok = false;
        const e = toMutualError(err);
        this.#d.log('error', 'reload action failed', { certificate: cfg.name, error: e.code, detail: e.message });
      }
    }
    return ok;
  }

  #count(name: string): { success: number; failure: number } {
    let c = this.#counts.get(name);
    if (c === undefined) {
      c = { success: 0, failure: 0 };
      this.#counts.set(name, c);
    }
    return c;
  }

  #record(
    plan: RenewalPlan,
    entries: ReadonlyArray<{ config: AgentCertificateConfig; disk: OnDisk | null }>,
    now: Date,
  ): void {
    this.#views = plan.items.map((item, i) => {
      const entry = entries[i];
      const cfg = entry?.config;
      const st = cfg === undefined ? emptyCertificateState('') : this.#certState(cfg);
      const disk = entry?.disk ?? null;
      const overdue = item.status === 'overdue' || item.status === 'expired';
      st.renewAt = item.renewAt?.toISOString() ?? null;
      st.overdueAt = item.overdueAt?.toISOString() ?? null;
      st.status = item.status;
      if (disk !== null) {
        if (st.serial !== disk.serial) {
          st.serial = disk.serial;
          st.localStart = null;
          st.localEnd = null;
        }
        st.notAfter = disk.notAfter.toISOString();
      }
      const key = `${item.name}/${disk?.serial ?? '-'}`;
      if (overdue && !this.#alerted.has(key)) {
        this.#alerted.add(key);
        this.#d.log('error', 'certificate renewal overdue', {
          certificate: item.name,
          alert: true,
          status: item.status,
          serial: disk?.serial ?? null,
          notAfter: disk?.notAfter.toISOString() ?? null,
          overdueAt: st.overdueAt,
          failures: st.failures,
          lastError: st.lastError,
          now: now.toISOString(),
        });
      }
      return {
        name: item.name,
        path: st.path,
        serial: disk?.serial ?? null,
        notAfter: disk?.notAfter ?? null,
        renewAt: item.renewAt,
        overdueAt: item.overdueAt,
        status: item.status,
        overdue,
        failures: st.failures,
        retryAt: st.retryAt === null ? null : new Date(st.retryAt),
        lastRenewalAt: st.lastRenewalAt === null ? null : new Date(st.lastRenewalAt),
        lastError: st.lastError,
        renewals: { ...this.#count(item.name) },
      };
    });
  }

  async #persist(now: Date): Promise<void> {
    this.#state.updatedAt = now.toISOString();
    try {
      await writeAgentState(this.#d.config.stateFile, this.#state);
    } catch (err) {
      this.#d.log('warn', 'state file not written', { error: toMutualError(err).message });
    }
  }

  /** Reports to the CA (POST /v1/reports) in the background; best effort, a 404 silences it. */
  #maybeReport(now: Date, acted: boolean): void {
    const c = this.#d.config.config;
    const follow = this.#d.trustBundle !== undefined && now.getTime() >= this.#lastRootsAt + c.report.interval;
    if (follow) this.#lastRootsAt = now.getTime();
    const anyOverdue = this.#views.some((v) => v.overdue);
    const report =
      c.report.enabled &&
      !this.#reportSilenced &&
      (acted || anyOverdue || now.getTime() >= this.#lastReportAt + c.report.interval);
    if (report) this.#lastReportAt = now.getTime();
    const identityCert = c.certificates[0];
    if (!follow && !(report && identityCert !== undefined)) return;
    const p = (async () => {
      // A root learnt now is in this report's trust anchors.
      if (follow) await this.#followRoots(now);
      if (!report || identityCert === undefined) return;
      const body = this.reportBody(now);
      const r = this.#d.config.resolve;
      let identity: PairIdentity;
      try {
        const pair = await readCredentialPair({ cert: r(identityCert.cert), key: r(identityCert.key) });
        identity = { chainPem: pair.certPem, keyPem: pair.keyPem };
      } catch {
        return; // nothing to authenticate with yet
      }
      try {
        await this.#d.ca.report(body, identity);
      } catch (err) {
        const e = toMutualError(err);
        if (e.details['status'] === 404) {
          this.#reportSilenced = true;
          this.#d.log('debug', 'the CA does not accept reports; not sending more', { error: e.code });
        } else {
          this.#d.log('debug', 'report not delivered', { error: e.code });
        }
      }
    })();
    this.#pendingReports.add(p);
    void p.finally(() => this.#pendingReports.delete(p));
  }

  /**
   * Asks the CA for its roots and trusts those a trusted root endorsed with a cross-certificate
   * (ADR 0030): the trust bundle file is rewritten (atomically) and the CA is reached, reports sent
   * and identities published with the new set from then on. Best effort: retried every report
   * interval; a root not endorsed is ignored.
   */
  async #followRoots(now: Date): Promise<void> {
    const trust = this.#d.trust;
    const file = this.#d.trustBundle;
    if (trust === undefined || file === undefined || this.#d.ca.roots === undefined) return;
    let offered: Awaited<ReturnType<NonNullable<AgentCa['roots']>>>;
    try {
      offered = await this.#d.ca.roots();
    } catch (err) {
      this.#d.log('debug', 'roots not fetched', { error: toMutualError(err).code });
      return;
    }
    const learnt = endorsedRoots(trust.ders(), offered, now);
    if (learnt.length === 0) return;
    for (const r of learnt) trust.add(r.der);
    try {
      await writeFileAtomic(file, trust.pem(), { mode: 0o644 });
    } catch (err) {
      this.#d.log('error', 'trust bundle not written; the new root is trusted until restart', {
        file,
        error: toMutualError(err).message,
      });
    }
    for (const r of learnt)
      this.#d.log('info', 'trusts a new root, endorsed by a root it trusted', {
        fingerprint: r.fingerprint,
        endorsedBy: r.endorsedBy,
        trustBundle: file,
      });
  }

  /** The body of POST /v1/reports for the current views. */
  reportBody(now: Date): ReportRequest {
    const anyOverdue = this.#views.some((v) => v.overdue);
    const anyFailing = this.#views.some((v) => v.failures > 0);
    return {
      component: { kind: 'agent', name: this.#d.config.config.name },
      at: now.toISOString(),
      health: {
        ...(anyOverdue
          ? { status: 'failing', detail: 'a certificate renewal is overdue' }
          : anyFailing
            ? { status: 'degraded', detail: 'renewal attempts are failing; retrying with backoff' }
            : { status: 'ok' }),
        ...(this.#d.trust === undefined ? {} : { trustAnchors: this.#d.trust.fingerprints().slice(0, 64) }),
      },
      certificates: this.#views.map((v) => ({
        name: v.name,
        path: v.path,
        serial: v.serial,
        notAfter: v.notAfter?.toISOString() ?? null,
        renewAt: v.renewAt?.toISOString() ?? null,
        lastRenewalAt: v.lastRenewalAt?.toISOString() ?? null,
        lastError: v.lastError,
        overdue: v.overdue,
      })),
    };
  }
}

/** The public message, and for an unexpected error the cause's message (our own process: no secrets). */
function describeError(e: MutualError): string {
  if (e.code === 'ERR_INTERNAL_UNEXPECTED' && e.cause instanceof Error) return `${e.message} (${e.cause.message})`;
  return e.message;
}

const defaultTimers: AgentTimers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => {
    clearTimeout(h as ReturnType<typeof setTimeout>);
  },
};
