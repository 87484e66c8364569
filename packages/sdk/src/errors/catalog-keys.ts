import type { ErrorSpec } from './types.js';

/** Errors of CA keys held on a PKCS#11 token (an HSM, or SoftHSM). */
export const keysErrors = {
  ERR_KEYS_PKCS11_UNAVAILABLE: {
    kind: 'unavailable',
    status: 500,
    message: 'PKCS#11 support is not installed.',
    doc: 'The optional native module pkcs11js did not build when mutual was installed (it needs python3, make and a C++ compiler). Install those and run `npm install` again.',
  },
  ERR_KEYS_PKCS11_URI_INVALID: {
    kind: 'config',
    status: 500,
    message: 'A PKCS#11 key reference is not valid.',
    doc: 'A `pkcs11:` URI (RFC 7512) in ca.yaml or on the command line must name the token (`token=` or `serial=`) and the key (`object=` and/or `id=`); a PIN never goes into it (use keys.pkcs11.pin).',
  },
  ERR_KEYS_PKCS11_NOT_CONFIGURED: {
    kind: 'config',
    status: 500,
    message: 'A CA key is on a PKCS#11 token but no PKCS#11 module is configured.',
    doc: 'ca.yaml names a key by a `pkcs11:` URI; set `keys.pkcs11.module` (the vendor library, e.g. /usr/lib/softhsm/libsofthsm2.so) and `keys.pkcs11.pin`.',
  },
  ERR_KEYS_PKCS11_MODULE: {
    kind: 'config',
    status: 500,
    message: 'The PKCS#11 module could not be loaded.',
    doc: 'The library in keys.pkcs11.module is missing, not readable, not a PKCS#11 library, or failed to initialise (for SoftHSM: its configuration file or token directory is missing — see SOFTHSM2_CONF). `mutual ca hsm check` shows which.',
  },
  ERR_KEYS_PKCS11_TOKEN_NOT_FOUND: {
    kind: 'config',
    status: 500,
    message: 'The PKCS#11 token was not found.',
    doc: 'No slot holds a token with the label or serial the key reference names; the error lists the tokens the module does show.',
  },
  ERR_KEYS_PKCS11_PIN_INCORRECT: {
    kind: 'config',
    status: 500,
    message: 'The PKCS#11 token refused the PIN.',
    doc: 'The user PIN from keys.pkcs11.pin is wrong. Tokens lock after a few wrong PINs: check the value before trying again.',
  },
  ERR_KEYS_PKCS11_PIN_LOCKED: {
    kind: 'config',
    status: 500,
    message: 'The PKCS#11 token has locked its user PIN.',
    doc: 'Too many wrong PINs: the security officer must unlock or reset the user PIN with the token vendor’s tool.',
  },
  ERR_KEYS_PKCS11_KEY_NOT_FOUND: {
    kind: 'config',
    status: 500,
    message: 'The key was not found on the PKCS#11 token.',
    doc: 'The token holds no private key with the `object=`/`id=` the reference names (the error lists the private keys it does hold), or one reference matches several keys.',
  },
  ERR_KEYS_PKCS11_KEY_UNSUPPORTED: {
    kind: 'config',
    status: 500,
    message: 'The key on the PKCS#11 token cannot sign for the CA.',
    doc: 'CA keys on a token must be EC P-256 or P-384, or RSA of 2048 bits or more, allowed to sign.',
  },
  ERR_KEYS_PKCS11_FAILED: {
    kind: 'unavailable',
    status: 503,
    message: 'The PKCS#11 token failed an operation.',
    doc: 'The module returned an error (its CKR_ code is in the details) while opening a session, signing or generating a key; a token that was removed or reset is reopened once before this is reported.',
  },
} as const satisfies Record<string, ErrorSpec>;
