import type { ErrorSpec } from './types.js';

/** Error codes of the mutual command (cli). */
export const cliErrors = {
  ERR_CLI_CONNECT_FAILED: {
    kind: 'unavailable',
    status: 502,
    message: 'Could not connect to the server.',
    doc: 'Nothing listens at host:port, the connection timed out, or the peer does not speak TLS. The message has the system error.',
  },
  ERR_CLI_PASSPHRASE_REQUIRED: {
    kind: 'usage',
    status: 400,
    message: 'A passphrase is required.',
    doc: 'Give the bundle passphrase with `--passphrase-file` or `--passphrase-env`, or let mutual generate one.',
  },
  ERR_KEY_MISMATCH: {
    kind: 'usage',
    status: 400,
    message: 'The private key does not match the certificate.',
    doc: 'The key file belongs to another key pair than the certificate. Use the key written beside the certificate.',
  },
  ERR_CA_CLIENT_UNREACHABLE: {
    kind: 'unavailable',
    status: 502,
    message: 'The CA cannot be reached.',
    doc: 'Nothing answers at the CA URL, the TLS handshake failed (wrong trust anchor?), or it timed out. Check `--ca-url` and run `mutual ca bootstrap` again if the root changed.',
  },
  ERR_CA_CLIENT_RESPONSE: {
    kind: 'unavailable',
    status: 502,
    message: 'The CA answered with something unexpected.',
    doc: 'The response was not the API v1 form, or an error code unknown to this version (details.code). Check that client and CA versions match.',
  },
  ERR_CA_FINGERPRINT_MISMATCH: {
    kind: 'refused',
    status: 403,
    message: "The CA's root does not match the fingerprint.",
    doc: 'Bootstrap refused: the root served at the URL is not the one you pinned. Do not continue; check the URL and the fingerprint from `mutual ca fingerprint` on the CA.',
  },
  ERR_CLI_NO_CONTEXT: {
    kind: 'config',
    status: 500,
    message: 'No CA context is configured.',
    doc: 'Run `mutual ca bootstrap --ca-url URL --fingerprint SHA256` first, or pass `--ca-url` and `--root`.',
  },
  ERR_CLI_LISTEN_FAILED: {
    kind: 'unavailable',
    status: 500,
    message: 'Could not listen on the address.',
    doc: 'Another process uses the port (details.address). Stop it or choose another port (`--port`, `--ca-port`).',
  },
  ERR_CLI_IDENTITY_NOT_FOUND: {
    kind: 'usage',
    status: 400,
    message: 'The named identity has no certificate here.',
    doc: '`--identity NAME` reads `identities/NAME/cert.pem`, `key.pem` and `ca.pem` in $MUTUAL_CONTEXT_DIR (default ~/.config/mutual), where the renewal agent links each identity it manages. Check the name, or pass `--cert` and `--key`.',
  },
  ERR_CLI_TLS_REFUSED: {
    kind: 'unavailable',
    status: 502,
    message: 'The TLS handshake failed.',
    doc: 'The message says which side refused and what the TLS alert means. Run `mutual doctor URL` with the same `--cert`, `--key` and `--ca` for the full diagnosis and the fix.',
  },
} as const satisfies Record<string, ErrorSpec>;
