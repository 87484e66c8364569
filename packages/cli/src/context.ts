import type { Readable } from 'node:stream';

/**
 * Everything a command may use from the outside world, handed in by bin.ts (the composition root)
 * so commands never read process.env, the clock or the streams directly and tests can drive them.
 */
export interface CliContext {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly cwd: string;
  readonly stdin: Readable;
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly now: () => Date;
  /** True when stdout is a terminal (colours and prompts allowed). */
  readonly interactive: boolean;
  /** Set by a command to report a non-zero outcome without throwing (0 ok, 1 failed, 2 usage). */
  exitCode: number;
}

/** Reads all of a stream (stdin) into one buffer, capped so a huge input cannot exhaust memory. */
export async function readAll(stream: Readable, maxBytes = 16 * 1024 * 1024): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of stream) {
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string);
    total += buf.length;
    if (total > maxBytes) throw new Error(`input larger than ${maxBytes} bytes`);
    chunks.push(buf);
  }
  return Buffer.concat(chunks);
}
