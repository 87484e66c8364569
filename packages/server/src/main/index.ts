/**
 * main: composition roots — wires config, keys, store and ca into running things (the local CA
 * today; the CA server and gateway later). The only server module that picks adapters; it
 * reads the environment only through the `env` its caller hands in.
 */
export {
  initCa,
  openLocalCa,
  DEFAULT_ALLOW_DNS,
  type InitCaOptions,
  type InitCaResult,
  type LocalCa,
  type PassphraseChoice,
} from './local-ca.js';
export { CA_FILES } from './ca-files.js';
