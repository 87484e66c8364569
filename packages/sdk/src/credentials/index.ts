/**
 * credentials: an in-process certificate that keeps itself valid — enroll with a one-time token,
 * renew over mTLS with a new key at 2/3 of the lifetime, back off while the CA is down, warn when
 * overdue — using the pure renewal planner. It never drops the certificate in use on a failure,
 * never sends a private key, and never reads the environment: time and timers are options.
 */
export {
  createCredentials,
  type CreateCredentialsOptions,
  type Credentials,
  type CredentialsClock,
  type CredentialsStatus,
  type CredentialsTimers,
  type CurrentCredentials,
  type OverdueEvent,
} from './credentials.js';
export { createCsr, newKeyAndCsr } from './csr.js';
export { startReporting, type Reporting, type ReportingOptions } from './report.js';
