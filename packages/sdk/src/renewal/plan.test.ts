import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULT_RENEWAL_POLICY, backoffDelayMs, jitterFromId, planRenewals, renewalSchedule } from './index.js';

const t0 = new Date('2026-11-22T00:00:00Z');
const at = (ms: number): Date => new Date(t0.getTime() + ms);
const HOUR = 3_600_000;
const cert = (lifetimeMs: number, serial = 'ab12') => ({ serial, notBefore: t0, notAfter: at(lifetimeMs) });

describe('renewalSchedule', () => {
  it('renews at two thirds of the lifetime without jitter and is overdue at 90 %', () => {
    const s = renewalSchedule(cert(24 * HOUR), 0.5);
    expect(s.renewAt.toISOString()).toBe(at(16 * HOUR).toISOString());
    expect(s.overdueAt.toISOString()).toBe(at(21.6 * HOUR).toISOString());
  });

  it('keeps the jittered point within ±5 % of the lifetime around 2/3', () => {
    fc.assert(
      fc.property(
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.integer({ min: 60_000, max: 400 * 24 * HOUR }),
        (j, life) => {
          const { renewAt } = renewalSchedule(cert(life), j);
          const f = (renewAt.getTime() - t0.getTime()) / life;
          expect(f).toBeGreaterThanOrEqual(2 / 3 - 0.05 - 1 / life);
          expect(f).toBeLessThanOrEqual(2 / 3 + 0.05 + 1e-6);
        },
      ),
    );
  });

  it('derives a stable jitter from the serial, spread over [0, 1)', () => {
    expect(jitterFromId('ab12')).toBe(jitterFromId('ab12'));
    const values = Array.from({ length: 200 }, (_, i) => jitterFromId(i.toString(16)));
    expect(Math.min(...values)).toBeLessThan(0.1);
    expect(Math.max(...values)).toBeGreaterThan(0.9);
  });
});

describe('backoffDelayMs', () => {
  it('doubles per failure within [exp/2, exp] and stops at the cap', () => {
    expect(backoffDelayMs(0, 0.3)).toBe(0);
    expect(backoffDelayMs(1, 0)).toBe(500);
    expect(backoffDelayMs(1, 0.999)).toBeLessThanOrEqual(1000);
    expect(backoffDelayMs(4, 0)).toBe(4000);
    expect(backoffDelayMs(50, 1)).toBeLessThanOrEqual(DEFAULT_RENEWAL_POLICY.backoffMaxMs);
    expect(backoffDelayMs(50, 0)).toBe(DEFAULT_RENEWAL_POLICY.backoffMaxMs / 2);
  });
});

describe('planRenewals', () => {
  const state = { name: 'api', canEnroll: false, failures: 0, jitter: 0.5 };

  it('enrolls when there is no certificate and a token, and is stuck without a token', () => {
    const plan = planRenewals(
      [
        { ...state, name: 'a', canEnroll: true },
        { ...state, name: 'b', canEnroll: false },
      ],
      t0,
    );
    expect(plan.items.map((i) => [i.name, i.status, i.action])).toEqual([
      ['a', 'missing', 'enroll'],
      ['b', 'missing', 'stuck'],
    ]);
    expect(plan.nextWakeAt).toBeNull();
  });

  it('waits until the renewal point, then renews, then reports overdue', () => {
    const c = { ...state, current: cert(24 * HOUR) };
    const before = planRenewals([c], at(HOUR));
    expect(before.items[0]).toMatchObject({ status: 'fresh', action: 'wait' });
    expect(before.nextWakeAt?.toISOString()).toBe(at(16 * HOUR).toISOString());
    expect(planRenewals([c], at(16 * HOUR)).items[0]).toMatchObject({ status: 'due', action: 'renew' });
    expect(planRenewals([c], at(22 * HOUR)).items[0]).toMatchObject({ status: 'overdue', action: 'renew' });
  });

  it('holds a retry until retryAt while keeping the certificate', () => {
    const c = { ...state, current: cert(24 * HOUR), failures: 3, retryAt: at(17 * HOUR) };
    const plan = planRenewals([c], at(16.5 * HOUR));
    expect(plan.items[0]).toMatchObject({ status: 'due', action: 'renew' });
    expect(plan.items[0]?.at.toISOString()).toBe(at(17 * HOUR).toISOString());
    expect(plan.nextWakeAt?.toISOString()).toBe(at(17 * HOUR).toISOString());
  });

  it('still renews an expired certificate within the clock-skew tolerance, then needs a token', () => {
    const c = { ...state, current: cert(HOUR) };
    expect(planRenewals([c], at(HOUR + 4 * 60_000)).items[0]).toMatchObject({ status: 'expired', action: 'renew' });
    expect(planRenewals([c], at(HOUR + 6 * 60_000)).items[0]).toMatchObject({ status: 'expired', action: 'stuck' });
    expect(planRenewals([{ ...c, canEnroll: true }], at(HOUR + 6 * 60_000)).items[0]).toMatchObject({
      action: 'enroll',
    });
  });

  it('renews a certificate whose notBefore is ahead of a slow local clock only at its renewal point', () => {
    // The holder's clock is 5 minutes behind the CA: the certificate starts "in the future".
    const c = { ...state, current: { serial: 'cd', notBefore: at(5 * 60_000), notAfter: at(5 * 60_000 + HOUR) } };
    const plan = planRenewals([c], t0);
    expect(plan.items[0]).toMatchObject({ status: 'fresh', action: 'wait' });
    expect(plan.items[0]?.at.getTime()).toBe(at(5 * 60_000 + (2 / 3) * HOUR).getTime() - 0);
  });

  it('is pure: the same inputs give the same plan', () => {
    const certs = [{ ...state, current: cert(24 * HOUR, 'ff'), jitter: undefined }];
    expect(planRenewals(certs, at(3 * HOUR))).toEqual(planRenewals(certs, at(3 * HOUR)));
  });
});
