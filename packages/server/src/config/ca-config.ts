import { z } from 'zod';
import {
  cidrProblem,
  dnsPatternProblem,
  emailPatternProblem,
  spiffePathPatternProblem,
  trustDomainProblem,
} from '../ca/index.js';
import { parseDuration } from '@mutual/sdk';

export const KEY_TYPES = ['p256', 'p384', 'rsa2048', 'rsa3072', 'rsa4096', 'ed25519'] as const;

const duration = (what: string) =>
  z.string().transform((text, ctx) => {
    const ms = parseDuration(text);
    if (ms === undefined || ms <= 0) {
      ctx.addIssue({ code: 'custom', message: `${what}: expected a duration such as 24h, 90d or 1h30m` });
      return z.NEVER;
    }
    return ms;
  });

const checked = (problem: (s: string) => string | undefined) =>
  z.string().superRefine((value, ctx) => {
    const p = problem(value);
    if (p !== undefined) ctx.addIssue({ code: 'custom', message: `"${value}": ${p}` });
  });

/** A secret is never written in the config: it is a reference to a file or an environment variable. */
export const secretRefSchema = z.union([
  z.strictObject({ file: z.string().min(1) }),
  z.strictObject({ env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name') }),
]);

const profilePolicySchema = z.strictObject({
  dns: z
    .strictObject({
      allow: z.array(checked(dnsPatternProblem)).default([]),
      allowWildcards: z.boolean().default(false),
    })
    .default({ allow: [], allowWildcards: false }),
  ip: z.strictObject({ allow: z.array(checked(cidrProblem)).default([]) }).default({ allow: [] }),
  spiffe: z
    .strictObject({
      trustDomain: checked(trustDomainProblem).nullable().default(null),
      paths: z.array(checked(spiffePathPatternProblem)).default([]),
    })
    .default({ trustDomain: null, paths: [] }),
  email: z.strictObject({ allow: z.array(checked(emailPatternProblem)).default([]) }).default({ allow: [] }),
  maxLifetime: duration('maxLifetime').default(2_592_000_000),
  keyTypes: z
    .array(z.enum(KEY_TYPES))
    .min(1)
    .default([...KEY_TYPES]),
});

const issuerFilesSchema = z.strictObject({ certificate: z.string().min(1), key: z.string().min(1) });

export const caConfigSchema = z
  .strictObject({
    version: z.literal(1),
    name: z.string().min(1).max(64),
    keys: z.strictObject({
      /** null means the CA keys are stored unencrypted (created with --insecure-no-passphrase). */
      passphrase: secretRefSchema.nullable(),
    }),
    root: issuerFilesSchema,
    intermediate: issuerFilesSchema,
    store: z.union([
      z.strictObject({ sqlite: z.strictObject({ file: z.string().min(1) }) }),
      z.strictObject({ postgres: z.strictObject({ connectionString: secretRefSchema }) }),
    ]),
    defaults: z
      .strictObject({
        lifetime: duration('defaults.lifetime').default(86_400_000),
        keyType: z.enum(KEY_TYPES).default('p256'),
      })
      .default({ lifetime: 86_400_000, keyType: 'p256' }),
    policy: z.strictObject({
      server: profilePolicySchema,
      client: profilePolicySchema,
      both: profilePolicySchema,
    }),
  })
  .superRefine((config, ctx) => {
    for (const profile of ['server', 'client', 'both'] as const) {
      const p = config.policy[profile];
      if (config.defaults.lifetime > p.maxLifetime) {
        ctx.addIssue({
          code: 'custom',
          path: ['defaults', 'lifetime'],
          message: `exceeds policy.${profile}.maxLifetime`,
        });
      }
      if (p.spiffe.paths.length > 0 && p.spiffe.trustDomain === null) {
        ctx.addIssue({
          code: 'custom',
          path: ['policy', profile, 'spiffe', 'trustDomain'],
          message: 'paths are set but no trust domain',
        });
      }
    }
  });

export type CaConfigInput = z.input<typeof caConfigSchema>;
export type CaConfig = z.output<typeof caConfigSchema>;
export type SecretRef = z.output<typeof secretRefSchema>;
