import type { AlertRecord, CertificateRecord, Store } from '../store/index.js';
import { alertKey, evaluateAlerts, type AlertFacts, type AlertRules, type CertificateFact } from './evaluate.js';
import { deliverWebhook, type WebhookTarget } from './webhook.js';

export type AlertLog = (level: 'info' | 'warn' | 'error', message: string, fields: Record<string, unknown>) => void;

export type AlertStore = Pick<
  Store,
  | 'listCertificates'
  | 'listDiscovered'
  | 'findByFingerprint'
  | 'listComponents'
  | 'countAuthFailures'
  | 'listAlerts'
  | 'recordAlert'
  | 'setAlertDelivery'
>;

export interface AlertingDeps {
  readonly store: AlertStore;
  readonly rules: AlertRules;
  readonly webhook?: WebhookTarget;
  readonly clock: { now(): Date };
  readonly random: (n: number) => Uint8Array;
  readonly log: AlertLog;
  /** First backoff between webhook attempts (doubles each time); default 1 s. */
  readonly retryBaseMs?: number;
}

export interface Alerting {
  /** Gathers facts, raises what the rules find (store row, log line, webhook); one run at a time. */
  evaluate(): Promise<AlertRecord[]>;
  /** Resolves once no evaluation or webhook delivery is in flight. */
  idle(): Promise<void>;
}

/** Certificates the CA keeps fresh itself (its TLS certificate, its OCSP responder): never alerted. */
const SELF_MANAGED_PROFILES = new Set(['ca-server', 'ocsp']);
const MAX_FACTS = 1000;

/**
 * The CA's own certificates have no identity of their own; what renews them is a rotation. Each
 * kind gets one name, so a certificate replaced by a rotation runs out quietly while the one in use
 * is alerted when it comes near its end (the name says what to run).
 */
const CA_IDENTITIES: Readonly<Record<string, string>> = {
  intermediate: 'the intermediate CA (rotate: mutual ca rotate-intermediate)',
  root: 'the root CA (rotate: mutual ca rotate-root)',
  // Valid only as long as the previous root: quiet once a later root exists.
  'cross-certificate': 'the root CA (rotate: mutual ca rotate-root)',
};

const issuedFact = (c: CertificateRecord): CertificateFact => ({
  serial: c.serial,
  identity: CA_IDENTITIES[c.profile] ?? c.identity,
  notBefore: c.notBefore,
  notAfter: c.notAfter,
  source: 'issued',
  where: [],
});

async function gatherFacts(deps: AlertingDeps, now: Date): Promise<Omit<AlertFacts, 'lastRaised'>> {
  const { store, rules } = deps;
  const certificates: CertificateFact[] = [];
  // Discovered certificates matter only to the expiring and revoked-in-use rules.
  const needDiscovered = rules.expiring !== undefined || rules.revokedInUse === true;
  const discovered = needDiscovered ? await store.listDiscovered({ limit: MAX_FACTS }) : [];
  const revokedSeen: AlertFacts['revokedSeen'][number][] = [];
  const here = new Map<string, CertificateRecord | undefined>();
  for (const d of discovered) here.set(d.fingerprintSha256, await store.findByFingerprint(d.fingerprintSha256));

  if (rules.expiring !== undefined) {
    const windowMs = rules.expiring.withinMs;
    const expiringPage = await store.listCertificates({
      now,
      states: ['expiring'],
      expiringWithinMs: windowMs,
      limit: MAX_FACTS,
    });
    const candidates = expiringPage.items.filter((c) => !SELF_MANAGED_PROFILES.has(c.profile));
    const identities = new Set(candidates.flatMap((c) => (c.identity === null ? [] : [c.identity])));
    const added = new Set<string>();
    for (const c of candidates) {
      certificates.push(issuedFact(c));
      added.add(c.serial);
    }
    // The CA's own certificates of the kinds about to expire, to see whether a rotation replaced them.
    const caKinds = new Set(candidates.map((c) => c.profile).filter((p) => CA_IDENTITIES[p] !== undefined));
    if (caKinds.has('cross-certificate')) caKinds.add('root');
    for (const profile of caKinds) {
      const later = await store.listCertificates({ now, profile, states: ['valid', 'expiring'], limit: MAX_FACTS });
      for (const c of later.items) {
        if (added.has(c.serial)) continue;
        certificates.push(issuedFact(c));
        added.add(c.serial);
      }
    }
    for (const identity of identities) {
      const same = await store.listCertificates({ now, identity, states: ['valid', 'expiring'], limit: MAX_FACTS });
      for (const c of same.items) {
        // The CA's own TLS and OCSP certificates may share a name (localhost) but renew nobody's.
        if (added.has(c.serial) || SELF_MANAGED_PROFILES.has(c.profile)) continue;
        certificates.push(issuedFact(c));
        added.add(c.serial);
      }
    }
    for (const d of discovered) {
      if (here.get(d.fingerprintSha256) !== undefined) continue;
      certificates.push({
        serial: d.serial,
        identity: d.identity,
        notBefore: d.notBefore,
        notAfter: d.notAfter,
        source: 'discovered',
        where: d.places.map((p) => p.where),
      });
    }
  }

  if (rules.revokedInUse === true) {
    for (const d of discovered) {
      const record = here.get(d.fingerprintSha256);
      if (record?.status !== 'revoked' || record.revokedAt === null) continue;
      revokedSeen.push({
        serial: record.serial,
        identity: record.identity,
        revokedAt: record.revokedAt,
        places: d.places.map((p) => ({ where: p.where, lastSeen: p.lastSeen })),
      });
    }
  }

  const managed: AlertFacts['managed'][number][] = [];
  if (rules.renewalOverdue === true) {
    for (const c of await store.listComponents()) {
      for (const m of c.certificates as {
        name?: string;
        serial?: string | null;
        notAfter?: string | null;
        lastError?: string | null;
        overdue?: boolean;
      }[]) {
        managed.push({
          component: `${c.kind}/${c.name}`,
          name: m.name ?? '?',
          serial: m.serial ?? null,
          notAfter: typeof m.notAfter === 'string' ? new Date(m.notAfter) : null,
          lastError: m.lastError ?? null,
          overdue: m.overdue === true,
        });
      }
    }
  }

  let authFailureCounts: AlertFacts['authFailureCounts'] = [];
  if (rules.authFailures !== undefined) {
    authFailureCounts = await store.countAuthFailures(
      { since: new Date(now.getTime() - rules.authFailures.windowMs), until: now },
      rules.authFailures.per,
      rules.authFailures.threshold,
      MAX_FACTS,
    );
  }
  return { now, certificates, managed, authFailureCounts, revokedSeen };
}

/**
 * The effectful half of alerting: reads facts from the store, asks the pure evaluator what to
 * raise, then records each alert, logs it and POSTs it to the webhook (retried, delivery state
 * recorded). Never throws into its caller's traffic: failures are logged.
 */
export function createAlerting(deps: AlertingDeps): Alerting {
  let running: Promise<AlertRecord[]> | undefined;
  let again = false;
  const deliveries = new Set<Promise<void>>();

  const deliver = (alert: AlertRecord): void => {
    const target = deps.webhook;
    if (target === undefined) return;
    const payload = {
      type: 'mutual.alert',
      alert: {
        id: alert.id,
        rule: alert.rule,
        key: alert.key,
        at: alert.at.toISOString(),
        severity: alert.severity,
        message: alert.message,
        details: alert.details,
      },
    };
    const job = deliverWebhook(target, payload, { retryBaseMs: deps.retryBaseMs ?? 1000 })
      .then(async (outcome) => {
        await deps.store.setAlertDelivery(alert.id, outcome.delivered ? 'delivered' : 'failed', outcome.attempts);
        if (!outcome.delivered) {
          deps.log('error', 'alert webhook delivery failed', {
            alert: alert.id,
            attempts: outcome.attempts,
            error: outcome.lastError,
          });
        }
      })
      .catch((err: unknown) => {
        deps.log('error', 'could not record an alert delivery', { alert: alert.id, error: String(err) });
      })
      .finally(() => deliveries.delete(job));
    deliveries.add(job);
  };

  const anyRule =
    deps.rules.expiring !== undefined ||
    deps.rules.renewalOverdue === true ||
    deps.rules.authFailures !== undefined ||
    deps.rules.revokedInUse === true;

  async function run(): Promise<AlertRecord[]> {
    if (!anyRule) return [];
    const now = deps.clock.now();
    const facts = await gatherFacts(deps, now);
    const candidates = evaluateAlerts(deps.rules, { ...facts, lastRaised: new Map() });
    const lastRaised = new Map<string, Date>();
    for (const c of candidates) {
      const [last] = await deps.store.listAlerts({ rule: c.rule, key: c.key, limit: 1 });
      if (last !== undefined) lastRaised.set(alertKey(c.rule, c.key), last.at);
    }
    const raised: AlertRecord[] = [];
    for (const a of evaluateAlerts(deps.rules, { ...facts, lastRaised })) {
      const record: AlertRecord = {
        id: `al_${Buffer.from(deps.random(12)).toString('hex')}`,
        rule: a.rule,
        key: a.key,
        at: now,
        severity: a.severity,
        message: a.message,
        details: a.details,
        delivery: deps.webhook === undefined ? 'none' : 'pending',
        attempts: 0,
      };
      await deps.store.recordAlert(record);
      deps.log(a.severity === 'critical' ? 'error' : 'warn', `alert: ${a.message}`, {
        alert: record.id,
        rule: a.rule,
        key: a.key,
        severity: a.severity,
      });
      raised.push(record);
      deliver(record);
    }
    return raised;
  }

  function evaluate(): Promise<AlertRecord[]> {
    if (running !== undefined) {
      again = true;
      return running;
    }
    const current = run().finally(() => {
      running = undefined;
      if (again) {
        again = false;
        void evaluate().catch((err: unknown) => {
          deps.log('error', 'alert evaluation failed', { error: String(err) });
        });
      }
    });
    running = current;
    return current;
  }

  return {
    evaluate,
    async idle() {
      while (running !== undefined || deliveries.size > 0) {
        await running?.catch(() => undefined);
        await Promise.all([...deliveries]);
      }
    },
  };
}
