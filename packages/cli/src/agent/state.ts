import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { MutualError, writeFileAtomic } from '@mutual/sdk';

/**
 * What the agent remembers between ticks and restarts, per certificate. Times are ISO strings by
 * the agent's own clock. `localStart`/`localEnd` are the validity of the certificate `serial`
 * measured on the agent's clock (received at `localStart`), so a skewed clock between agent and
 * CA does not move the renewal point.
 */
const certState = z.object({
  serial: z.string().nullable(),
  notAfter: z.string().nullable(),
  localStart: z.string().nullable(),
  localEnd: z.string().nullable(),
  renewAt: z.string().nullable(),
  overdueAt: z.string().nullable(),
  status: z.string().nullable(),
  failures: z.number().int().nonnegative(),
  retryAt: z.string().nullable(),
  lastAttemptAt: z.string().nullable(),
  lastRenewalAt: z.string().nullable(),
  lastError: z.string().nullable(),
  renewals: z.number().int().nonnegative(),
  path: z.string(),
  /** The key's path (for revokeOnRemove: the pair presented to revoke a removed certificate). */
  keyPath: z.string().optional(),
});
export type CertificateState = z.infer<typeof certState>;

const stateSchema = z.object({
  version: z.literal(1),
  agent: z.string(),
  pid: z.number().int(),
  updatedAt: z.string(),
  certificates: z.record(z.string(), certState),
});
export type AgentState = z.infer<typeof stateSchema>;

export function emptyCertificateState(path: string): CertificateState {
  return {
    serial: null,
    notAfter: null,
    localStart: null,
    localEnd: null,
    renewAt: null,
    overdueAt: null,
    status: null,
    failures: 0,
    retryAt: null,
    lastAttemptAt: null,
    lastRenewalAt: null,
    lastError: null,
    renewals: 0,
    path,
  };
}

/** Reads the state file; a missing file is null, a malformed one an error. */
export async function readAgentState(file: string): Promise<AgentState | null> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as { code?: unknown }).code === 'ENOENT') return null;
    throw new MutualError('ERR_FILE_READ', { details: { file }, cause: err });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new MutualError('ERR_AGENT_STATE_INVALID', { details: { file }, cause: err });
  }
  const parsed = stateSchema.safeParse(value);
  if (!parsed.success) throw new MutualError('ERR_AGENT_STATE_INVALID', { details: { file }, cause: parsed.error });
  return parsed.data;
}

export async function writeAgentState(file: string, state: AgentState): Promise<void> {
  await writeFileAtomic(file, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
}
