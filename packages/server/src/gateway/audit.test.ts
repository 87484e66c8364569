import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createAuditSink, type GatewayAuditRecord } from './audit.js';

const record = (n: number): GatewayAuditRecord => ({
  time: new Date(Date.UTC(2026, 10, 22, 0, 0, n)).toISOString(),
  type: 'request',
  listener: 'main',
  peer: `127.0.0.1:${40000 + n}`,
  identity: 'spiffe://example.org/web',
  serial: null,
  fingerprint: null,
  issuer: null,
  route: 'api',
  method: 'GET',
  path: `/r/${n}`,
  decision: 'allow',
  reason: 'allowed',
  status: 200,
  latencyMs: 0.5,
});

describe('gateway audit file sink', () => {
  it('writes every record as one whole JSON line, in order, by the time close resolves (file created 0600)', async () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'mutual-audit-')), 'audit.jsonl');
    const sink = createAuditSink(file, new PassThrough(), (err) => {
      throw err;
    });
    for (let i = 0; i < 500; i++) sink.write(record(i));
    await sink.close();
    const lines = readFileSync(file, 'utf8').split('\n');
    expect(lines.pop()).toBe('');
    expect(lines.map((l) => (JSON.parse(l) as GatewayAuditRecord).path)).toEqual(
      Array.from({ length: 500 }, (_, i) => `/r/${i}`),
    );
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it('hands a lone record to the file on its own, without waiting for more records or for close', async () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'mutual-audit-')), 'audit.jsonl');
    const sink = createAuditSink(file, new PassThrough(), (err) => {
      throw err;
    });
    sink.write(record(7));
    const text = (): string => {
      try {
        return readFileSync(file, 'utf8');
      } catch {
        return '';
      }
    };
    // Turns the event loop until the batch timer has written it (AUDIT_FLUSH_MS); the test's own timeout bounds it.
    while (text() === '') await new Promise((resolve) => setImmediate(resolve));
    expect((JSON.parse(text()) as GatewayAuditRecord).path).toBe('/r/7');
    await sink.close();
  });
});
