import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { errorCatalog, MutualError, type ErrorCode } from '@mutual/sdk';
import { inlinePkiWork, type PkiWork } from '../ca/index.js';
import {
  isExternalKey,
  rememberSpki,
  spkiBytes,
  type BuiltCertificate,
  type ParsedCsr,
  type SigningKey,
} from '../pki/index.js';
import type { Pkcs11Key, Pkcs11ThreadAccess } from '../keys/index.js';
import type { PkiRequest, PkiResponse, WireError } from './protocol.js';

export interface PkiWorkerPoolOptions {
  /** Worker threads (≥ 1). */
  readonly size: number;
  /** Told when a worker stops unexpectedly (it is replaced) or when the pool gives up on threads. */
  readonly onWorkerError?: (error: Error) => void;
  /** Another worker body (an ES module URL); default worker.js beside this file. Tests use it to make threads fail. */
  readonly workerUrl?: URL;
}

export interface PkiWorkerPool extends PkiWork {
  readonly size: number;
  /** Jobs sent and not yet answered, over all workers. */
  inFlight(): number;
  /** Threads that stopped unexpectedly since the pool started (each was replaced). */
  stops(): number;
  /** Whether the pool gave up on threads and runs the work in the calling thread. */
  inline(): boolean;
  /** Stops every worker; jobs still in flight are refused with ERR_INTERNAL_UNEXPECTED. */
  close(): Promise<void>;
}

interface Job {
  readonly resolve: (value: ParsedCsr | BuiltCertificate) => void;
  readonly reject: (error: unknown) => void;
}

interface Slot {
  worker: Worker;
  readonly jobs: Map<number, Job>;
  /** Issuer ids this worker has been sent. */
  readonly issuers: Set<number>;
  /** Requests waiting for this tick's message to the worker. */
  outbox: PkiRequest[];
}

/** After this many workers in a row stop before answering anything, the pool runs jobs in this thread. */
const MAX_FAILED_STARTS = 5;

/** How to start a worker: the compiled worker.js, or — when running from TypeScript sources (tests) — worker.ts through tsx. */
function workerSource(): { readonly script: string | URL; readonly eval: boolean } {
  const here = import.meta.url;
  if (!here.endsWith('.ts')) return { script: new URL('./worker.js', here), eval: false };
  const tsx = createRequire(here)
    .resolve('tsx/esm/api')
    .replace(/index\.cjs$/, 'index.mjs');
  const entry = new URL('./worker.ts', here).href;
  const api = JSON.stringify(pathToFileURL(tsx).href);
  return {
    script: `import(${api}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); })`,
    eval: true,
  };
}

function fromWire(error: WireError): MutualError {
  if (error.code !== undefined && Object.hasOwn(errorCatalog, error.code)) {
    return new MutualError(error.code as ErrorCode, {
      message: error.message,
      ...(error.details === undefined ? {} : { details: error.details }),
    });
  }
  return new MutualError('ERR_INTERNAL_UNEXPECTED', { message: `pki worker: ${error.message}` });
}

/**
 * Runs PkiWork on `size` worker threads: each job goes to the worker with the fewest jobs in
 * flight. KeyObjects cross threads by reference to the same OpenSSL key (no export); a subject
 * key's SPKI bytes travel with it so neither side exports it again. A worker that stops is
 * replaced and its jobs are refused (the issuance then records the intent as failed); if workers
 * keep stopping before answering anything, the pool falls back to this thread.
 */
export function createPkiWorkerPool(options: PkiWorkerPoolOptions): PkiWorkerPool {
  if (!Number.isInteger(options.size) || options.size < 1) {
    throw new MutualError('ERR_INTERNAL_UNEXPECTED', { message: 'A pki worker pool needs at least one thread.' });
  }
  const source = options.workerUrl === undefined ? workerSource() : { script: options.workerUrl, eval: false };
  const slots: Slot[] = [];
  const issuerIds = new WeakMap<Uint8Array, { readonly id: number; readonly privateKey: SigningKey }[]>();
  let nextIssuerId = 1;
  let nextJob = 1;
  let closing = false;
  let failedStarts = 0;
  let stops = 0;
  let fallback: PkiWork | undefined;

  const spawn = (slot?: Slot): Slot => {
    const worker = new Worker(source.script, { eval: source.eval });
    worker.unref();
    const target: Slot = slot ?? { worker, jobs: new Map(), issuers: new Set(), outbox: [] };
    target.worker = worker;
    target.issuers.clear();
    target.outbox = [];
    worker.on('message', (responses: readonly PkiResponse[]) => {
      failedStarts = 0;
      for (const response of responses) {
        const job = target.jobs.get(response.job);
        if (job === undefined) continue;
        target.jobs.delete(response.job);
        if (response.ok) job.resolve(response.value);
        else job.reject(fromWire(response.error));
      }
    });
    const stopped = (error: Error): void => {
      if (target.worker !== worker) return;
      const pending = [...target.jobs.values()];
      target.jobs.clear();
      for (const job of pending) {
        job.reject(new MutualError('ERR_INTERNAL_UNEXPECTED', { message: 'A pki worker stopped.', cause: error }));
      }
      if (closing) return;
      stops++;
      options.onWorkerError?.(error);
      failedStarts++;
      if (failedStarts >= MAX_FAILED_STARTS && fallback === undefined) {
        options.onWorkerError?.(new Error('pki workers keep stopping; running pki work in the main thread'));
        fallback = inlinePkiWork;
      }
      spawn(target);
    };
    worker.on('error', stopped);
    worker.on('exit', (code) => {
      stopped(new Error(`pki worker exited with code ${code}`));
    });
    return target;
  };

  for (let i = 0; i < options.size; i++) slots.push(spawn());

  const pick = (): Slot => {
    let best = slots[0] as Slot;
    for (const slot of slots) if (slot.jobs.size < best.jobs.size) best = slot;
    return best;
  };

  /**
   * Requests go out once per turn of the event loop, as one message per worker: under load a
   * message (and a thread wake-up each way) carries many jobs instead of one.
   */
  const send = (slot: Slot, request: PkiRequest): void => {
    slot.outbox.push(request);
    if (slot.outbox.length > 1) return;
    setImmediate(() => {
      const batch = slot.outbox;
      slot.outbox = [];
      if (batch.length > 0) slot.worker.postMessage(batch);
    });
  };

  const run = <T extends ParsedCsr | BuiltCertificate>(slot: Slot, build: (job: number) => PkiRequest): Promise<T> => {
    if (closing)
      return Promise.reject(new MutualError('ERR_INTERNAL_UNEXPECTED', { message: 'The pki pool is closed.' }));
    const job = nextJob++;
    return new Promise<T>((resolve, reject) => {
      slot.jobs.set(job, { resolve: resolve as (value: ParsedCsr | BuiltCertificate) => void, reject });
      send(slot, build(job));
    });
  };

  const issuerIdFor = (issuer: { certificateDer: Uint8Array; privateKey: SigningKey }): number => {
    let known = issuerIds.get(issuer.certificateDer);
    if (known === undefined) {
      known = [];
      issuerIds.set(issuer.certificateDer, known);
    }
    let entry = known.find((k) => k.privateKey === issuer.privateKey);
    if (entry === undefined) {
      entry = { id: nextIssuerId++, privateKey: issuer.privateKey };
      known.push(entry);
    }
    return entry.id;
  };

  const parseCsr: PkiWork['parseCsr'] = async (input, parseOptions) => {
    if (fallback) return fallback.parseCsr(input, parseOptions);
    const parsed = await run<ParsedCsr>(pick(), (job) => ({ kind: 'csr', job, input, options: parseOptions }));
    rememberSpki(parsed.publicKey, parsed.spki);
    return parsed;
  };

  const issue: PkiWork['issue'] = async (input) => {
    if (fallback || 'selfSigned' in input.issuer) return (fallback ?? inlinePkiWork).issue(input);
    const { issuer, ...rest } = input;
    const key = issuer.privateKey;
    // A key on a token signs in each pki thread's own session, when the module allows several
    // threads; otherwise only here, where its session is.
    const access = isExternalKey(key) ? tokenAccess(key) : undefined;
    if (isExternalKey(key) && access === undefined) return inlinePkiWork.issue(input);
    const issuerId = issuerIdFor(issuer);
    const slot = pick();
    if (!slot.issuers.has(issuerId)) {
      if (access !== undefined) {
        send(slot, { kind: 'issuer-on-token', issuerId, certificateDer: issuer.certificateDer, access });
      } else if (!isExternalKey(key)) {
        send(slot, { kind: 'issuer', issuerId, certificateDer: issuer.certificateDer, privateKey: key });
      }
      slot.issuers.add(issuerId);
    }
    return run<BuiltCertificate>(slot, (job) => ({
      kind: 'issue',
      job,
      issuerId,
      input: rest,
      spki: spkiBytes(input.publicKey),
    }));
  };

  return {
    size: options.size,
    parseCsr,
    issue,
    inFlight: () => slots.reduce((n, s) => n + s.jobs.size, 0),
    stops: () => stops,
    inline: () => fallback !== undefined,
    close: async () => {
      closing = true;
      await Promise.all(slots.map((s) => s.worker.terminate()));
      for (const slot of slots) {
        for (const job of slot.jobs.values()) {
          job.reject(new MutualError('ERR_INTERNAL_UNEXPECTED', { message: 'The pki pool is closed.' }));
        }
        slot.jobs.clear();
      }
    },
  };
}

/** How a pki thread opens a token key of its own: only PKCS#11 keys whose module allows several threads. */
function tokenAccess(key: object): Pkcs11ThreadAccess | undefined {
  return 'threadAccess' in key ? (key as Pkcs11Key).threadAccess() : undefined;
}
