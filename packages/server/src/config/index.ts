/**
 * config: configuration schemas (zod) → validated, normalized, cross-checked and deep-frozen
 * typed config; every error reported at once with its path. Never reads the environment:
 * secrets are references ({ file } or { env }) resolved by the caller with an env it is given.
 */
export {
  caConfigSchema,
  secretRefSchema,
  KEY_TYPES,
  type CaConfig,
  type CaConfigInput,
  type SecretRef,
  type ServerConfig,
  type AlertsConfig,
  type ReportsConfig,
} from './ca-config.js';
export {
  loadCaConfig,
  validateConfig,
  parseConfigText,
  deepFreeze,
  type LoadedCaConfig,
  type ConfigIssue,
} from './load.js';
export { parseDuration, formatDuration } from '@mutual/sdk';
export { caConfigJsonSchema, gatewayConfigJsonSchema } from './json-schema.js';
export {
  gatewayConfigSchema,
  loadGatewayConfig,
  parseGatewayConfig,
  type GatewayConfig,
  type GatewayConfigInput,
  type GatewayListenerConfig,
  type GatewayRouteConfig,
  type GatewayUpstreamConfig,
  type GatewayPin,
  type GatewayAllowRule,
  type GatewayRateLimitStore,
  type GatewayReportConfig,
  type GatewayFromCaConfig,
  type LoadedGatewayConfig,
} from './gateway-config.js';
