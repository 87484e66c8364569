import { MutualError } from '@mutual/sdk';

export const DEFAULT_BACKDATE_MS = 60_000;
export const MAX_BACKDATE_MS = 60_000;
/** Longer than any sane root: anything above is a unit mistake (seconds given as milliseconds…). */
export const MAX_LIFETIME_MS = 50 * 365 * 24 * 3600 * 1000;
/** The last instant an X.509 time can express (GeneralizedTime 99991231235959Z). */
const MAX_TIME_MS = Date.UTC(9999, 11, 31, 23, 59, 59);
/** UTCTime starts in 1950. */
const MIN_TIME_MS = Date.UTC(1950, 0, 1);

export interface ValidityInput {
  now: Date;
  lifetimeMs: number;
  issuerNotBefore?: Date;
  issuerNotAfter?: Date;
  /** How far notBefore is set before `now` against clock skew; default and maximum 60 s. */
  backdateMs?: number;
}

export interface Validity {
  notBefore: Date;
  notAfter: Date;
  /** True when notAfter was cut to the issuer's notAfter. */
  clamped: boolean;
}

function lifetimeInvalid(message: string, details: Record<string, unknown> = {}): MutualError {
  return new MutualError('ERR_PKI_LIFETIME_INVALID', { message, details });
}

const validDate = (d: unknown): d is Date => d instanceof Date && Number.isFinite(d.getTime());

/**
 * Computes a certificate's validity from `now` (never read from a clock here): notBefore = now −
 * backdate (never before the issuer's notBefore), notAfter = now + lifetime cut to the issuer's
 * notAfter; both whole seconds (X.509 times have second precision). Throws ERR_PKI_ISSUER_EXPIRED
 * when the issuer is not valid at `now` or expires within the next second.
 */
export function computeValidity(input: ValidityInput): Validity {
  const { now, lifetimeMs } = input;
  const backdateMs = input.backdateMs ?? DEFAULT_BACKDATE_MS;
  if (!validDate(now)) throw lifetimeInvalid('`now` is not a valid date.');
  if (!Number.isFinite(lifetimeMs) || lifetimeMs < 1000) {
    throw lifetimeInvalid('The lifetime must be at least one second.', { lifetimeMs });
  }
  if (lifetimeMs > MAX_LIFETIME_MS) {
    throw lifetimeInvalid('The lifetime is longer than 50 years.', { lifetimeMs, maxLifetimeMs: MAX_LIFETIME_MS });
  }
  if (!Number.isFinite(backdateMs) || backdateMs < 0 || backdateMs > MAX_BACKDATE_MS) {
    throw lifetimeInvalid('The backdate must be between 0 and 60 seconds.', { backdateMs });
  }
  if (input.issuerNotBefore !== undefined && !validDate(input.issuerNotBefore))
    throw lifetimeInvalid('The issuer notBefore is not a valid date.');
  if (input.issuerNotAfter !== undefined && !validDate(input.issuerNotAfter))
    throw lifetimeInvalid('The issuer notAfter is not a valid date.');

  const t = now.getTime();
  const issuerNb = input.issuerNotBefore?.getTime();
  const issuerNa = input.issuerNotAfter?.getTime();
  if ((issuerNb !== undefined && t < issuerNb) || (issuerNa !== undefined && t >= issuerNa)) {
    throw new MutualError('ERR_PKI_ISSUER_EXPIRED', {
      details: {
        now: now.toISOString(),
        issuerNotBefore: input.issuerNotBefore?.toISOString(),
        issuerNotAfter: input.issuerNotAfter?.toISOString(),
      },
    });
  }

  let nb = Math.floor((t - backdateMs) / 1000) * 1000;
  if (issuerNb !== undefined && nb < issuerNb) nb = Math.ceil(issuerNb / 1000) * 1000;
  let na = Math.floor((t + lifetimeMs) / 1000) * 1000;
  let clamped = false;
  if (issuerNa !== undefined && na > issuerNa) {
    na = Math.floor(issuerNa / 1000) * 1000;
    clamped = true;
  }
  if (na > MAX_TIME_MS || nb < MIN_TIME_MS) throw lifetimeInvalid('The validity falls outside 1950–9999.');
  if (na <= nb) {
    throw new MutualError('ERR_PKI_ISSUER_EXPIRED', {
      message: 'The issuing CA certificate expires too soon to issue anything.',
      details: { now: now.toISOString(), issuerNotAfter: input.issuerNotAfter?.toISOString() },
    });
  }
  return { notBefore: new Date(nb), notAfter: new Date(na), clamped };
}
