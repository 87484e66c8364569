/**
 * ca-client: the CA's HTTP API as typed calls (sign, renew, revoke, tokens, inventory, CRL, the
 * revocation feed, component reports and what admins read of them) and a fingerprint-checked
 * bootstrap. It never sends a private key: keys and CSRs are made by the caller, and only the CSR
 * leaves the machine.
 */
export { CaClient, bootstrapCa, type AuthFailuresFilter, type CaClientOptions, type InventoryQuery } from './client.js';
