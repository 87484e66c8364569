/**
 * http: the CA's HTTPS API v1 (Fastify) — routes validated with the wire contract, catalog error
 * bodies, mTLS client identification, the revocation feed, component reports, health and metrics,
 * the admin reads of the dashboard (audit log, one certificate, unused tokens), and the dashboard
 * itself under /ui with its one-time login links, session cookies and CSRF checks. It never signs,
 * decides policy or opens the database itself: it calls the ca services and the store slice main
 * hands in, and it never reads the environment or logs a token, a login secret or a key.
 */
export { buildCaApp, peerCertificate, type CaHttpDeps, type CaAppOptions } from './app.js';
export { createCaMetrics, type CaMetrics } from './metrics.js';
export { toApiError } from './errors.js';
export { MAX_EXPIRY_SERIES, type LifecycleHttpDeps } from './lifecycle-routes.js';
export { createDashboardSessions, type DashboardSessions, type LoginLink } from './sessions.js';
export type { AdminReads } from './admin-routes.js';
export type { DashboardDeps } from './dashboard-routes.js';
