/**
 * The body of one pki worker thread: parses CSRs and builds, signs and lints certificates for the
 * pool in pool.ts. Issuers arrive once (`issuer`) and stay, so what pki derives from them (parsed
 * certificate, matched key) is computed once per thread.
 */
import { X509Certificate } from 'node:crypto';
import { parentPort } from 'node:worker_threads';
import { isMutualError } from '@mutual/sdk';
import { loadPkcs11Module, parsePkcs11Uri } from '../keys/index.js';
import { issueCertificate, parseCsr, rememberSpki, type Issuer } from '../pki/index.js';
import type { PkiRequest, PkiResponse, WireError } from './protocol.js';

const port = parentPort;
if (port === null) throw new Error('pki-workers/worker.ts runs only as a worker thread');

const issuers = new Map<number, Issuer | (() => Issuer)>();

function wire(error: unknown): WireError {
  if (isMutualError(error)) return { code: error.code, message: error.message, details: { ...error.details } };
  return { message: error instanceof Error ? error.message : String(error) };
}

/** A key on a token, opened in this thread's own session on first use (and again after a failure). */
function onToken(request: Extract<PkiRequest, { kind: 'issuer-on-token' }>): () => Issuer {
  let opened: Issuer | undefined;
  return () => {
    if (opened !== undefined) return opened;
    const { module, uri, pin } = request.access;
    const ref = parsePkcs11Uri(uri);
    const publicKey = new X509Certificate(request.certificateDer).publicKey;
    opened = {
      certificateDer: request.certificateDer,
      privateKey: loadPkcs11Module(module).openToken(ref, pin).key(ref, publicKey),
    };
    return opened;
  };
}

function handle(request: Exclude<PkiRequest, { kind: 'issuer' | 'issuer-on-token' }>): PkiResponse {
  try {
    if (request.kind === 'csr') return { job: request.job, ok: true, value: parseCsr(request.input, request.options) };
    const registered = issuers.get(request.issuerId);
    if (registered === undefined) throw new Error(`issuer ${request.issuerId} was never registered with this worker`);
    const issuer = typeof registered === 'function' ? registered() : registered;
    rememberSpki(request.input.publicKey, request.spki);
    return { job: request.job, ok: true, value: issueCertificate({ ...request.input, issuer }) };
  } catch (error) {
    return { job: request.job, ok: false, error: wire(error) };
  }
}

// A batch of requests in, one batch of answers out.
port.on('message', (requests: readonly PkiRequest[]) => {
  const responses: PkiResponse[] = [];
  for (const request of requests) {
    if (request.kind === 'issuer') {
      issuers.set(request.issuerId, { certificateDer: request.certificateDer, privateKey: request.privateKey });
    } else if (request.kind === 'issuer-on-token') {
      issuers.set(request.issuerId, onToken(request));
    } else responses.push(handle(request));
  }
  try {
    port.postMessage(responses);
  } catch {
    // Some refusal's details could not be cloned: send the refusals without details.
    port.postMessage(responses.map((r) => (r.ok ? r : { ...r, error: { ...r.error, details: {} } })));
  }
});
