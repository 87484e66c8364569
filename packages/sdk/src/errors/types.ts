/**
 * How an error is classed: decides the HTTP status and the CLI exit code.
 * usage: the caller asked for something malformed (exit 2, HTTP 400).
 * config: configuration is invalid (exit 2).
 * refused: well-formed but not allowed (exit 1, HTTP 403/409/422).
 * unavailable / internal: our fault or a dependency's (exit 1, HTTP 5xx).
 */
export type ErrorKind = 'usage' | 'config' | 'refused' | 'not-found' | 'conflict' | 'unavailable' | 'internal';

export interface ErrorSpec {
  readonly kind: ErrorKind;
  /** HTTP status when the error crosses the API. */
  readonly status: number;
  /** Safe public message. Never contains secrets or internal detail. */
  readonly message: string;
  /** One line for docs/reference/errors.md: when it happens and what to do. */
  readonly doc: string;
}
