import { issueCertificate, parseCsr } from '../pki/index.js';
import type { PkiWork } from './ports.js';

/** PkiWork in the caller's own thread: what tests and `server.workers: 0` use. */
export const inlinePkiWork: PkiWork = {
  parseCsr: (input, options) => Promise.resolve().then(() => parseCsr(input, options)),
  issue: (input) => Promise.resolve().then(() => issueCertificate(input)),
};
