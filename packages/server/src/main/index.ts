/**
 * main: composition roots — wires config, keys, store, ca and http into running things (the local
 * CA, the online CA server; the gateway later). The only server module that picks adapters; it
 * reads the environment only through the `env` its caller hands in.
 */
export {
  initCa,
  openLocalCa,
  adminSpiffeId,
  compilePolicies,
  DEFAULT_ALLOW_DNS,
  type InitCaOptions,
  type InitCaResult,
  type LocalCa,
  type PassphraseChoice,
} from './local-ca.js';
export { CA_FILES } from './ca-files.js';
export { startCaServer, type StartCaServerOptions, type CaServer } from './ca-server.js';
export { startGateway, checkGateway, type StartGatewayOptions, type RunningGateway } from './gateway.js';
export { openCaStore, moveCaStoreToPostgres, type MovedCaStore } from './ca-store.js';
export { caStatus, type CaStatus, type CaCertificateStatus, type ComponentTrust } from './ca-status.js';
export {
  finishRootRotation,
  retireRoot,
  rotateIntermediate,
  rotateRoot,
  type FinishedRootRotation,
  type RetiredRoot,
  type RotatedIntermediate,
  type RotatedRoot,
  type RotationOptions,
} from './ca-rotate.js';
export { runGateway, resolveWorkers, type RunGatewayOptions, type RunningGatewayProcesses } from './gateway-cluster.js';
export { startTunnel, type StartTunnelOptions, type RunningTunnel, type TunnelFromCa } from './tunnel.js';
export {
  checkCaHsm,
  checkHsm,
  type HsmCheckInput,
  type HsmCheckResult,
  type HsmCheckStep,
  type HsmKeyToCheck,
} from './hsm-check.js';
