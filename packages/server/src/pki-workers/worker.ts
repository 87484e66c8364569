/**
 * The body of one pki worker thread: parses CSRs and builds, signs and lints certificates for the
 * pool in pool.ts. Issuers arrive once (`issuer`) and stay, so what pki derives from them (parsed
 * certificate, matched key) is computed once per thread.
 */
import { parentPort } from 'node:worker_threads';
import { isMutualError } from '@mutual/sdk';
import { issueCertificate, parseCsr, rememberSpki, type Issuer } from '../pki/index.js';
import type { PkiRequest, PkiResponse, WireError } from './protocol.js';

const port = parentPort;
if (port === null) throw new Error('pki-workers/worker.ts runs only as a worker thread');

const issuers = new Map<number, Issuer>();

function wire(error: unknown): WireError {
  if (isMutualError(error)) return { code: error.code, message: error.message, details: { ...error.details } };
  return { message: error instanceof Error ? error.message : String(error) };
}

function handle(request: Exclude<PkiRequest, { kind: 'issuer' }>): PkiResponse {
  try {
    if (request.kind === 'csr') return { job: request.job, ok: true, value: parseCsr(request.input, request.options) };
    const issuer = issuers.get(request.issuerId);
    if (issuer === undefined) throw new Error(`issuer ${request.issuerId} was never registered with this worker`);
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
    } else responses.push(handle(request));
  }
  try {
    port.postMessage(responses);
  } catch {
    // Some refusal's details could not be cloned: send the refusals without details.
    port.postMessage(responses.map((r) => (r.ok ? r : { ...r, error: { ...r.error, details: {} } })));
  }
});
