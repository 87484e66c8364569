import type { ErrorSpec } from './types.js';

/** Error codes of the mutual command (cli). */
export const cliErrors = {} as const satisfies Record<string, ErrorSpec>;
