import type { ErrorSpec } from './types.js';

/** Error codes of PEM, DER, keys, identity extraction and PKCS#12 (sdk/pem, sdk/keys, sdk/identity, sdk/pkcs12). */
export const x509Errors = {
  ERR_PEM_MALFORMED: {
    kind: 'usage',
    status: 400,
    message: 'The PEM input is malformed.',
    doc: 'A PEM block has a bad BEGIN/END line, invalid base64, a NUL byte or no content. Re-export the file; the message says which block.',
  },
  ERR_PEM_TOO_LARGE: {
    kind: 'usage',
    status: 413,
    message: 'The PEM or DER input is too large.',
    doc: 'The input is larger than the cap (1 MiB by default). Certificates, keys and bundles are far smaller; check that the right file was given.',
  },
  ERR_PEM_EMPTY: {
    kind: 'usage',
    status: 400,
    message: 'The input contains no PEM block.',
    doc: 'No `-----BEGIN …-----` block was found (or none of the expected kind). Check that the file is a PEM certificate, key or bundle.',
  },
  ERR_PEM_UNEXPECTED_LABEL: {
    kind: 'usage',
    status: 400,
    message: 'The PEM input holds an unexpected kind of object.',
    doc: 'A PEM block has a label other than the ones expected here (for example a key where a certificate was expected). details.found and details.expected list the labels.',
  },
  ERR_PEM_MULTIPLE_BLOCKS: {
    kind: 'usage',
    status: 400,
    message: 'The PEM input holds more than one object where exactly one is expected.',
    doc: 'Exactly one PEM block was expected (one key, one CSR…) but several were found. Split the file.',
  },
  ERR_DER_MALFORMED: {
    kind: 'usage',
    status: 400,
    message: 'The DER input is malformed.',
    doc: 'A binary (DER) object is truncated, has trailing bytes or uses a non-DER length encoding. Re-export it as PEM or DER.',
  },
  ERR_X509_MALFORMED: {
    kind: 'usage',
    status: 400,
    message: 'The certificate is malformed.',
    doc: 'A certificate failed strict DER parsing (truncated, trailing bytes, bad time, bad name or SAN encoding). It is refused as a whole, never read partially.',
  },
  ERR_KEY_MALFORMED: {
    kind: 'usage',
    status: 400,
    message: 'The private key could not be read.',
    doc: 'The key is not PKCS#8, encrypted PKCS#8, SEC1 (`EC PRIVATE KEY`) or PKCS#1 (`RSA PRIVATE KEY`) in PEM, nor PKCS#8 DER, or it is corrupt.',
  },
  ERR_KEY_PASSPHRASE_REQUIRED: {
    kind: 'usage',
    status: 400,
    message: 'The private key is encrypted and no passphrase was given.',
    doc: 'The key file is encrypted. Pass its passphrase (for example `--passphrase-file`).',
  },
  ERR_KEY_DECRYPT_FAILED: {
    kind: 'usage',
    status: 400,
    message: 'The private key could not be decrypted.',
    doc: 'The passphrase is wrong or the encrypted key is corrupt.',
  },
  ERR_KEY_PASSPHRASE_EMPTY: {
    kind: 'usage',
    status: 400,
    message: 'An empty passphrase was given.',
    doc: 'Encrypting with an empty passphrase protects nothing. Give a real passphrase or write the key unencrypted on purpose.',
  },
  ERR_KEY_WEAK: {
    kind: 'refused',
    status: 422,
    message: 'The key is too weak.',
    doc: 'RSA keys must have 2048 to 8192 bits (or the configured minimum) and public exponent 65537. details.reason says which rule failed.',
  },
  ERR_KEY_UNSUPPORTED: {
    kind: 'refused',
    status: 422,
    message: 'The key type is not supported.',
    doc: 'mutual accepts ECDSA P-256/P-384, RSA and Ed25519 keys. Other curves, DSA, DH, RSA-PSS-only, Ed448 and X25519 keys are refused.',
  },
  ERR_KEY_NOT_ALLOWED: {
    kind: 'refused',
    status: 422,
    message: 'The key type is not allowed here.',
    doc: 'The key is valid but the policy allows other key types only. details.allowed lists them.',
  },
  ERR_IDENTITY_SPIFFE_INVALID: {
    kind: 'usage',
    status: 400,
    message: 'The SPIFFE ID is invalid.',
    doc: 'A SPIFFE ID must be `spiffe://<trust-domain>/<path>` with a lowercase trust domain, no port, userinfo, query, fragment, percent-encoding, empty or dot segments. details.reason names the rule.',
  },
  ERR_PKCS12_PASSPHRASE_REQUIRED: {
    kind: 'usage',
    status: 400,
    message: 'A PKCS#12 file needs a non-empty passphrase.',
    doc: 'mutual never writes an unprotected PKCS#12 file. Pass a passphrase.',
  },
  ERR_PKCS12_KEY_MISMATCH: {
    kind: 'usage',
    status: 400,
    message: 'The private key does not belong to the certificate.',
    doc: "The key given for the PKCS#12 file is not the certificate's key. Pass the key the certificate was issued for.",
  },
} as const satisfies Record<string, ErrorSpec>;
