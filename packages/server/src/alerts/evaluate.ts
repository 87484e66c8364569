/**
 * The pure half of alerting: facts gathered from the store + the rules + now → the alerts to raise.
 * No I/O, no clock: `now` is a fact. Deduplication is per rule + key with a cooldown, read from the
 * last time each was raised (also a fact).
 */

export type AlertRule = 'expiring' | 'renewal-overdue' | 'auth-failures' | 'revoked-in-use';
export type AlertSeverity = 'warning' | 'critical';

export interface AlertRules {
  readonly expiring?: { readonly withinMs: number };
  readonly renewalOverdue?: boolean;
  readonly authFailures?: {
    readonly threshold: number;
    readonly windowMs: number;
    readonly per: 'identity' | 'address';
  };
  readonly revokedInUse?: boolean;
  readonly cooldownMs: number;
}

/** A certificate that can expire: issued here (status issued) or discovered in use elsewhere. */
export interface CertificateFact {
  readonly serial: string;
  readonly identity: string | null;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly source: 'issued' | 'discovered';
  /** Where it was seen (discovered) or who asked for it (issued). */
  readonly where: readonly string[];
}

export interface ManagedCertificateFact {
  readonly component: string;
  readonly name: string;
  readonly serial: string | null;
  readonly notAfter: Date | null;
  readonly lastError: string | null;
  readonly overdue: boolean;
}

export interface RevokedSeenFact {
  readonly serial: string;
  readonly identity: string | null;
  readonly revokedAt: Date;
  readonly places: readonly { readonly where: string; readonly lastSeen: Date }[];
}

export interface AlertFacts {
  readonly now: Date;
  /** Issued (status issued, not revoked) and discovered certificates. */
  readonly certificates: readonly CertificateFact[];
  readonly managed: readonly ManagedCertificateFact[];
  /** Failed authentications per identity or address over the rule's window. */
  readonly authFailureCounts: readonly { readonly key: string; readonly count: number }[];
  /** Revoked certificates of this CA with the places they were seen. */
  readonly revokedSeen: readonly RevokedSeenFact[];
  /** When each rule + key (joined by `alertKey`) was last raised. */
  readonly lastRaised: ReadonlyMap<string, Date>;
}

export interface AlertToRaise {
  readonly rule: AlertRule;
  readonly key: string;
  readonly severity: AlertSeverity;
  readonly message: string;
  readonly details: Readonly<Record<string, unknown>>;
}

export const alertKey = (rule: string, key: string): string => `${rule}\u0000${key}`;

const HOUR = 3_600_000;

function timeLeft(ms: number): string {
  if (ms < HOUR) return `${Math.max(0, Math.round(ms / 60_000))}m`;
  if (ms < 48 * HOUR) return `${Math.round(ms / HOUR)}h`;
  return `${Math.round(ms / (24 * HOUR))}d`;
}

/** Expiring within the threshold and not yet renewed: no later certificate for the same identity. */
function expiring(rules: AlertRules, facts: AlertFacts): AlertToRaise[] {
  if (rules.expiring === undefined) return [];
  const now = facts.now.getTime();
  const latest = new Map<string, number>();
  for (const c of facts.certificates) {
    if (c.identity === null || c.notBefore.getTime() > now) continue;
    latest.set(c.identity, Math.max(latest.get(c.identity) ?? 0, c.notAfter.getTime()));
  }
  const out: AlertToRaise[] = [];
  const seen = new Set<string>();
  for (const c of facts.certificates) {
    const end = c.notAfter.getTime();
    if (end < now || end >= now + rules.expiring.withinMs) continue;
    if (c.identity !== null && (latest.get(c.identity) ?? 0) > end) continue;
    if (seen.has(c.serial)) continue;
    seen.add(c.serial);
    out.push({
      rule: 'expiring',
      key: c.serial,
      severity: end - now < rules.expiring.withinMs / 4 ? 'critical' : 'warning',
      message: `certificate ${c.serial} (${c.identity ?? 'no identity'}) expires in ${timeLeft(end - now)} and has not been renewed`,
      details: {
        serial: c.serial,
        identity: c.identity,
        notAfter: c.notAfter.toISOString(),
        secondsLeft: Math.floor((end - now) / 1000),
        source: c.source,
        where: [...c.where],
      },
    });
  }
  return out;
}

function renewalOverdue(rules: AlertRules, facts: AlertFacts): AlertToRaise[] {
  if (rules.renewalOverdue !== true) return [];
  return facts.managed
    .filter((m) => m.overdue)
    .map((m) => ({
      rule: 'renewal-overdue' as const,
      key: `${m.component}/${m.name}`,
      severity: 'critical' as const,
      message: `renewal of ${m.name} on ${m.component} is overdue${m.lastError === null ? '' : `: ${m.lastError}`}`,
      details: {
        component: m.component,
        name: m.name,
        serial: m.serial,
        notAfter: m.notAfter === null ? null : m.notAfter.toISOString(),
        lastError: m.lastError,
      },
    }));
}

function authFailures(rules: AlertRules, facts: AlertFacts): AlertToRaise[] {
  const rule = rules.authFailures;
  if (rule === undefined) return [];
  return facts.authFailureCounts
    .filter((c) => c.count >= rule.threshold)
    .map((c) => ({
      rule: 'auth-failures' as const,
      key: `${rule.per}:${c.key}`,
      severity: 'warning' as const,
      message: `${c.count} failed authentications for ${rule.per} ${c.key} in ${timeLeft(rule.windowMs)}`,
      details: { per: rule.per, [rule.per]: c.key, count: c.count, threshold: rule.threshold, windowMs: rule.windowMs },
    }));
}

function revokedInUse(rules: AlertRules, facts: AlertFacts): AlertToRaise[] {
  if (rules.revokedInUse !== true) return [];
  const out: AlertToRaise[] = [];
  for (const r of facts.revokedSeen) {
    // Seen after the revocation, and recently (within a cooldown): an old sighting does not repeat the alert forever.
    const now = facts.now.getTime();
    const after = r.places.filter(
      (p) => p.lastSeen.getTime() > r.revokedAt.getTime() && now - p.lastSeen.getTime() < rules.cooldownMs,
    );
    if (after.length === 0) continue;
    out.push({
      rule: 'revoked-in-use',
      key: r.serial,
      severity: 'critical',
      message: `revoked certificate ${r.serial} (${r.identity ?? 'no identity'}) is still in use at ${after.map((p) => p.where).join(', ')}`,
      details: {
        serial: r.serial,
        identity: r.identity,
        revokedAt: r.revokedAt.toISOString(),
        places: after.map((p) => ({ where: p.where, lastSeen: p.lastSeen.toISOString() })),
      },
    });
  }
  return out;
}

/** The alerts to raise now: every rule's findings, minus those raised within the cooldown. */
export function evaluateAlerts(rules: AlertRules, facts: AlertFacts): AlertToRaise[] {
  const now = facts.now.getTime();
  return [
    ...expiring(rules, facts),
    ...renewalOverdue(rules, facts),
    ...authFailures(rules, facts),
    ...revokedInUse(rules, facts),
  ].filter((a) => {
    const last = facts.lastRaised.get(alertKey(a.rule, a.key));
    return last === undefined || now - last.getTime() >= rules.cooldownMs;
  });
}
