/**
 * agent: `mutual agent` keeps certificates fresh — first enrollment with a token, renewal over
 * mTLS at 2/3 of the lifetime with a new key, backoff while the CA is unreachable, crash-safe
 * pair writes, reload actions, state, metrics and reports. Plans with the SDK's pure planner and
 * keeps the effects here; it never deletes or truncates the certificate in place.
 */
export {
  RenewalAgent,
  type AgentDeps,
  type AgentLog,
  type CertificateView,
  type AgentClock,
  type AgentTimers,
} from './agent.js';
export { loadAgentConfig, agentConfigSchema, type AgentConfig, type LoadedAgentConfig } from './config.js';
export { httpAgentCa, resolveCaEndpoint, type AgentCa, type PairIdentity } from './ca.js';
export { renderMetrics, serveMetrics } from './metrics.js';
export { readAgentState, type AgentState } from './state.js';
export { statusRows, formatStatus, type StatusRow } from './status.js';
export { runReloadAction } from './reload.js';
export { TrustedRoots, endorsedRoots, type EndorsedRoot } from './roots.js';
