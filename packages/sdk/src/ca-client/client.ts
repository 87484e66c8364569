import { createHash } from 'node:crypto';
import { request as httpsRequest, type RequestOptions } from 'node:https';
import type { z } from 'zod';
import {
  alertRules,
  alertsResponse,
  authFailuresResponse,
  componentsResponse,
  caStatusResponse,
  reportResponse,
  sightingsResponse,
  type ReportRequest,
  type ReportResponse,
  auditResponse,
  certificateDetail,
  certificateResponse,
  certificatesResponse,
  errorResponse,
  revocationEvent,
  revokeResponse,
  rootsResponse,
  tokenResponse,
  tokensResponse,
  type AuditQuery,
  type AuditResponse,
  type CertificateDetail,
  type CertificateResponse,
  type RenewRequest,
  type RevocationEvent,
  type RevokeRequest,
  type SignRequest,
  type TokenRequest,
  type TokensResponse,
} from '../contract/index.js';
import { MutualError, errorCatalog, type ErrorCode } from '../errors/index.js';
import { decodePem } from '../pem/index.js';

export interface CaClientOptions {
  /** Base URL of the CA, e.g. https://ca.internal:9443 */
  readonly url: string;
  /** PEM trust anchors for the CA's TLS certificate (the CA's root). */
  readonly ca: string | Uint8Array;
  /** Client certificate chain and key (PEM) for renew, revoke and admin calls. */
  readonly cert?: string | Uint8Array;
  readonly key?: string | Uint8Array;
  readonly timeoutMs?: number;
}

export interface InventoryQuery {
  readonly state?: readonly string[];
  readonly expiringWithin?: string;
  readonly profile?: string;
  readonly search?: string;
  readonly limit?: number;
  readonly cursor?: string;
}

/** GET /v1/auth-failures query (`authFailuresQuery` of the contract): ISO times, filters, newest events returned. */
export interface AuthFailuresFilter {
  readonly since?: string;
  readonly until?: string;
  readonly reason?: string;
  readonly identity?: string;
  readonly address?: string;
  readonly limit?: number;
}

export type AlertRule = (typeof alertRules)[number];

const MAX_RESPONSE_BYTES = 8 * 1024 * 1024;

/**
 * The CA's HTTP API v1 as typed calls. Every response is validated against the contract; an error
 * response becomes a MutualError with the server's code (or ERR_CA_CLIENT_RESPONSE when the code
 * is unknown to this version).
 */
export class CaClient {
  readonly #opts: CaClientOptions;
  readonly #base: URL;

  constructor(options: CaClientOptions) {
    this.#opts = options;
    this.#base = new URL(options.url);
    if (this.#base.protocol !== 'https:') {
      throw new MutualError('ERR_USAGE_INVALID_ARGUMENT', {
        message: 'The CA URL must be https.',
        details: { url: options.url },
      });
    }
  }

  /** The CA's base URL this client talks to. */
  get url(): string {
    return this.#opts.url;
  }

  roots(): Promise<z.infer<typeof rootsResponse>> {
    return this.#json('GET', '/v1/roots', undefined, rootsResponse);
  }

  sign(body: SignRequest): Promise<CertificateResponse> {
    return this.#json('POST', '/v1/sign', body, certificateResponse);
  }

  renew(body: RenewRequest): Promise<CertificateResponse> {
    return this.#json('POST', '/v1/renew', body, certificateResponse);
  }

  revoke(body: RevokeRequest): Promise<z.infer<typeof revokeResponse>> {
    return this.#json('POST', '/v1/revoke', body, revokeResponse);
  }

  createToken(body: TokenRequest): Promise<z.infer<typeof tokenResponse>> {
    return this.#json('POST', '/v1/tokens', body, tokenResponse);
  }

  certificates(query: InventoryQuery = {}): Promise<z.infer<typeof certificatesResponse>> {
    const params = new URLSearchParams();
    if (query.state) params.set('state', query.state.join(','));
    if (query.expiringWithin !== undefined) params.set('expiringWithin', query.expiringWithin);
    if (query.profile !== undefined) params.set('profile', query.profile);
    if (query.search !== undefined) params.set('search', query.search);
    if (query.limit !== undefined) params.set('limit', String(query.limit));
    if (query.cursor !== undefined) params.set('cursor', query.cursor);
    const qs = params.toString();
    return this.#json('GET', `/v1/certificates${qs ? `?${qs}` : ''}`, undefined, certificatesResponse);
  }

  /** POST /v1/reports: a component's heartbeat, failed authentications and certificates seen in use. */
  report(body: ReportRequest): Promise<ReportResponse> {
    return this.#json('POST', '/v1/reports', body, reportResponse);
  }

  /** GET /v1/components (admin). */
  components(): Promise<z.infer<typeof componentsResponse>> {
    return this.#json('GET', '/v1/components', undefined, componentsResponse);
  }

  /** GET /v1/status (admin): the CA's certificates, components' standing and the steps due now. */
  status(): Promise<z.infer<typeof caStatusResponse>> {
    return this.#json('GET', '/v1/status', undefined, caStatusResponse);
  }

  /** GET /v1/sightings (admin): certificates discovered in use, with where they were seen. */
  sightings(): Promise<z.infer<typeof sightingsResponse>> {
    return this.#json('GET', '/v1/sightings', undefined, sightingsResponse);
  }

  /** GET /v1/auth-failures (admin). */
  authFailures(query: AuthFailuresFilter = {}): Promise<z.infer<typeof authFailuresResponse>> {
    const params = new URLSearchParams();
    for (const key of ['since', 'until', 'reason', 'identity', 'address', 'limit'] as const) {
      const value = query[key];
      if (value !== undefined) params.set(key, String(value));
    }
    const qs = params.toString();
    return this.#json('GET', `/v1/auth-failures${qs ? `?${qs}` : ''}`, undefined, authFailuresResponse);
  }

  /** GET /v1/alerts (admin), newest first. */
  alerts(query: { rule?: AlertRule; limit?: number } = {}): Promise<z.infer<typeof alertsResponse>> {
    const params = new URLSearchParams();
    if (query.rule !== undefined) params.set('rule', query.rule);
    if (query.limit !== undefined) params.set('limit', String(query.limit));
    const qs = params.toString();
    return this.#json('GET', `/v1/alerts${qs ? `?${qs}` : ''}`, undefined, alertsResponse);
  }

  /** One certificate in detail (admin): chain, fingerprints, extensions and its audit history. */
  certificate(serial: string): Promise<CertificateDetail> {
    return this.#json('GET', `/v1/certificates/${encodeURIComponent(serial)}`, undefined, certificateDetail);
  }

  /** Audit records (admin), with the verdict of the whole chain's verification. */
  audit(query: AuditQuery = {}): Promise<AuditResponse> {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query) as [string, string | number | undefined][]) {
      if (value !== undefined) params.set(key, String(value));
    }
    const qs = params.toString();
    return this.#json('GET', `/v1/audit${qs ? `?${qs}` : ''}`, undefined, auditResponse);
  }

  /** Enrollment tokens minted and neither used nor expired (admin); never the tokens themselves. */
  unusedTokens(limit?: number): Promise<TokensResponse> {
    return this.#json('GET', `/v1/tokens${limit === undefined ? '' : `?limit=${limit}`}`, undefined, tokensResponse);
  }

  /** The DER CRL of the intermediate (`level: 'intermediate'`) or of the root. */
  async crl(level: 'intermediate' | 'root' = 'intermediate'): Promise<Uint8Array> {
    const res = await this.#send('GET', level === 'root' ? '/v1/crl/root' : '/v1/crl');
    return res.body;
  }

  /**
   * Follows the revocation feed (server-sent events) until `signal` aborts; calls `onEvent` for
   * each revocation as it commits. Resumes after `lastEventId` when given.
   */
  async followRevocations(
    onEvent: (event: RevocationEvent, id: string | undefined) => void,
    options: { signal: AbortSignal; lastEventId?: string },
  ): Promise<void> {
    const headers: Record<string, string> = { accept: 'text/event-stream' };
    if (options.lastEventId !== undefined) headers['last-event-id'] = options.lastEventId;
    await new Promise<void>((resolve, reject) => {
      const req = httpsRequest(this.#requestOptions('GET', '/v1/revocations', headers), (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          reject(new MutualError('ERR_CA_CLIENT_RESPONSE', { details: { status: res.statusCode ?? 0 } }));
          return;
        }
        let buffer = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          buffer += chunk;
          if (buffer.length > MAX_RESPONSE_BYTES) req.destroy(new Error('event too large'));
          let end: number;
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            const fields = parseSse(block);
            if (fields.event === 'revoked' && fields.data !== undefined) {
              const parsed = revocationEvent.safeParse(JSON.parse(fields.data));
              if (parsed.success) onEvent(parsed.data, fields.id);
            }
          }
        });
        res.on('end', resolve);
        res.on('error', reject);
      });
      req.on('error', (err) => {
        if (options.signal.aborted) resolve();
        else reject(new MutualError('ERR_CA_CLIENT_UNREACHABLE', { details: { url: this.#opts.url }, cause: err }));
      });
      options.signal.addEventListener('abort', () => req.destroy(), { once: true });
      req.end();
    });
  }

  async #json<S extends z.ZodType>(method: string, path: string, body: unknown, schema: S): Promise<z.output<S>> {
    const res = await this.#send(method, path, body);
    let value: unknown;
    try {
      value = JSON.parse(Buffer.from(res.body).toString('utf8'));
    } catch (err) {
      throw new MutualError('ERR_CA_CLIENT_RESPONSE', { message: 'The CA answered with invalid JSON.', cause: err });
    }
    const parsed = schema.safeParse(value);
    if (!parsed.success) {
      throw new MutualError('ERR_CA_CLIENT_RESPONSE', {
        message: 'The CA answered in an unexpected form.',
        cause: parsed.error,
      });
    }
    return parsed.data;
  }

  #requestOptions(method: string, path: string, headers: Record<string, string>): RequestOptions {
    const url = new URL(path, this.#base);
    return {
      method,
      host: url.hostname.replace(/^\[|\]$/g, ''),
      port: url.port === '' ? 443 : Number(url.port),
      path: url.pathname + url.search,
      servername: /^[\d.:[\]]+$/.test(url.hostname) ? '' : url.hostname,
      headers,
      ca: toText(this.#opts.ca),
      ...(this.#opts.cert === undefined ? {} : { cert: toText(this.#opts.cert) }),
      ...(this.#opts.key === undefined ? {} : { key: toText(this.#opts.key) }),
      minVersion: 'TLSv1.2',
      timeout: this.#opts.timeoutMs ?? 15_000,
      agent: false,
    };
  }

  #send(method: string, path: string, body?: unknown): Promise<{ status: number; body: Uint8Array }> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const headers: Record<string, string> = { accept: 'application/json' };
    if (payload) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(payload.length);
    }
    return new Promise((resolve, reject) => {
      const req = httpsRequest(this.#requestOptions(method, path, headers), (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_RESPONSE_BYTES) req.destroy(new Error('response too large'));
          else chunks.push(c);
        });
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          const data = new Uint8Array(Buffer.concat(chunks));
          if (status >= 200 && status < 300) {
            resolve({ status, body: data });
            return;
          }
          reject(errorFromResponse(status, data));
        });
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error('timed out')));
      req.on('error', (err) => {
        reject(
          err instanceof MutualError
            ? err
            : new MutualError('ERR_CA_CLIENT_UNREACHABLE', {
                message: `Cannot reach the CA at ${this.#opts.url}: ${err.message}`,
                details: { url: this.#opts.url },
                cause: err,
              }),
        );
      });
      req.end(payload);
    });
  }
}

function toText(v: string | Uint8Array): string {
  return typeof v === 'string' ? v : Buffer.from(v).toString('utf8');
}

function parseSse(block: string): { event?: string; data?: string; id?: string } {
  const out: { event?: string; data?: string; id?: string } = {};
  for (const line of block.split('\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const field = line.slice(0, colon);
    const value = line.slice(colon + 1).replace(/^ /, '');
    if (field === 'event') out.event = value;
    else if (field === 'data') out.data = out.data === undefined ? value : `${out.data}\n${value}`;
    else if (field === 'id') out.id = value;
  }
  return out;
}

function errorFromResponse(status: number, body: Uint8Array): MutualError {
  try {
    const parsed = errorResponse.safeParse(JSON.parse(Buffer.from(body).toString('utf8')));
    if (parsed.success) {
      const { code, message, details } = parsed.data.error;
      const known = Object.hasOwn(errorCatalog, code) ? (code as ErrorCode) : 'ERR_CA_CLIENT_RESPONSE';
      return new MutualError(known, {
        message,
        details: { ...(details ?? {}), status, ...(known === code ? {} : { code }) },
      });
    }
  } catch {
    // fall through: not JSON
  }
  return new MutualError('ERR_CA_CLIENT_RESPONSE', { message: `The CA answered HTTP ${status}.`, details: { status } });
}

/**
 * Trust on first use, checked: fetches the CA's roots without trusting anything, keeps them only
 * if the root's SHA-256 equals `fingerprint`, and then requires the TLS chain the CA presented to
 * verify against that root (so a relay that shows the right roots but its own certificate fails).
 */
export async function bootstrapCa(
  url: string,
  fingerprint: string,
  timeoutMs = 15_000,
): Promise<{ rootPem: string; fingerprint: string }> {
  const want = fingerprint
    .replace(/^sha256:/i, '')
    .replace(/:/g, '')
    .toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(want)) {
    throw new MutualError('ERR_USAGE_INVALID_ARGUMENT', {
      message: 'The fingerprint must be a SHA-256 in hex.',
      details: { fingerprint },
    });
  }
  const base = new URL(url);
  const body = await new Promise<{ json: string }>((resolve, reject) => {
    const req = httpsRequest(
      {
        method: 'GET',
        host: base.hostname.replace(/^\[|\]$/g, ''),
        port: base.port === '' ? 443 : Number(base.port),
        path: '/v1/roots',
        rejectUnauthorized: false, // nothing is trusted yet: the fingerprint decides below
        timeout: timeoutMs,
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          resolve({ json: Buffer.concat(chunks).toString('utf8') });
        });
      },
    );
    req.on('error', (err) => {
      reject(
        new MutualError('ERR_CA_CLIENT_UNREACHABLE', {
          message: `Cannot reach the CA at ${url}: ${err.message}`,
          cause: err,
        }),
      );
    });
    req.end();
  });
  const roots = rootsResponse.safeParse(JSON.parse(body.json));
  if (!roots.success)
    throw new MutualError('ERR_CA_CLIENT_RESPONSE', { message: 'The CA answered in an unexpected form.' });
  const match = roots.data.roots.find((pem) => {
    const [block] = decodePem(pem);
    return block !== undefined && createHash('sha256').update(block.der).digest('hex') === want;
  });
  if (match === undefined) {
    throw new MutualError('ERR_CA_FINGERPRINT_MISMATCH', { details: { expected: want, got: roots.data.fingerprint } });
  }
  // The same server, now verified against the pinned root.
  const client = new CaClient({ url, ca: match, timeoutMs });
  await client.roots();
  return { rootPem: match, fingerprint: want };
}
