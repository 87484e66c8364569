import type { ErrorSpec } from './types.js';

/** Error codes of certificate building, CSR parsing, profiles and lint (server/pki). */
export const pkiErrors = {} as const satisfies Record<string, ErrorSpec>;
