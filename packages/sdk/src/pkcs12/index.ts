/**
 * pkcs12: writes PKCS#12 (.p12/.pfx) bundles of a key, its certificate and chain for tools that
 * want one file (browsers, Java, Windows, curl). Modern algorithms only (PBES2/AES-256, HMAC-SHA256);
 * it never writes an unencrypted or passphrase-less bundle and never writes files itself.
 */
export { exportPkcs12, DEFAULT_PKCS12_ITERATIONS, type Pkcs12Input } from './pkcs12.js';
