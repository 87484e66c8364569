import { MutualError } from '../errors/index.js';
import { DerError, readSingleTlv } from './der.js';

/** One decoded PEM block: its label (`CERTIFICATE`, `PRIVATE KEY`…) and the DER bytes. */
export interface PemBlock {
  label: string;
  der: Uint8Array;
}

export interface DecodePemOptions {
  /** Refuse inputs larger than this many bytes (UTF-8). Default 1 MiB. */
  maxBytes?: number;
}

/** Default cap on PEM/DER input: far above any certificate, key or bundle mutual handles. */
export const DEFAULT_MAX_PEM_BYTES = 1024 * 1024;

// RFC 7468: label = [ labelchar *( ["-" / SP] labelchar ) ], labelchar = %x21-2C / %x2E-7E.
const LABEL = String.raw`[\x21-\x2c\x2e-\x7e](?:[- ]?[\x21-\x2c\x2e-\x7e])*`;
const BEGIN_LINE = new RegExp(`^-----BEGIN (${LABEL})-----[ \\t]*$`);
const END_LINE = new RegExp(`^-----END (${LABEL})-----[ \\t]*$`);
const LABEL_ONLY = new RegExp(`^${LABEL}$`);
const BASE64_LINE = /^[A-Za-z0-9+/]*={0,2}$/;

function malformed(message: string, details: Record<string, unknown> = {}): MutualError {
  return new MutualError('ERR_PEM_MALFORMED', { message, details });
}

/**
 * Decodes every PEM block of `text`. Text outside blocks (openssl's "Bag Attributes", comments)
 * is tolerated; inside a block only strict, canonical base64 is accepted (no headers, no stray
 * characters, padding only at the end). NUL bytes anywhere are refused.
 */
export function decodePem(text: string, opts: DecodePemOptions = {}): PemBlock[] {
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_PEM_BYTES;
  if (typeof text !== 'string') throw malformed('PEM input must be text.');
  // A cheap bound first (a UTF-16 unit is at most 3 UTF-8 bytes), then the exact byte count.
  if (text.length > maxBytes || Buffer.byteLength(text, 'utf8') > maxBytes) {
    throw new MutualError('ERR_PEM_TOO_LARGE', { details: { maxBytes } });
  }
  if (text.includes('\0')) throw malformed('The PEM input contains a NUL byte.');

  // A byte-order mark (editors on Windows) is text outside any block.
  const lines = (text.startsWith('\uFEFF') ? text.slice(1) : text).split('\n');
  const blocks: PemBlock[] = [];
  let current: { label: string; startLine: number; body: string[] } | undefined;
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] ?? '').replace(/\r$/, '');
    if (current === undefined) {
      const begin = BEGIN_LINE.exec(line);
      if (begin) current = { label: begin[1] ?? '', startLine: i + 1, body: [] };
      else if (line.includes('-----BEGIN ')) {
        throw malformed(`Line ${i + 1} has a malformed BEGIN line.`, { line: i + 1 });
      }
      continue;
    }
    const end = END_LINE.exec(line);
    if (end) {
      if (end[1] !== current.label) {
        throw malformed(`Line ${i + 1}: the END label does not match the BEGIN label.`, { line: i + 1 });
      }
      blocks.push({ label: current.label, der: decodeBase64Strict(current.body, current.startLine) });
      current = undefined;
      continue;
    }
    if (line.startsWith('-----')) {
      throw malformed(`Line ${i + 1}: unexpected boundary inside a PEM block.`, { line: i + 1 });
    }
    current.body.push(line.replace(/[ \t]+$/, ''));
  }
  if (current !== undefined) {
    throw malformed(`The PEM block that begins on line ${current.startLine} has no END line.`, {
      line: current.startLine,
    });
  }
  if (blocks.length === 0) throw new MutualError('ERR_PEM_EMPTY');
  return blocks;
}

function decodeBase64Strict(lines: readonly string[], startLine: number): Uint8Array {
  const where = { line: startLine };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? '';
    if (line.length === 0) throw malformed(`The PEM block on line ${startLine} contains an empty line.`, where);
    if (line.includes(':')) {
      throw malformed(`The PEM block on line ${startLine} has headers; only plain base64 is accepted.`, where);
    }
    if (!BASE64_LINE.test(line)) {
      throw malformed(`The PEM block on line ${startLine} contains characters that are not base64.`, where);
    }
    if (line.includes('=') && i !== lines.length - 1) {
      throw malformed(`The PEM block on line ${startLine} has base64 padding before its end.`, where);
    }
  }
  const joined = lines.join('');
  if (joined.length === 0) throw malformed(`The PEM block on line ${startLine} is empty.`, where);
  if (joined.length % 4 !== 0) {
    throw malformed(`The PEM block on line ${startLine} has a truncated base64 body.`, where);
  }
  const bytes = Buffer.from(joined, 'base64');
  // Canonical form only: unused bits must be zero, so re-encoding must give the same text.
  if (bytes.toString('base64') !== joined) {
    throw malformed(`The PEM block on line ${startLine} is not canonical base64.`, where);
  }
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * Decodes a PEM text that must hold exactly one block, with one of the allowed labels.
 * Any block with another label → ERR_PEM_UNEXPECTED_LABEL; several blocks → ERR_PEM_MULTIPLE_BLOCKS.
 */
export function decodeOnePem(text: string, labels: string | readonly string[]): Uint8Array {
  const allowed: readonly string[] = typeof labels === 'string' ? [labels] : labels;
  const blocks = decodePem(text);
  const unexpected = blocks.filter((b) => !allowed.includes(b.label));
  if (unexpected.length > 0) {
    throw new MutualError('ERR_PEM_UNEXPECTED_LABEL', {
      message: `Expected ${allowed.join(' or ')}, found ${unexpected.map((b) => b.label).join(', ')}.`,
      details: { found: blocks.map((b) => b.label), expected: [...allowed] },
    });
  }
  if (blocks.length !== 1) {
    throw new MutualError('ERR_PEM_MULTIPLE_BLOCKS', { details: { count: blocks.length } });
  }
  return (blocks[0] as PemBlock).der;
}

/** Encodes DER as one PEM block: 64-column base64 lines, ending with a newline. */
export function encodePem(der: Uint8Array, label: string): string {
  if (!LABEL_ONLY.test(label)) {
    throw new MutualError('ERR_USAGE_INVALID_ARGUMENT', { message: 'Invalid PEM label.', details: { label } });
  }
  if (der.length === 0) {
    throw new MutualError('ERR_USAGE_INVALID_ARGUMENT', { message: 'Cannot PEM-encode an empty object.' });
  }
  const b64 = Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString('base64');
  let out = `-----BEGIN ${label}-----\n`;
  for (let i = 0; i < b64.length; i += 64) out += `${b64.slice(i, i + 64)}\n`;
  return `${out}-----END ${label}-----\n`;
}

export interface ReadDerObjectsOptions {
  /** Refuse inputs larger than this many bytes. Default 1 MiB. */
  maxBytes?: number;
}

/**
 * Reads DER objects from a PEM bundle (every block must carry one of `labels`) or from one raw DER
 * object (a SEQUENCE whose encoded length is exactly the input length). Each object must be one
 * well-formed DER SEQUENCE with nothing after it.
 */
export function readDerObjects(
  input: Uint8Array | string,
  labels: readonly string[],
  opts: ReadDerObjectsOptions = {},
): Uint8Array[] {
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_PEM_BYTES;
  let text: string;
  if (typeof input === 'string') {
    text = input;
  } else {
    if (input.length > maxBytes) throw new MutualError('ERR_PEM_TOO_LARGE', { details: { maxBytes } });
    if (input.length === 0) throw new MutualError('ERR_PEM_EMPTY');
    if (input[0] === 0x30) {
      checkDerSequence(input, 0);
      return [input.slice()];
    }
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(input);
    } catch (cause) {
      throw new MutualError('ERR_PEM_MALFORMED', {
        message: 'The input is neither a DER object nor PEM text.',
        cause,
      });
    }
  }
  const blocks = decodePem(text, { maxBytes });
  const unexpected = blocks.filter((b) => !labels.includes(b.label));
  if (unexpected.length > 0) {
    throw new MutualError('ERR_PEM_UNEXPECTED_LABEL', {
      message: `Expected ${labels.join(' or ')}, found ${unexpected.map((b) => b.label).join(', ')}.`,
      details: { found: blocks.map((b) => b.label), expected: [...labels] },
    });
  }
  blocks.forEach((b, index) => {
    checkDerSequence(b.der, index);
  });
  return blocks.map((b) => b.der);
}

function checkDerSequence(der: Uint8Array, index: number): void {
  try {
    readSingleTlv(der, 0x30);
  } catch (cause) {
    const reason = cause instanceof DerError ? cause.message : 'unreadable';
    throw new MutualError('ERR_DER_MALFORMED', {
      message: `Object ${index + 1} is not a single DER SEQUENCE (${reason}).`,
      details: { index },
      cause,
    });
  }
}
