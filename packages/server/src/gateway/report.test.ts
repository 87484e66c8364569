import { describe, expect, it } from 'vitest';
import type { GatewayAuditRecord } from './audit.js';
import { authFailureOf } from './index.js';

const record = (over: Partial<GatewayAuditRecord>): GatewayAuditRecord => ({
  time: '2030-01-01T00:00:00.000Z',
  type: 'request',
  listener: 'main',
  peer: '192.0.2.1:5555',
  identity: 'spiffe://example.org/web',
  serial: 'ab12',
  fingerprint: 'f'.repeat(64),
  issuer: 'CN=Issuing CA',
  route: 'api',
  method: 'GET',
  path: '/',
  decision: 'allow',
  reason: 'allowed',
  status: 200,
  latencyMs: 1,
  ...over,
});

describe('authFailureOf (audit record → failed authentication for the CA)', () => {
  it('maps refused handshakes and denied requests or connections; ignores what was allowed', () => {
    expect(
      authFailureOf(
        record({
          type: 'handshake',
          decision: 'refused',
          reason: 'UNKNOWN_ISSUER',
          peer: '::1:4444',
          identity: null,
        }),
      ),
    ).toEqual({
      at: '2030-01-01T00:00:00.000Z',
      listener: 'main',
      stage: 'handshake',
      reason: 'unknown-issuer',
      address: '::1',
      identity: null,
      serial: 'ab12',
      fingerprintSha256: 'f'.repeat(64),
      issuer: 'CN=Issuing CA',
    });
    expect(authFailureOf(record({ decision: 'deny', reason: 'identity-not-allowed' }))).toMatchObject({
      stage: 'request',
      reason: 'identity-not-allowed',
      address: '192.0.2.1',
    });
    expect(
      authFailureOf(record({ type: 'connection', decision: 'deny', reason: 'identity-not-allowed' })),
    ).toMatchObject({ stage: 'request' });
    expect(authFailureOf(record({}))).toBeUndefined();
    expect(authFailureOf(record({ decision: 'audit-deny' }))).toBeUndefined();
  });

  it('drops a serial or fingerprint that is not canonical hex instead of refusing the whole report', () => {
    const f = authFailureOf(
      record({ type: 'handshake', decision: 'refused', reason: 'MALFORMED', serial: '-1', fingerprint: 'xyz' }),
    );
    expect([f?.serial, f?.fingerprintSha256]).toEqual([null, null]);
  });
});
