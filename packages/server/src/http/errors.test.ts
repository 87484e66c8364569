import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { MutualError } from '@mutual/sdk';
import { internalReason, invalidRequest, toApiError } from './errors.js';

describe('http errors', () => {
  it("maps Fastify's body, media-type and JSON errors to catalog codes; anything unknown is internal", () => {
    const fst = (code: string, statusCode = 400) => Object.assign(new Error('x'), { code, statusCode });
    expect(toApiError(fst('FST_ERR_CTP_BODY_TOO_LARGE', 413)).code).toBe('ERR_HTTP_BODY_TOO_LARGE');
    expect(toApiError(fst('FST_ERR_CTP_INVALID_MEDIA_TYPE', 415)).code).toBe('ERR_HTTP_UNSUPPORTED_MEDIA_TYPE');
    expect(toApiError(fst('FST_ERR_CTP_INVALID_JSON_BODY')).code).toBe('ERR_HTTP_MALFORMED_BODY');
    expect(toApiError(fst('FST_ERR_CTP_EMPTY_JSON_BODY')).code).toBe('ERR_HTTP_MALFORMED_BODY');
    expect(toApiError(new SyntaxError('Unexpected token')).code).toBe('ERR_HTTP_MALFORMED_BODY');
    expect(toApiError(new Error('boom')).code).toBe('ERR_INTERNAL_UNEXPECTED');
    const mine = new MutualError('ERR_TOKEN_REPLAYED');
    expect(toApiError(mine)).toBe(mine);
  });

  it('lists every schema issue with its path, unknown keys by name', () => {
    const r = z.strictObject({ a: z.string() }).safeParse({ a: 1, extra: true });
    if (r.success) throw new Error('expected a failure');
    const err = invalidRequest(r.error);
    expect(err.code).toBe('ERR_HTTP_INVALID_REQUEST');
    expect(err.details['issues']).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ path: 'a' }),
        expect.objectContaining({ path: '(body)', keys: ['extra'] }),
      ]),
    );
  });

  it('keeps internal reasons of refusals for the audit log only, never of internal errors', () => {
    expect(
      internalReason(new MutualError('ERR_TOKEN_INVALID', { cause: new Error('signature verification failed') })),
    ).toBe('signature verification failed');
    expect(
      internalReason(new MutualError('ERR_INTERNAL_UNEXPECTED', { cause: new Error('SQL text') })),
    ).toBeUndefined();
  });
});
