/**
 * Token buckets shared through Redis, so several gateways (and the workers of one) spend one budget
 * per identity and per address. One Lua script, run with EVALSHA, refills and takes atomically.
 * Redis unreachable or slower than `timeout`: this process's memory bucket decides (or, with
 * failClosed, the request is refused with 503); a request never waits longer than `timeout`.
 * Time is an argument (the caller's clock).
 */
import { Redis } from 'ioredis';
import { createRateLimiter, type Limiter, type RateSpec, type Take } from './rate-limit.js';

/**
 * KEYS[1] the bucket; ARGV: rate (tokens/s), burst, now (ms), cost (1 take, 0 peek), ttl (ms).
 * Returns { 1 if a token was (or could be) taken else 0, tokens left as a string }.
 * The bucket's time only moves forward, so a gateway whose clock lags never refills twice.
 */
const TOKEN_BUCKET = `
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local cost = tonumber(ARGV[4])
local b = redis.call('HMGET', KEYS[1], 't', 'a')
local tokens = tonumber(b[1])
local at = tonumber(b[2])
if tokens == nil or at == nil then
  tokens = burst
  at = now
end
if now > at then
  tokens = math.min(burst, tokens + (now - at) / 1000 * rate)
  at = now
end
local ok = 0
if tokens >= 1 then
  ok = 1
  tokens = tokens - cost
end
if cost > 0 then
  redis.call('HSET', KEYS[1], 't', tostring(tokens), 'a', tostring(at))
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
end
return { ok, tostring(tokens) }
`;

interface BucketClient {
  mutualTokenBucket(
    key: string,
    rate: number,
    burst: number,
    nowMs: number,
    cost: number,
    ttlMs: number,
  ): Promise<[number, string]>;
}

export type RateBucketName = 'identity' | 'address' | 'handshake';

export interface RedisRateStoreOptions {
  readonly url: string;
  readonly keyPrefix: string;
  /** Longest wait per decision, in ms. */
  readonly timeout: number;
  readonly failClosed: boolean;
  /** Called when Redis becomes unavailable (with the error) or available again. */
  readonly onState: (up: boolean, error?: string) => void;
}

export interface RedisRateStore {
  readonly options: RedisRateStoreOptions;
  limiter(bucket: RateBucketName, spec: RateSpec): Limiter;
  /** Resolves once connected, or after `waitMs` (requests use the fallback until then). */
  connected(waitMs: number): Promise<boolean>;
  close(): void;
}

const withTimeout = <T>(p: Promise<T>, ms: number): Promise<T> =>
  new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`redis did not answer within ${ms} ms`));
    }, ms);
    p.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });

export function createRedisRateStore(options: RedisRateStoreOptions): RedisRateStore {
  const client = new Redis(options.url, {
    // Never queue while disconnected and never retry a command: the fallback answers at once instead.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: options.timeout,
    connectTimeout: Math.max(1_000, options.timeout),
    retryStrategy: (times: number) => Math.min(100 * times, 2_000),
  });
  client.defineCommand('mutualTokenBucket', { numberOfKeys: 1, lua: TOKEN_BUCKET });
  const bucketClient = client as unknown as BucketClient;
  let up: boolean | undefined;
  const setState = (next: boolean, error?: string): void => {
    if (up === next) return;
    up = next;
    options.onState(next, error);
  };
  client.on('ready', () => {
    setState(true);
  });
  client.on('error', (err: Error) => {
    setState(false, err.message);
  });
  client.on('end', () => {
    setState(false, 'connection closed');
  });

  return {
    options,
    limiter(bucket, spec) {
      const local = createRateLimiter(spec);
      const ttlMs = Math.ceil((spec.burst / spec.rate) * 1000) + 1000;
      const redisKey = (key: string): string => `${options.keyPrefix}${bucket}:${key}`;
      const ask = (key: string, nowMs: number, cost: number): Promise<[number, number]> =>
        withTimeout(
          bucketClient.mutualTokenBucket(redisKey(key), spec.rate, spec.burst, Math.floor(nowMs), cost, ttlMs),
          options.timeout,
        ).then(([ok, tokens]) => {
          setState(true);
          return [ok, Number(tokens)];
        });
      const failed = (err: unknown): void => {
        setState(false, err instanceof Error ? err.message : String(err));
      };
      // Addresses known to be exhausted (from Redis' answers): dropped without asking again.
      const blockedUntil = new Map<string, number>();
      const block = (key: string, untilMs: number): void => {
        if (blockedUntil.size >= 100_000) blockedUntil.clear();
        blockedUntil.set(key, untilMs);
      };
      return {
        take(key, nowMs): Promise<Take> {
          return ask(key, nowMs, 1).then(
            ([ok, tokens]): Take => {
              if (ok === 1) return { ok: true };
              const waitS = (1 - tokens) / spec.rate;
              if (bucket === 'handshake') block(key, nowMs + waitS * 1000);
              return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil(waitS)) };
            },
            (err: unknown): Take => {
              failed(err);
              if (options.failClosed && bucket !== 'handshake')
                return { ok: false, retryAfterSeconds: 1, unavailable: true };
              return local.take(key, nowMs);
            },
          );
        },
        exhausted(key, nowMs): boolean | Promise<boolean> {
          const until = blockedUntil.get(key);
          if (until !== undefined) {
            if (until > nowMs) return true;
            blockedUntil.delete(key);
          }
          return ask(key, nowMs, 0).then(
            ([ok, tokens]) => {
              if (ok === 1) return false;
              block(key, nowMs + ((1 - tokens) / spec.rate) * 1000);
              return true;
            },
            (err: unknown) => {
              failed(err);
              return local.exhausted(key, nowMs);
            },
          );
        },
      };
    },
    async connected(waitMs) {
      if (client.status === 'ready') return true;
      return new Promise<boolean>((resolve) => {
        const done = (ok: boolean): void => {
          clearTimeout(timer);
          client.off('ready', onReady);
          resolve(ok);
        };
        const onReady = (): void => {
          done(true);
        };
        const timer = setTimeout(() => {
          done(false);
        }, waitMs);
        client.once('ready', onReady);
      });
    },
    close() {
      client.disconnect();
    },
  };
}
