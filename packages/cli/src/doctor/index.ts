/**
 * doctor: runs an mTLS exchange step by step (TCP, TLS, server chain, CertificateRequest, client
 * material, handshake, HTTP) and explains each failure in words with the command that fixes it.
 * It judges chains with the gateway's verifier; it never sends the private key anywhere but the handshake.
 */
export { diagnose, type DoctorInput } from './diagnose.js';
export { renderReport } from './render.js';
export { parseTarget, type Target } from './target.js';
export { loadMaterial, identityDir, type Material, type MaterialFlags } from './material.js';
export { explainTlsError, oneLine, type TlsFailure } from './alerts.js';
export { summarize } from './server-checks.js';
export type { DoctorReport, Finding, FindingId, Step } from './types.js';
