/**
 * keys: issuer signers — CA certificates with their keys, loaded from encrypted files (PKCS#11 to
 * come) — and resolution of secret references. Never logs or returns a passphrase or key bytes.
 */
export { resolveSecret } from './secrets.js';
export { inMemoryKey, loadIssuerFiles, type LoadedIssuer } from './issuer-files.js';
