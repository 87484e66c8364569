/**
 * contract: the wire format of mutual's HTTP APIs (zod schemas and their types), shared by the
 * server, the CLI, the SDK client and the dashboard. Data shapes only: no I/O, no logic.
 */
export * from './v1.js';
export * from './v1-lifecycle.js';
export * from './v1-tokens.js';
export * from './v1-dashboard.js';
