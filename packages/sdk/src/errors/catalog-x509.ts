import type { ErrorSpec } from './types.js';

/** Error codes of PEM, DER, keys, identity extraction and PKCS#12 (sdk/pem, sdk/keys, sdk/identity, sdk/pkcs12). */
export const x509Errors = {} as const satisfies Record<string, ErrorSpec>;
