import { MutualError, isMutualError } from '@mutual/sdk';
import type { z } from 'zod';

/** A request body or query that failed its wire schema → ERR_HTTP_INVALID_REQUEST with every issue and its path. */
export function invalidRequest(error: z.ZodError): MutualError {
  return new MutualError('ERR_HTTP_INVALID_REQUEST', {
    details: {
      issues: error.issues.slice(0, 20).map((i) => ({
        path: i.path.map(String).join('.') || '(body)',
        message: i.message,
        ...(i.code === 'unrecognized_keys' ? { keys: i.keys.slice(0, 20) } : {}),
      })),
    },
  });
}

/** Fastify's own errors (body limit, content type, JSON syntax) as catalog errors; anything else is internal. */
export function toApiError(error: unknown): MutualError {
  if (isMutualError(error)) return error;
  const code = (error as { code?: unknown } | null)?.code;
  switch (code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new MutualError('ERR_HTTP_BODY_TOO_LARGE', { cause: error });
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new MutualError('ERR_HTTP_UNSUPPORTED_MEDIA_TYPE', { cause: error });
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new MutualError('ERR_HTTP_MALFORMED_BODY', { cause: error });
    default:
      break;
  }
  if (error instanceof SyntaxError) return new MutualError('ERR_HTTP_MALFORMED_BODY', { cause: error });
  const status = (error as { statusCode?: unknown } | null)?.statusCode;
  if (status === 413) return new MutualError('ERR_HTTP_BODY_TOO_LARGE', { cause: error });
  if (status === 415) return new MutualError('ERR_HTTP_UNSUPPORTED_MEDIA_TYPE', { cause: error });
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return new MutualError('ERR_HTTP_INVALID_REQUEST', { cause: error });
  }
  return new MutualError('ERR_INTERNAL_UNEXPECTED', { cause: error });
}

/** The internal reason of a refusal, for the audit record only (never a token: causes here are ours or jose's). */
export function internalReason(error: MutualError): string | undefined {
  const cause: unknown = error.cause;
  if (cause instanceof Error && error.status < 500) return cause.message.slice(0, 300);
  return undefined;
}
