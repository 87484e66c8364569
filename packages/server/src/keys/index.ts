/**
 * keys: issuer signers — CA certificates with their keys, loaded from encrypted files or used on a
 * PKCS#11 token — and resolution of secret references. Never logs or returns a passphrase, PIN or
 * key bytes.
 */
export { resolveSecret } from './secrets.js';
export { inMemoryKey, loadIssuerFiles, type LoadedIssuer, type Pkcs11Access } from './issuer-files.js';
export { formatPkcs11Uri, isPkcs11Uri, parsePkcs11Uri, type Pkcs11KeyRef } from './pkcs11-uri.js';
export {
  loadPkcs11Module,
  pkcs11ErrorName,
  signsFor,
  type Pkcs11Key,
  type Pkcs11KeySeen,
  type Pkcs11Module,
  type Pkcs11ModuleInfo,
  type Pkcs11ThreadAccess,
  type Pkcs11Token,
  type Pkcs11TokenSeen,
  type TokenKeyType,
} from './pkcs11.js';
