/**
 * pem: PEM text ⇄ DER bytes, and a strict DER tag-length reader for the other X.509 modules.
 * Decoding is strict (canonical base64, size cap, no NUL); it never interprets what the DER
 * means and never logs or echoes the bytes it reads.
 */
export {
  decodePem,
  decodeOnePem,
  encodePem,
  readDerObjects,
  DEFAULT_MAX_PEM_BYTES,
  type PemBlock,
  type DecodePemOptions,
  type ReadDerObjectsOptions,
} from './pem.js';
export { readTlv, readSingleTlv, readChildren, isSingleDerSequence, DerError, type DerTlv } from './der.js';
