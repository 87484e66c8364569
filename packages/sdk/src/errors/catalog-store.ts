import type { ErrorSpec } from './types.js';

/** Error codes of storage (server/store). */
export const storeErrors = {} as const satisfies Record<string, ErrorSpec>;
