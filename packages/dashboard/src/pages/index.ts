/**
 * pages: the dashboard's screens — overview, certificates and one certificate (with revoke),
 * expiry timeline, failed authentications (live), audit log (with the chain verdict), tokens, and
 * the sign-in page that exchanges a one-time login link for a session.
 */
export { Overview } from './Overview.js';
export { Certificates } from './Certificates.js';
export { CertificateDetail } from './CertificateDetail.js';
export { Expiry } from './Expiry.js';
export { AuthFailures } from './AuthFailures.js';
export { Audit } from './Audit.js';
export { Tokens } from './Tokens.js';
export { Login } from './Login.js';
