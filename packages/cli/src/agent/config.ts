import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { KEY_TYPES, MutualError, parseDuration, type KeyType } from '@mutual/sdk';
import { loadServer } from '../server.js';

const duration = (what: string, minMs = 1) =>
  z.string().transform((text, ctx) => {
    const ms = parseDuration(text);
    if (ms === undefined || ms < minMs) {
      ctx.addIssue({ code: 'custom', message: `${what}: expected a duration such as 60s, 24h or 1h30m` });
      return z.NEVER;
    }
    return ms;
  });

const listen = z.string().regex(/^(?:\[[0-9a-fA-F:.]+\]|[^:[\]]*):\d{1,5}$/, 'expected host:port, e.g. 127.0.0.1:9464');

/** A token is never written in the config: a file holding it, or the name of an environment variable. */
const tokenRef = z.union([
  z.strictObject({ file: z.string().min(1) }),
  z.strictObject({ env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name') }),
]);

const signalName = z.enum(['SIGHUP', 'SIGUSR1', 'SIGUSR2', 'SIGTERM', 'SIGINT']);

/** What to do after a new pair is in place, so the program using it picks it up. */
const reloadAction = z.union([
  z.strictObject({
    signal: z
      .strictObject({
        pidFile: z.string().min(1).optional(),
        pid: z.number().int().positive().optional(),
        signal: signalName.default('SIGHUP'),
      })
      .refine((s) => (s.pidFile === undefined) !== (s.pid === undefined), 'give exactly one of pidFile and pid'),
  }),
  z.strictObject({
    command: z.array(z.string().min(1)).min(1),
    timeout: duration('timeout').default(30_000),
  }),
  z.strictObject({
    url: z.url({ protocol: /^https?$/ }),
    timeout: duration('timeout').default(10_000),
  }),
]);

const names = z
  .strictObject({
    dns: z.array(z.string().min(1).max(253)).default([]),
    ip: z.array(z.string().min(1).max(45)).default([]),
    uri: z.array(z.string().min(1).max(2048)).max(1).default([]),
    email: z.array(z.string().min(1).max(254)).default([]),
  })
  .refine((n) => n.dns.length + n.ip.length + n.uri.length + n.email.length > 0, 'give at least one name');

const certificate = z.strictObject({
  /** A short name for logs, metrics and status. */
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/, 'letters, digits, _ . - (up to 128)'),
  cert: z.string().min(1),
  key: z.string().min(1),
  chain: z.string().min(1).optional(),
  bundle: z.string().min(1).optional(),
  /** The names asked for at enrollment (renewals keep the names of the current certificate). */
  names,
  token: tokenRef.optional(),
  lifetime: duration('lifetime', 1000).optional(),
  keyType: z.enum(KEY_TYPES as readonly [KeyType, ...KeyType[]]).optional(),
  reload: z.array(reloadAction).default([]),
  /**
   * After a renewal whose reload actions all succeeded, revoke the certificate it replaced
   * (reason superseded), presenting that certificate: a copy of the old key left somewhere is
   * worth nothing from then on. Default: the agent-level `revokeReplaced`.
   */
  revokeReplaced: z.boolean().optional(),
});

export const agentConfigSchema = z
  .strictObject({
    version: z.literal(1),
    /** How this agent names itself in reports to the CA. */
    name: z.string().min(1).max(128).default('agent'),
    ca: z
      .strictObject({
        url: z.url({ protocol: /^https$/ }).optional(),
        rootFile: z.string().min(1).optional(),
        /** Where `mutual ca bootstrap` saved the context (used for anything not given above). */
        contextDir: z.string().min(1).optional(),
        /**
         * A file the agent keeps holding every root it trusts (the root file's, then roots the CA
         * publishes that a trusted root endorsed with a cross-certificate): set, the agent follows
         * root rotations (ADR 0030). Read at start as trusted, like the root file.
         */
        trustBundle: z.string().min(1).optional(),
      })
      .default({}),
    /**
     * Publish each certificate as an identity of the client tools (`mutual curl --identity <name>`):
     * links in `<context dir>/identities/<name>/`.
     */
    publishIdentities: z.boolean().default(true),
    /** The agent's own record of attempts, failures and schedule (read by `mutual agent status`). */
    stateFile: z.string().min(1).optional(),
    keyType: z.enum(KEY_TYPES as readonly [KeyType, ...KeyType[]]).default('p256'),
    backoff: z
      .strictObject({ base: duration('backoff.base').default(1000), max: duration('backoff.max').default(300_000) })
      .default({ base: 1000, max: 300_000 }),
    /** Fraction of the lifetime past which a renewal that has not happened is overdue (an alert). */
    overdueAt: z.number().gt(0.5).lt(1).default(0.9),
    metrics: z.strictObject({ listen }).optional(),
    report: z
      .strictObject({ interval: duration('report.interval', 1000).default(60_000), enabled: z.boolean().default(true) })
      .default({ interval: 60_000, enabled: true }),
    /** Default of each certificate's `revokeReplaced`. */
    revokeReplaced: z.boolean().default(false),
    /**
     * A certificate removed from this file (its state is still in the state file, and its pair is
     * on disk): revoke it (reason cessationOfOperation), presenting it, then forget it.
     */
    revokeOnRemove: z.boolean().default(false),
    certificates: z.array(certificate).min(1),
  })
  .superRefine((config, ctx) => {
    const seen = new Set<string>();
    config.certificates.forEach((c, i) => {
      if (seen.has(c.name))
        ctx.addIssue({ code: 'custom', path: ['certificates', i, 'name'], message: 'duplicate name' });
      seen.add(c.name);
    });
  });

export type AgentConfig = z.output<typeof agentConfigSchema>;
export type AgentCertificateConfig = AgentConfig['certificates'][number];
export type ReloadAction = AgentCertificateConfig['reload'][number];

export interface LoadedAgentConfig {
  readonly config: AgentConfig;
  readonly file: string;
  /** Resolves a path of the config against the config file's directory. */
  readonly resolve: (p: string) => string;
  readonly stateFile: string;
}

/** Reads, parses and validates agent.yaml: unknown keys refused, every problem reported at once. */
export async function loadAgentConfig(file: string): Promise<LoadedAgentConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new MutualError('ERR_CONFIG_NOT_FOUND', { details: { file }, cause: err });
  }
  const { parseConfigText, validateConfig } = await loadServer();
  const config = validateConfig(agentConfigSchema, parseConfigText(text, file), file);
  const baseDir = path.dirname(path.resolve(file));
  const resolve = (p: string): string => path.resolve(baseDir, p);
  return Object.freeze({
    config,
    file,
    resolve,
    stateFile: resolve(config.stateFile ?? `${path.basename(file).replace(/\.(ya?ml|json)$/, '')}.state.json`),
  });
}
