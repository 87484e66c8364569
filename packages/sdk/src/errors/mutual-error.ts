import { errorCatalog, type ErrorCode } from './catalog.js';
import type { ErrorKind } from './types.js';

export interface MutualErrorOptions {
  /** Replaces the catalog's generic public message. Must be safe to show to the caller. */
  readonly message?: string;
  /** Structured, public detail (for example the policy rule or the field path). */
  readonly details?: Readonly<Record<string, unknown>>;
  /** Internal cause: logged, never shown to a remote caller. */
  readonly cause?: unknown;
}

/**
 * The one error class of mutual. `code` is stable (ERR_<AREA>_<REASON>), `message` is safe to
 * show, `cause` is for logs only.
 */
export class MutualError extends Error {
  readonly code: ErrorCode;
  readonly kind: ErrorKind;
  readonly status: number;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: ErrorCode, options: MutualErrorOptions = {}) {
    const spec = errorCatalog[code];
    super(options.message ?? spec.message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'MutualError';
    this.code = code;
    this.kind = spec.kind;
    this.status = spec.status;
    this.details = Object.freeze({ ...(options.details ?? {}) });
  }

  /** The CLI exit code for this error: 2 for usage or configuration errors, 1 otherwise. */
  get exitCode(): 1 | 2 {
    return this.kind === 'usage' || this.kind === 'config' ? 2 : 1;
  }

  /** What may cross a trust boundary: code, safe message and public details. */
  toPublic(): { code: ErrorCode; message: string; details: Readonly<Record<string, unknown>> } {
    return { code: this.code, message: this.message, details: this.details };
  }
}

export function isMutualError(value: unknown): value is MutualError {
  return value instanceof MutualError;
}

/** Wraps anything thrown into a MutualError, keeping MutualErrors as they are. */
export function toMutualError(value: unknown, fallback: ErrorCode = 'ERR_INTERNAL_UNEXPECTED'): MutualError {
  return isMutualError(value) ? value : new MutualError(fallback, { cause: value });
}
