/**
 * api: the dashboard's calls to the CA's HTTP API (same origin, session cookie or the browser's
 * client certificate), every answer parsed with the wire contract of @mutual/sdk/contract. Mutating
 * calls carry the session's CSRF token. Lifecycle endpoints a CA may not have yet answer undefined.
 */
export { ApiError, api, type CertificateFilter } from './client.js';
