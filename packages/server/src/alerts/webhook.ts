import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';

export interface WebhookTarget {
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly timeoutMs: number;
  /** Further attempts after a failed one. */
  readonly retries: number;
}

const MAX_REPLY_BYTES = 64 * 1024;

/** One JSON POST; resolves with the HTTP status, rejects on a network failure or timeout. */
function postOnce(target: WebhookTarget, body: string): Promise<number> {
  const url = new URL(target.url);
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(
      url,
      {
        method: 'POST',
        agent: false,
        timeout: target.timeoutMs,
        headers: {
          ...target.headers,
          'content-type': 'application/json',
          'content-length': String(Buffer.byteLength(body)),
          'user-agent': 'mutual-ca-alerts',
        },
      },
      (res) => {
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_REPLY_BYTES) res.destroy();
        });
        res.on('end', () => {
          resolve(res.statusCode ?? 0);
        });
        res.on('error', reject);
        res.on('close', () => {
          resolve(res.statusCode ?? 0);
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end(body);
  });
}

export interface DeliveryOutcome {
  readonly delivered: boolean;
  readonly attempts: number;
  readonly lastError: string | null;
}

/**
 * POSTs `payload` as JSON until a 2xx answer, at most 1 + retries times, waiting
 * `retryBaseMs`·2^(n-1) between attempts (exponential backoff). Never throws.
 */
export async function deliverWebhook(
  target: WebhookTarget,
  payload: unknown,
  options: { readonly retryBaseMs: number; readonly wait?: (ms: number) => Promise<void> },
): Promise<DeliveryOutcome> {
  const body = JSON.stringify(payload);
  const wait = options.wait ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref()));
  let lastError: string | null = null;
  for (let attempt = 1; attempt <= target.retries + 1; attempt++) {
    try {
      const status = await postOnce(target, body);
      if (status >= 200 && status < 300) return { delivered: true, attempts: attempt, lastError: null };
      lastError = `HTTP ${status}`;
    } catch (err) {
      lastError = err instanceof Error ? err.message : String(err);
    }
    if (attempt <= target.retries) await wait(options.retryBaseMs * 2 ** (attempt - 1));
  }
  return { delivered: false, attempts: target.retries + 1, lastError };
}
