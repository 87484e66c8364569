import type { ErrorSpec } from './types.js';

/** Error codes of chain verification (sdk/verify). */
export const verifyErrors = {} as const satisfies Record<string, ErrorSpec>;
