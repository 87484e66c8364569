/**
 * renewal: when a certificate should be renewed, and what to do next for each managed certificate
 * (`planRenewals(certs, now)`). Pure: time and randomness are arguments; the effects (enroll,
 * renew, write files, reload) live with the agent and the SDK credential source.
 */
export {
  DEFAULT_RENEWAL_POLICY,
  backoffDelayMs,
  jitterFromId,
  planRenewals,
  renewalSchedule,
  type CertificateValidity,
  type ManagedCertificateState,
  type PlannedRenewal,
  type RenewalPlan,
  type RenewalPolicy,
  type RenewalSchedule,
  type RenewalStatus,
} from './plan.js';
