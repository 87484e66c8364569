import path from 'node:path';
import { InvalidArgumentError } from 'commander';
import { KEY_TYPES, parseDuration, type KeyType } from '@mutual/sdk';
import type { CliContext } from './context.js';

/** The CA directory: `--dir`, else $MUTUAL_DIR, else ./.mutual. */
export function caDir(ctx: CliContext, dir: string | undefined): string {
  return path.resolve(ctx.cwd, dir ?? ctx.env['MUTUAL_DIR'] ?? '.mutual');
}

export function durationArg(value: string): number {
  const ms = parseDuration(value);
  if (ms === undefined || ms <= 0) throw new InvalidArgumentError('expected a duration such as 24h, 30d or 1h30m');
  return ms;
}

export function keyTypeArg(value: string): KeyType {
  if (!(KEY_TYPES as readonly string[]).includes(value)) {
    throw new InvalidArgumentError(`expected one of ${KEY_TYPES.join(', ')}`);
  }
  return value as KeyType;
}

export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}
