/**
 * gateway: terminates mTLS in front of HTTP services — verifies client chains (OpenSSL and mutual's
 * verifier must both accept), authorizes each request by verified identity, forwards it with
 * identity headers it sets itself, rate-limits, audits every decision, hot-reloads and reports to
 * the CA over its HTTP API when configured. It never imports ca or store, never trusts a client-sent identity header, and never fails open by default.
 */
export {
  createGateway,
  type CreateGatewayOptions,
  type Gateway,
  type GatewayClock,
  type GatewayLog,
  type GatewayLogLevel,
  type ReloadResult,
} from './gateway.js';
export { watchGateway, type GatewayWatcher } from './watch.js';
export { normalizeTarget, type NormalizedTarget } from './path.js';
export { compilePolicy, compileRoute, type Decision, type PeerIdentity, type Policy } from './policy.js';
export { isIdentityHeader, xfccHeader, clientCertHeader } from './headers.js';
export { createRateLimiter, type Limiter, type RateLimiter, type RateSpec, type Take } from './rate-limit.js';
export { createRedisRateStore, type RedisRateStore, type RedisRateStoreOptions } from './rate-limit-redis.js';
export { gatewayGroups, GATEWAY_CIPHERS } from './tls-options.js';
export type { GatewayAuditRecord } from './audit.js';
export { checkGatewayConfig, type GatewayCheckReport } from './check.js';
export { startGatewayReporter, authFailureOf, type GatewayReporter, type GatewayReporterOptions } from './report.js';
export type { ServerCertificateSource } from './material.js';
