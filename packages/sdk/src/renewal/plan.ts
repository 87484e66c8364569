import { createHash } from 'node:crypto';

export interface RenewalPolicy {
  /** Fraction of the lifetime after which a certificate is renewed (2/3). */
  readonly renewFraction: number;
  /** Half-width of the jitter around that point, as a fraction of the lifetime (±5 %). */
  readonly jitterFraction: number;
  /** Fraction of the lifetime past which a renewal that has not happened is overdue (90 %). */
  readonly overdueFraction: number;
  /** First retry delay after a failed attempt; doubles with each further failure. */
  readonly backoffBaseMs: number;
  /** Longest retry delay. */
  readonly backoffMaxMs: number;
  /**
   * How long after `notAfter` (by the local clock) renewal over mTLS is still attempted before the
   * plan falls back to a new enrollment: clocks of the holder and the CA may differ this much.
   */
  readonly skewToleranceMs: number;
}

export const DEFAULT_RENEWAL_POLICY: RenewalPolicy = Object.freeze({
  renewFraction: 2 / 3,
  jitterFraction: 0.05,
  overdueFraction: 0.9,
  backoffBaseMs: 1_000,
  backoffMaxMs: 5 * 60_000,
  skewToleranceMs: 5 * 60_000,
});

export interface CertificateValidity {
  readonly notBefore: Date;
  readonly notAfter: Date;
}

export interface RenewalSchedule {
  /** When to renew: 2/3 of the lifetime, moved by the jitter. */
  readonly renewAt: Date;
  /** Past this point a renewal that has not happened is overdue (an alert). */
  readonly overdueAt: Date;
}

/**
 * The renewal point of one certificate. `jitter` is a number in [0, 1) that stays the same for a
 * given certificate (see `jitterFromId`), so restarting does not move the point; 0.5 means no shift.
 */
export function renewalSchedule(
  cert: CertificateValidity,
  jitter: number,
  policy: RenewalPolicy = DEFAULT_RENEWAL_POLICY,
): RenewalSchedule {
  const start = cert.notBefore.getTime();
  const lifetime = Math.max(0, cert.notAfter.getTime() - start);
  const shift = (clamp01(jitter) * 2 - 1) * policy.jitterFraction;
  const fraction = Math.min(policy.overdueFraction, Math.max(0.5, policy.renewFraction + shift));
  return {
    renewAt: new Date(start + Math.floor(lifetime * fraction)),
    overdueAt: new Date(start + Math.floor(lifetime * policy.overdueFraction)),
  };
}

/**
 * Delay before retry number `failures` (1 = after the first failure): exponential, capped, with
 * jitter over the upper half ("equal jitter") so many holders do not retry in step. `random` in [0, 1).
 */
export function backoffDelayMs(
  failures: number,
  random: number,
  policy: RenewalPolicy = DEFAULT_RENEWAL_POLICY,
): number {
  if (failures <= 0) return 0;
  const exp = Math.min(policy.backoffMaxMs, policy.backoffBaseMs * 2 ** Math.min(30, failures - 1));
  return Math.round(exp / 2 + (exp / 2) * clamp01(random));
}

/** A stable jitter value in [0, 1) derived from an identifier (a serial or a name). */
export function jitterFromId(id: string): number {
  const digest = createHash('sha256').update(id).digest();
  return digest.readUInt32BE(0) / 2 ** 32;
}

/** What the planner knows about one managed certificate. */
export interface ManagedCertificateState {
  readonly name: string;
  /** The certificate in place, if any (and readable). */
  readonly current?: (CertificateValidity & { readonly serial: string }) | undefined;
  /** Whether a one-time enrollment token is available (first enrollment, or recovery after expiry). */
  readonly canEnroll: boolean;
  /** Consecutive failed attempts since the last success. */
  readonly failures: number;
  /** Earliest time of the next attempt after a failure (set by the effect step with `backoffDelayMs`). */
  readonly retryAt?: Date | undefined;
  /** Jitter in [0, 1); defaults to `jitterFromId(current.serial)`. */
  readonly jitter?: number | undefined;
}

export type RenewalStatus =
  /** No certificate yet. */
  | 'missing'
  /** Before its renewal point. */
  | 'fresh'
  /** Past its renewal point. */
  | 'due'
  /** Past the overdue point: an alert. */
  | 'overdue'
  /** Past notAfter by the local clock. */
  | 'expired';

export interface PlannedRenewal {
  readonly name: string;
  readonly status: RenewalStatus;
  /**
   * `enroll`: request a first (or replacement) certificate with a token; `renew`: renew over mTLS
   * with the current certificate; `wait`: nothing to do before `at`; `stuck`: nothing can be done
   * (no certificate, or an expired one, and no token) — an operator must act.
   */
  readonly action: 'enroll' | 'renew' | 'wait' | 'stuck';
  /** When the action is due (≤ now: do it now). */
  readonly at: Date;
  readonly renewAt: Date | null;
  readonly overdueAt: Date | null;
  readonly notAfter: Date | null;
}

export interface RenewalPlan {
  readonly items: readonly PlannedRenewal[];
  /** The earliest `at` in the future among the items, or null if everything is due now or stuck. */
  readonly nextWakeAt: Date | null;
}

/**
 * Plans what to do for each managed certificate at `now`. Pure: the same inputs give the same plan.
 * A failed attempt never removes a certificate: the plan retries (after `retryAt`) while the old
 * certificate stays in place, and reports `overdue` once past the overdue point.
 */
export function planRenewals(
  certs: readonly ManagedCertificateState[],
  now: Date,
  policy: RenewalPolicy = DEFAULT_RENEWAL_POLICY,
): RenewalPlan {
  const items = certs.map((c) => planOne(c, now, policy));
  let next: number | null = null;
  for (const item of items) {
    if (item.action === 'stuck') continue;
    const t = item.at.getTime();
    if (t > now.getTime() && (next === null || t < next)) next = t;
  }
  return { items, nextWakeAt: next === null ? null : new Date(next) };
}

function planOne(c: ManagedCertificateState, now: Date, policy: RenewalPolicy): PlannedRenewal {
  const retryAt = c.retryAt !== undefined && c.retryAt.getTime() > now.getTime() ? c.retryAt : now;
  if (c.current === undefined) {
    return {
      name: c.name,
      status: 'missing',
      action: c.canEnroll ? 'enroll' : 'stuck',
      at: retryAt,
      renewAt: null,
      overdueAt: null,
      notAfter: null,
    };
  }
  const jitter = c.jitter ?? jitterFromId(c.current.serial);
  const { renewAt, overdueAt } = renewalSchedule(c.current, jitter, policy);
  const t = now.getTime();
  const notAfter = c.current.notAfter;
  const base = { name: c.name, renewAt, overdueAt, notAfter };
  if (t >= notAfter.getTime()) {
    // Expired by our clock. Within the skew tolerance the CA may still accept it for renewal.
    const withinSkew = t < notAfter.getTime() + policy.skewToleranceMs;
    const action = withinSkew ? 'renew' : c.canEnroll ? 'enroll' : 'stuck';
    return { ...base, status: 'expired', action, at: retryAt };
  }
  const status: RenewalStatus = t >= overdueAt.getTime() ? 'overdue' : t >= renewAt.getTime() ? 'due' : 'fresh';
  if (status === 'fresh') return { ...base, status, action: 'wait', at: laterOf(renewAt, retryAt) };
  return { ...base, status, action: 'renew', at: retryAt };
}

function laterOf(a: Date, b: Date): Date {
  return a.getTime() >= b.getTime() ? a : b;
}

function clamp01(x: number): number {
  if (!Number.isFinite(x)) return 0.5;
  return Math.min(1 - Number.EPSILON, Math.max(0, x));
}
