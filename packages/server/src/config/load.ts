import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import type { z } from 'zod';
import { MutualError } from '@mutual/sdk';
import { caConfigSchema, type CaConfig } from './ca-config.js';

export interface ConfigIssue {
  readonly path: string;
  readonly message: string;
}

/** Deep-freezes a plain value so a loaded configuration can never be changed in place. */
export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

/** Validates a parsed document against a schema; every problem is reported at once with its path. */
export function validateConfig<S extends z.ZodType>(schema: S, document: unknown, source: string): z.output<S> {
  const result = schema.safeParse(document);
  if (!result.success) {
    const issues: ConfigIssue[] = result.error.issues.map((i) => ({
      path: i.path.length === 0 ? '(root)' : i.path.map(String).join('.'),
      message: i.message,
    }));
    throw new MutualError('ERR_CONFIG_INVALID', {
      message: `The configuration in ${source} is invalid:\n${issues.map((i) => `  - ${i.path}: ${i.message}`).join('\n')}`,
      details: { file: source, issues },
    });
  }
  return deepFreeze(result.data);
}

/** Parses YAML (or JSON, a subset) text; syntax errors become ERR_CONFIG_INVALID with the line. */
export function parseConfigText(text: string, source: string): unknown {
  try {
    return parseYaml(text, { strict: true, uniqueKeys: true, maxAliasCount: 50 }) as unknown;
  } catch (err) {
    const where = err instanceof YAMLParseError && err.linePos ? ` at line ${err.linePos[0].line}` : '';
    throw new MutualError('ERR_CONFIG_INVALID', {
      message: `The configuration in ${source} is not valid YAML${where}.`,
      details: { file: source },
      cause: err,
    });
  }
}

export interface LoadedCaConfig {
  readonly config: CaConfig;
  /** Directory of the config file: relative paths in it are resolved against this. */
  readonly baseDir: string;
  readonly file: string;
  resolve(relative: string): string;
}

/** Loads and validates ca.yaml: parsed, normalized, cross-checked and deep-frozen. */
export function loadCaConfig(file: string): LoadedCaConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new MutualError('ERR_CONFIG_NOT_FOUND', { details: { file }, cause: err });
  }
  const config = validateConfig(caConfigSchema, parseConfigText(text, file), file);
  const baseDir = path.dirname(path.resolve(file));
  return Object.freeze({ config, baseDir, file, resolve: (p: string) => path.resolve(baseDir, p) });
}
