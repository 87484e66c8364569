import { agentErrors } from './catalog-agent.js';
import { caErrors } from './catalog-ca.js';
import { cliErrors } from './catalog-cli.js';
import { coreErrors } from './catalog-core.js';
import { credentialsErrors } from './catalog-credentials.js';
import { gatewayErrors } from './catalog-gateway.js';
import { keysErrors } from './catalog-keys.js';
import { pkiErrors } from './catalog-pki.js';
import { storeErrors } from './catalog-store.js';
import { verifyErrors } from './catalog-verify.js';
import { x509Errors } from './catalog-x509.js';
import type { ErrorSpec } from './types.js';

/**
 * The one catalog of error codes. Each area keeps its codes in its own `catalog-<area>.ts`
 * and they are merged here; docs/reference/errors.md is generated from this object and a
 * test keeps the two in sync (`npm run docs:generate` rewrites the page).
 */
export const errorCatalog = {
  ...coreErrors,
  ...x509Errors,
  ...pkiErrors,
  ...verifyErrors,
  ...storeErrors,
  ...caErrors,
  ...cliErrors,
  ...gatewayErrors,
  ...agentErrors,
  ...credentialsErrors,
  ...keysErrors,
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof errorCatalog;
