/**
 * mtls: servers and clients that use self-renewing credentials — `createMtlsServer` (certificate
 * swapped on rotation without dropping connections) and `mtlsAgent`/`mtlsFetch` — with every peer
 * judged by OpenSSL, mutual's verifier and an authorizer. Decisions are values, reported through
 * `onDecision`; it never resumes a session across a rotation and never trusts a string form.
 */
export { createMtlsServer, mtlsPeerOf, type MtlsHttpServerOptions, type MtlsTlsServerOptions } from './server.js';
export { mtlsAgent, mtlsFetch, type MtlsAgentOptions, type MtlsFetchInit, type MtlsFetchOptions } from './agent.js';
export type { MtlsDecision, MtlsPeer } from './peer.js';
export { MTLS_CIPHERS, mtlsContextOptions, mtlsGroups } from './tls-defaults.js';
