/**
 * errors: the one error class (MutualError) and the one catalog of stable codes.
 * Everything mutual throws across a module boundary is a MutualError with a catalog code.
 * Never put secrets in a message or in details; the internal cause goes to logs only.
 */
export { MutualError, isMutualError, toMutualError, type MutualErrorOptions } from './mutual-error.js';
export { errorCatalog, type ErrorCode } from './catalog.js';
export type { ErrorKind, ErrorSpec } from './types.js';
export { renderErrorsDoc } from './render-doc.js';
