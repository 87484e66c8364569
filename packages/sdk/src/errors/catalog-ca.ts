import type { ErrorSpec } from './types.js';

/** Error codes of issuance, name policy and CA key handling (server/ca, server/keys). */
export const caErrors = {
  ERR_POLICY_DNS_NOT_ALLOWED: {
    kind: 'refused',
    status: 403,
    message: 'A requested DNS name is not allowed by the name policy.',
    doc: "The name matches none of the profile's `dns.allow` patterns (details.rule names the rule). Ask for an allowed name or change the policy in ca.yaml.",
  },
  ERR_POLICY_IP_NOT_ALLOWED: {
    kind: 'refused',
    status: 403,
    message: 'A requested IP address is not allowed by the name policy.',
    doc: "The address is in none of the profile's `ip.allow` ranges.",
  },
  ERR_POLICY_URI_NOT_ALLOWED: {
    kind: 'refused',
    status: 403,
    message: 'A requested URI name is not allowed by the name policy.',
    doc: 'Only SPIFFE IDs may be requested as URI names, one per certificate, in the configured trust domain and matching `spiffe.paths`.',
  },
  ERR_POLICY_EMAIL_NOT_ALLOWED: {
    kind: 'refused',
    status: 403,
    message: 'A requested email address is not allowed by the name policy.',
    doc: "The address matches none of the profile's `email.allow` patterns.",
  },
  ERR_POLICY_WILDCARD_NOT_ALLOWED: {
    kind: 'refused',
    status: 403,
    message: 'Wildcard names are not allowed for this profile.',
    doc: 'Set `dns.allowWildcards: true` on the profile to permit `*.example.com`; a wildcard is only ever one whole left-most label.',
  },
  ERR_POLICY_NAME_INVALID: {
    kind: 'usage',
    status: 400,
    message: 'A requested name is malformed.',
    doc: 'The name is not a valid DNS name, IP address, SPIFFE ID or email (NUL/CR/LF, over-long labels, misplaced wildcards, more than 100 names). details.reason says which.',
  },
  ERR_POLICY_NO_NAMES: {
    kind: 'usage',
    status: 400,
    message: 'No name was requested.',
    doc: 'A leaf certificate needs at least one DNS name, IP address, SPIFFE ID or email.',
  },
  ERR_POLICY_LIFETIME_EXCEEDED: {
    kind: 'refused',
    status: 403,
    message: 'The requested lifetime exceeds the policy maximum.',
    doc: 'Request a shorter `--lifetime` or raise `maxLifetime` for the profile.',
  },
  ERR_POLICY_PROFILE_UNKNOWN: {
    kind: 'usage',
    status: 400,
    message: 'Unknown certificate profile.',
    doc: 'Profiles are `server`, `client` and `both`.',
  },
  ERR_CA_ALREADY_EXISTS: {
    kind: 'refused',
    status: 409,
    message: 'A CA already exists in this directory.',
    doc: '`mutual ca init` never overwrites a CA. Choose another `--dir` or remove the old one deliberately.',
  },
  ERR_CA_NOT_INITIALIZED: {
    kind: 'config',
    status: 500,
    message: 'No CA found in this directory.',
    doc: 'Run `mutual ca init` first, or point `--dir` at the CA directory (default `.mutual`).',
  },
  ERR_CA_PASSPHRASE_MISSING: {
    kind: 'config',
    status: 500,
    message: 'The CA key passphrase is not available.',
    doc: 'The passphrase reference in ca.yaml names a file that is missing or an environment variable that is not set.',
  },
  ERR_CA_KEY_MISMATCH: {
    kind: 'config',
    status: 500,
    message: 'A CA key does not match its certificate.',
    doc: 'The key file and certificate file of the root or intermediate belong to different key pairs.',
  },
  ERR_CA_ISSUER_UNUSABLE: {
    kind: 'unavailable',
    status: 503,
    message: 'The issuing CA cannot sign now.',
    doc: 'The intermediate is expired, not yet valid or too close to expiry for any lifetime. Rotate the intermediate.',
  },
} as const satisfies Record<string, ErrorSpec>;
