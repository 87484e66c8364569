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
} as const satisfies Record<string, ErrorSpec>;
