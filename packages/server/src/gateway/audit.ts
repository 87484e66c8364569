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
  // The lines of one turn of the event loop go out in one write (a file write per record was a
  // measurable share of a keep-alive request's CPU); the stream itself writes asynchronously anyway.
  let pending: string[] = [];
  let scheduled = false;
  const flush = (): void => {
    scheduled = false;
    if (pending.length === 0) return;
    const text = pending.join('');
    pending = [];
    stream.write(text);
  };
  return {
    write: (r) => {
      pending.push(`${JSON.stringify(r)}\n`);
      if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
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
