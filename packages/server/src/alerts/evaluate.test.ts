import { describe, expect, it } from 'vitest';
import { alertKey, evaluateAlerts, type AlertFacts, type AlertRules, type CertificateFact } from './index.js';

const NOW = new Date('2030-01-01T00:00:00Z');
const H = 3_600_000;
const at = (ms: number): Date => new Date(NOW.getTime() + ms);
const cert = (serial: string, identity: string | null, notAfterMs: number): CertificateFact => ({
  serial,
  identity,
  notBefore: at(-24 * H),
  notAfter: at(notAfterMs),
  source: 'issued',
  where: [],
});
const facts = (over: Partial<AlertFacts> = {}): AlertFacts => ({
  now: NOW,
  certificates: [],
  managed: [],
  authFailureCounts: [],
  revokedSeen: [],
  lastRaised: new Map(),
  ...over,
});
const rules: AlertRules = {
  expiring: { withinMs: 24 * H },
  renewalOverdue: true,
  authFailures: { threshold: 5, windowMs: 300_000, per: 'identity' },
  revokedInUse: true,
  cooldownMs: H,
};

describe('evaluateAlerts', () => {
  it('raises expiring only within the threshold and only when no later certificate has the same identity', () => {
    const raised = evaluateAlerts(
      rules,
      facts({
        certificates: [
          cert('a1', 'spiffe://t/a', 2 * H), // renewed by a2
          cert('a2', 'spiffe://t/a', 30 * H),
          cert('b1', 'spiffe://t/b', 2 * H), // not renewed
          cert('c1', 'spiffe://t/c', 48 * H), // outside the threshold
          cert('d1', null, -H), // already expired
        ],
      }),
    );
    expect(raised.map((a) => [a.rule, a.key, a.severity])).toEqual([['expiring', 'b1', 'critical']]);
    expect(raised[0]?.details).toMatchObject({ identity: 'spiffe://t/b', secondsLeft: 7200 });
  });

  it('raises auth failures at the threshold, overdue renewals and revoked certificates seen after revocation', () => {
    const raised = evaluateAlerts(
      rules,
      facts({
        authFailureCounts: [
          { key: 'spiffe://t/x', count: 5 },
          { key: 'spiffe://t/y', count: 4 },
        ],
        managed: [
          { component: 'agent/web', name: 'tls', serial: 'ab', notAfter: at(H), lastError: 'CA down', overdue: true },
          { component: 'agent/web', name: 'ok', serial: 'cd', notAfter: at(H), lastError: null, overdue: false },
        ],
        revokedSeen: [
          { serial: 'r1', identity: null, revokedAt: at(-H), places: [{ where: 'gw', lastSeen: at(-60_000) }] },
          { serial: 'r2', identity: null, revokedAt: at(-H), places: [{ where: 'gw', lastSeen: at(-2 * H) }] },
          // Seen after its revocation, but longer ago than the cooldown: not raised again and again.
          { serial: 'r3', identity: null, revokedAt: at(-3 * H), places: [{ where: 'gw', lastSeen: at(-2 * H) }] },
        ],
      }),
    );
    expect(raised.map((a) => `${a.rule} ${a.key}`)).toEqual([
      'renewal-overdue agent/web/tls',
      'auth-failures identity:spiffe://t/x',
      'revoked-in-use r1',
    ]);
  });

  it('suppresses an alert raised for the same rule and key within the cooldown, and raises it again after', () => {
    const certificates = [cert('b1', 'spiffe://t/b', 2 * H)];
    const recent = new Map([[alertKey('expiring', 'b1'), at(-H + 1)]]);
    expect(evaluateAlerts(rules, facts({ certificates, lastRaised: recent }))).toEqual([]);
    const old = new Map([[alertKey('expiring', 'b1'), at(-H)]]);
    expect(evaluateAlerts(rules, facts({ certificates, lastRaised: old }))).toHaveLength(1);
    expect(evaluateAlerts({ cooldownMs: H }, facts({ certificates }))).toEqual([]);
  });
});
