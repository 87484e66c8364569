/**
 * Token buckets in memory, keyed by verified identity or by source address. Time is an argument;
 * the number of buckets is capped (least recently used dropped) so a flood of keys stays bounded.
 * `Limiter` is what the gateway calls: the memory buckets answer synchronously, a shared store
 * (rate-limit-redis.ts) with a promise.
 */

export interface RateSpec {
  /** Tokens per second. */
  readonly rate: number;
  readonly burst: number;
}

export type Take =
  | { readonly ok: true }
  | {
      readonly ok: false;
      readonly retryAfterSeconds: number;
      /** The shared store could not be asked and the operator chose to fail closed (503). */
      readonly unavailable?: true;
    };

/** A bucket set the gateway takes from: synchronous in memory, a promise for a shared store. */
export interface Limiter {
  take(key: string, nowMs: number): Take | Promise<Take>;
  /** True when the key has no token left now (nothing is taken). */
  exhausted(key: string, nowMs: number): boolean | Promise<boolean>;
  close?(): void;
}

export interface RateLimiter {
  take(key: string, nowMs: number): Take;
  /** True when the key has no token left now (nothing is taken). */
  exhausted(key: string, nowMs: number): boolean;
  readonly size: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

export function createRateLimiter(spec: RateSpec, maxKeys = 100_000): RateLimiter {
  const buckets = new Map<string, Bucket>();
  return {
    get size() {
      return buckets.size;
    },
    exhausted(key: string, nowMs: number): boolean {
      const b = buckets.get(key);
      if (!b) return false;
      return Math.min(spec.burst, b.tokens + (Math.max(0, nowMs - b.at) / 1000) * spec.rate) < 1;
    },
    take(key: string, nowMs: number): Take {
      let b = buckets.get(key);
      if (b) {
        buckets.delete(key);
        b.tokens = Math.min(spec.burst, b.tokens + (Math.max(0, nowMs - b.at) / 1000) * spec.rate);
        b.at = nowMs;
      } else {
        b = { tokens: spec.burst, at: nowMs };
        if (buckets.size >= maxKeys) {
          const oldest = buckets.keys().next();
          if (oldest.done !== true) buckets.delete(oldest.value);
        }
      }
      buckets.set(key, b);
      if (b.tokens >= 1) {
        b.tokens -= 1;
        return { ok: true };
      }
      return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - b.tokens) / spec.rate)) };
    },
  };
}
