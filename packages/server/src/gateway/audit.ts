/**
 * Audit records of the gateway: one JSON line per decision (request) and per failed handshake.
 * Sinks are small ports; the file sink appends JSON lines. Records never hold keys or bodies.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import type { Writable } from 'node:stream';

export interface GatewayAuditRecord {
  readonly time: string;
  /** request (http mode), connection (tcp mode), handshake (refused handshakes and closed connections). */
  readonly type: 'request' | 'connection' | 'handshake';
  readonly listener: string;
  /** Source address and port. */
  readonly peer: string;
  readonly identity: string | null;
  readonly serial: string | null;
  readonly fingerprint: string | null;
  readonly issuer: string | null;
  readonly route: string | null;
  readonly method: string | null;
  readonly path: string | null;
  /** allow | deny | audit-deny (request); allow | deny (connection); refused (handshake). */
  readonly decision: string;
  readonly reason: string;
  /** One line of detail for the operator (a verifier message, an OpenSSL error). */
  readonly detail?: string;
  readonly status: number | null;
  readonly latencyMs: number | null;
}

/** Longest a record waits before it is handed to the file (ms), and the batch size that goes at once. */
export const AUDIT_FLUSH_MS = 20;
export const AUDIT_FLUSH_BYTES = 64 * 1024;

export interface AuditSink {
  write(record: GatewayAuditRecord): void;
  close(): Promise<void>;
}

/** Appends JSON lines to a file (created 0600), or to the given stream for "-". */
export function createAuditSink(file: string, stdout: Writable, onError: (err: Error) => void): AuditSink {
  if (file === '-') {
    return {
      write: (r) => {
        stdout.write(`${JSON.stringify(r)}\n`);
      },
      close: () => Promise.resolve(),
    };
  }
  const stream: WriteStream = createWriteStream(file, { flags: 'a', mode: 0o600 });
  stream.on('error', onError);
  // Lines are gathered and written together: at most AUDIT_FLUSH_MS after the first of a batch, or
  // at once when AUDIT_FLUSH_BYTES are waiting (a file write per record, or per turn of the event loop,
  // was a measurable share of a keep-alive request's CPU). The stream itself writes asynchronously.
  let pending: string[] = [];
  let bytes = 0;
  let timer: NodeJS.Timeout | undefined;
  const flush = (): void => {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
    if (pending.length === 0) return;
    const text = pending.join('');
    pending = [];
    bytes = 0;
    stream.write(text);
  };
  return {
    write: (r) => {
      const line = `${JSON.stringify(r)}\n`;
      pending.push(line);
      bytes += line.length;
      if (bytes >= AUDIT_FLUSH_BYTES) flush();
      else timer ??= setTimeout(flush, AUDIT_FLUSH_MS);
    },
    close: () =>
      new Promise((resolve) => {
        flush();
        stream.end(() => {
          resolve();
        });
      }),
  };
}
