/**
 * keys: generate, describe, check, import and export private/public keys (node:crypto KeyObject).
 * It decides which key types and sizes mutual accepts. It never writes files and never puts key
 * material or passphrases in errors, details or logs.
 */
export {
  generateKeyPair,
  describePublicKey,
  assertAcceptableKey,
  exportPrivateKeyPem,
  importPrivateKey,
  publicKeyMatches,
  spkiSha256,
  KEY_TYPES,
  type KeyType,
  type KeyDescription,
  type KeyRequirements,
} from './keys.js';
