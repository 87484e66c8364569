import type { ErrorSpec } from './types.js';

/** Error codes of issuance, name policy and CA key handling (server/ca, server/keys). */
export const caErrors = {} as const satisfies Record<string, ErrorSpec>;
