import {
  CSRF_HEADER,
  alertsResponse,
  auditResponse,
  authFailuresResponse,
  caStatusResponse,
  certificateDetail,
  certificatesResponse,
  componentsResponse,
  revokeResponse,
  sessionResponse,
  tokenResponse,
  tokensResponse,
  type AlertEvent,
  type AuditResponse,
  type AuthFailuresResponse,
  type CaStatusResponse,
  type CertificateDetail,
  type ComponentSummary,
  type RevocationReason,
  type SessionResponse,
  type TokenRequest,
  type TokensResponse,
} from '@mutual/sdk/contract';
import type { z } from 'zod';

/** An error answer of the CA, with its catalog code. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** The CSRF token of the current session (kept in memory only; the cookie itself is HttpOnly). */
let csrfToken: string | null = null;

async function send(method: string, path: string, body?: unknown): Promise<Response> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && csrfToken !== null) headers[CSRF_HEADER] = csrfToken;
  const response = await fetch(path, {
    method,
    headers,
    credentials: 'same-origin',
    cache: 'no-store',
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  if (!response.ok) {
    let code = `HTTP_${response.status}`;
    let message = response.statusText;
    try {
      const parsed = (await response.json()) as { error?: { code?: string; message?: string } };
      code = parsed.error?.code ?? code;
      message = parsed.error?.message ?? message;
    } catch {
      // not JSON: keep the status
    }
    throw new ApiError(response.status, code, message);
  }
  return response;
}

async function json<S extends z.ZodType>(
  schema: S,
  method: string,
  path: string,
  body?: unknown,
): Promise<z.output<S>> {
  const response = await send(method, path, body);
  return schema.parse(await response.json());
}

/** Endpoints that arrive with the lifecycle reports may not exist on this CA yet: 404 → undefined. */
async function optional<T>(call: Promise<T>): Promise<T | undefined> {
  try {
    return await call;
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) return undefined;
    throw error;
  }
}

const query = (params: Record<string, string | number | undefined>): string => {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, String(v));
  const text = q.toString();
  return text === '' ? '' : `?${text}`;
};

export interface CertificateFilter {
  readonly state?: string;
  readonly profile?: string;
  readonly identity?: string;
  readonly search?: string;
  readonly expiringWithin?: string;
  readonly limit?: number;
  readonly cursor?: string;
}

export const api = {
  async session(): Promise<SessionResponse> {
    const s = await json(sessionResponse, 'GET', '/ui/session');
    csrfToken = s.csrfToken;
    return s;
  },
  /** Exchanges a one-time login secret for a session cookie. */
  async login(secret: string): Promise<SessionResponse> {
    const s = await json(sessionResponse, 'POST', '/ui/session', { secret });
    csrfToken = s.csrfToken;
    return s;
  },
  async logout(): Promise<void> {
    await send('POST', '/ui/logout', {});
    csrfToken = null;
  },
  certificates: (f: CertificateFilter = {}) => json(certificatesResponse, 'GET', `/v1/certificates${query({ ...f })}`),
  certificate: (serial: string): Promise<CertificateDetail> =>
    json(certificateDetail, 'GET', `/v1/certificates/${encodeURIComponent(serial)}`),
  revoke: (serial: string, reason: RevocationReason) => json(revokeResponse, 'POST', '/v1/revoke', { serial, reason }),
  audit: (
    params: { before?: number; action?: string; subject?: string; limit?: number } = {},
  ): Promise<AuditResponse> => json(auditResponse, 'GET', `/v1/audit${query(params)}`),
  createToken: (body: TokenRequest) => json(tokenResponse, 'POST', '/v1/tokens', body),
  unusedTokens: (): Promise<TokensResponse> => json(tokensResponse, 'GET', '/v1/tokens'),
  components: async (): Promise<ComponentSummary[] | undefined> =>
    (await optional(json(componentsResponse, 'GET', '/v1/components')))?.items,
  authFailures: (params: { since?: string } = {}): Promise<AuthFailuresResponse | undefined> =>
    optional(json(authFailuresResponse, 'GET', `/v1/auth-failures${query(params)}`)),
  /** The CA's certificates and the steps due now (what `mutual ca status` prints). */
  status: (): Promise<CaStatusResponse | undefined> => optional(json(caStatusResponse, 'GET', '/v1/status')),
  alerts: async (): Promise<AlertEvent[] | undefined> =>
    (await optional(json(alertsResponse, 'GET', '/v1/alerts')))?.items,
  /** The CA's readiness checks (store, CRL freshness). */
  async readiness(): Promise<{ status: string; checks: Record<string, string> }> {
    const response = await fetch('/readyz', { cache: 'no-store' });
    return (await response.json()) as { status: string; checks: Record<string, string> };
  },
  /** Inventory counts by state, from the CA's own `mutual_ca_certificates` gauge. */
  async counts(): Promise<Record<string, number>> {
    const response = await fetch('/metrics', { cache: 'no-store' });
    const text = await response.text();
    const counts: Record<string, number> = {};
    for (const match of text.matchAll(/^mutual_ca_certificates\{state="([a-z-]+)"\} (\d+)/gm)) {
      if (match[1] !== undefined) counts[match[1]] = Number(match[2]);
    }
    return counts;
  },
};
