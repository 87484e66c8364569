/**
 * alerts: rules from the CA's config evaluated over inventory, sightings, component reports and
 * failed authentications — a pure evaluator (facts + now → alerts, deduplicated per rule and key
 * with a cooldown) and its effects (store row, log line, webhook POST with retries). It never
 * decides issuance or revocation and never reads the clock itself: time comes from the caller.
 */
export {
  alertKey,
  evaluateAlerts,
  type AlertFacts,
  type AlertRule,
  type AlertRules,
  type AlertSeverity,
  type AlertToRaise,
  type CertificateFact,
  type ManagedCertificateFact,
  type RevokedSeenFact,
} from './evaluate.js';
export { createAlerting, type Alerting, type AlertingDeps, type AlertLog, type AlertStore } from './alerting.js';
export { deliverWebhook, type DeliveryOutcome, type WebhookTarget } from './webhook.js';
