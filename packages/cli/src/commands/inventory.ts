import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import type { CertificateSummary, DiscoveredCertificate } from '@mutual/sdk/contract';
import { caClientFrom, withClientOptions, type ClientOptions } from '../client-context.js';
import type { CliContext } from '../context.js';
import { durationArg } from '../options.js';
import { formatTimeLeft, json, table } from '../output/index.js';

/** `mutual inventory`: every certificate the CA issued plus every one discovered in use, with its state at a date. */

export const INVENTORY_STATES = ['valid', 'expiring', 'expired', 'revoked', 'not-yet-valid'] as const;
export type InventoryState = (typeof INVENTORY_STATES)[number];

const DAY = 86_400_000;
/** What "expiring" means without --expiring-within. */
const DEFAULT_EXPIRING_MS = 7 * DAY;
const MAX_PAGES = 50;

export interface InventoryEntry {
  readonly serial: string;
  readonly fingerprintSha256: string | null;
  readonly identity: string | null;
  readonly subject: string;
  /** issued: by this CA; discovered: seen in use, issued elsewhere. */
  readonly source: 'issued' | 'discovered';
  readonly profile: string | null;
  readonly state: InventoryState;
  readonly notBefore: string;
  readonly notAfter: string;
  /** Seconds from --at to notAfter (negative once expired). */
  readonly secondsLeft: number;
  readonly places: DiscoveredCertificate['places'];
}

/** The state of a certificate at `at`: revocation first, then validity. */
export function stateAt(
  c: { notBefore: Date; notAfter: Date; revoked: boolean },
  at: Date,
  expiringMs: number,
): InventoryState {
  if (c.revoked) return 'revoked';
  const t = at.getTime();
  if (c.notBefore.getTime() > t) return 'not-yet-valid';
  if (c.notAfter.getTime() < t) return 'expired';
  if (c.notAfter.getTime() < t + expiringMs) return 'expiring';
  return 'valid';
}

/** Issued certificates (pending and failed intents are not certificates) merged with the discovered ones. */
export function mergeInventory(
  issued: readonly CertificateSummary[],
  discovered: readonly DiscoveredCertificate[],
  at: Date,
  expiringMs: number,
): InventoryEntry[] {
  const byFingerprint = new Map(discovered.map((d) => [d.fingerprintSha256, d]));
  const out: InventoryEntry[] = [];
  const used = new Set<string>();
  for (const c of issued) {
    if (c.state === 'pending' || c.state === 'failed') continue;
    const seen = c.fingerprintSha256 === null ? undefined : byFingerprint.get(c.fingerprintSha256);
    if (seen !== undefined) used.add(seen.fingerprintSha256);
    const notAfter = new Date(c.notAfter);
    out.push({
      serial: c.serial,
      fingerprintSha256: c.fingerprintSha256,
      identity: c.identity,
      subject: c.subject,
      source: 'issued',
      profile: c.profile,
      state: stateAt({ notBefore: new Date(c.notBefore), notAfter, revoked: c.state === 'revoked' }, at, expiringMs),
      notBefore: c.notBefore,
      notAfter: c.notAfter,
      secondsLeft: Math.floor((notAfter.getTime() - at.getTime()) / 1000),
      places: seen?.places ?? [],
    });
  }
  for (const d of discovered) {
    if (used.has(d.fingerprintSha256)) continue;
    const notAfter = new Date(d.notAfter);
    out.push({
      serial: d.serial,
      fingerprintSha256: d.fingerprintSha256,
      identity: d.identity,
      subject: d.subject,
      source: 'discovered',
      profile: null,
      state: stateAt({ notBefore: new Date(d.notBefore), notAfter, revoked: d.state === 'revoked' }, at, expiringMs),
      notBefore: d.notBefore,
      notAfter: d.notAfter,
      secondsLeft: Math.floor((notAfter.getTime() - at.getTime()) / 1000),
      places: d.places,
    });
  }
  return out.sort((a, b) => Date.parse(a.notAfter) - Date.parse(b.notAfter) || a.serial.localeCompare(b.serial));
}

function statesArg(value: string): InventoryState[] {
  const parts = value.split(',').map((s) => s.trim());
  for (const p of parts) {
    if (!(INVENTORY_STATES as readonly string[]).includes(p))
      throw new InvalidArgumentError(`expected a comma list of ${INVENTORY_STATES.join(', ')}`);
  }
  return parts as InventoryState[];
}

function dateArg(value: string): Date {
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw new InvalidArgumentError('expected a date such as 2027-01-01 or 2027-01-01T12:00:00Z');
  return new Date(ms);
}

interface InventoryOptions extends ClientOptions {
  expiringWithin?: number;
  at?: Date;
  state?: InventoryState[];
  json?: boolean;
}

export function registerInventoryCommand(program: Command, ctx: CliContext): void {
  withClientOptions(
    program
      .command('inventory')
      .description(
        'Every certificate the CA issued and every certificate discovered in use: state, where it was seen, time left (admin)',
      )
      .option(
        '--expiring-within <duration>',
        'only certificates expiring within this time of --at (e.g. 30d); also what "expiring" means (default 7d)',
        durationArg,
      )
      .option('--at <date>', 'compute states at this date instead of now (what will have expired by then)', dateArg)
      .option('--state <states>', `comma list of ${INVENTORY_STATES.join(', ')}`, statesArg)
      .option('--json', 'print as JSON'),
  ).action(async (opts: InventoryOptions) => {
    const client = await caClientFrom(ctx, opts, true);
    const at = opts.at ?? ctx.now();
    const issued: CertificateSummary[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < MAX_PAGES; page++) {
      const res = await client.certificates({ limit: 1000, ...(cursor === undefined ? {} : { cursor }) });
      issued.push(...res.items);
      if (res.nextCursor === null) break;
      cursor = res.nextCursor;
    }
    const discovered = (await client.sightings()).items;
    const states = opts.state ?? (opts.expiringWithin === undefined ? undefined : ['expiring' as const]);
    const entries = mergeInventory(issued, discovered, at, opts.expiringWithin ?? DEFAULT_EXPIRING_MS).filter(
      (e) => states === undefined || states.includes(e.state),
    );
    if (opts.json === true) {
      ctx.stdout(json({ at: at.toISOString(), items: entries }));
      return;
    }
    if (entries.length === 0) {
      ctx.stdout('No certificates match.\n');
      return;
    }
    ctx.stdout(
      table(
        ['STATE', 'SOURCE', 'IDENTITY', 'EXPIRES', 'SEEN AT', 'SERIAL'],
        entries.map((e) => [
          e.state,
          e.source,
          e.identity ?? e.subject,
          `${e.notAfter.slice(0, 16).replace('T', ' ')} (${formatTimeLeft(new Date(e.notAfter), at)})`,
          e.places.length === 0 ? '-' : e.places.map((p) => `${p.where} (${p.role})`).join(', '),
          e.serial,
        ]),
      ),
    );
  });
}
