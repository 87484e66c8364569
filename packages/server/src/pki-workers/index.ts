/**
 * pki-workers: runs the CA's CPU-heavy pki steps (CSR parsing with proof of possession; building,
 * signing and linting certificates) on worker threads, behind ca's PkiWork port, so one CA
 * process uses every core while its main thread serves HTTP and commits to the store.
 */
export { createPkiWorkerPool, type PkiWorkerPool, type PkiWorkerPoolOptions } from './pool.js';
