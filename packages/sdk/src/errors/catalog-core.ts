import type { ErrorSpec } from './types.js';

/** Codes every part of mutual can raise: input, configuration, internal faults. */
export const coreErrors = {
  ERR_INTERNAL_UNEXPECTED: {
    kind: 'internal',
    status: 500,
    message: 'An internal error occurred.',
    doc: 'A bug or an unexpected fault. The log has the cause; please report it.',
  },
  ERR_USAGE_INVALID_ARGUMENT: {
    kind: 'usage',
    status: 400,
    message: 'An argument is invalid.',
    doc: 'A command-line argument or API field has the wrong form. The message names it.',
  },
  ERR_CONFIG_INVALID: {
    kind: 'config',
    status: 500,
    message: 'The configuration is invalid.',
    doc: 'The configuration file failed validation. Every problem is listed with its path; nothing was started or changed.',
  },
  ERR_CONFIG_NOT_FOUND: {
    kind: 'config',
    status: 500,
    message: 'The configuration file was not found.',
    doc: 'The configuration or CA directory does not exist. Run `mutual ca init` or pass the right `--dir`/`--config`.',
  },
  ERR_FILE_READ: {
    kind: 'usage',
    status: 400,
    message: 'A file could not be read.',
    doc: 'An input file is missing or unreadable. The message names the file.',
  },
  ERR_FILE_WRITE: {
    kind: 'unavailable',
    status: 500,
    message: 'A file could not be written.',
    doc: 'Writing an output file failed (permissions, disk full, file exists). Nothing was left half-written.',
  },
  ERR_FILE_EXISTS: {
    kind: 'refused',
    status: 409,
    message: 'The file already exists.',
    doc: 'mutual never overwrites an existing key or certificate silently. Move the file away or pass `--force` where offered.',
  },
  ERR_FILE_TOO_LARGE: {
    kind: 'usage',
    status: 413,
    message: 'The input file is too large.',
    doc: 'An input file exceeds the size mutual accepts for its kind (certificates, CSRs, configuration).',
  },
} as const satisfies Record<string, ErrorSpec>;
