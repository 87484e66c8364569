import { describe, expect, it } from 'vitest';
import { MutualError } from '@mutual/sdk';
import { parseGatewayConfig } from '../config/index.js';
import { PROXY_V2_SIGNATURE, commonNameOf, proxyV2Header, splitHostPort } from './tcp.js';

const id = {
  identity: 'spiffe://example.org/a',
  subject: 'O=x, CN=a.internal',
  commonName: 'a.internal',
  fingerprintHex: 'ab'.repeat(32),
  tlsVersion: 'TLSv1.3',
  cipher: 'TLS_AES_128_GCM_SHA256',
};

describe('PROXY v2 header', () => {
  it('encodes IPv4 (also IPv4-mapped IPv6) addresses and ports', () => {
    const h = proxyV2Header({ address: '::ffff:10.1.2.3', port: 40000 }, { address: '127.0.0.1', port: 8443 }, id);
    expect(h.subarray(0, 12).equals(PROXY_V2_SIGNATURE)).toBe(true);
    expect([h[12], h[13]]).toEqual([0x21, 0x11]);
    expect(h.readUInt16BE(14)).toBe(h.length - 16);
    expect([...h.subarray(16, 20)]).toEqual([10, 1, 2, 3]);
    expect(h.readUInt16BE(24)).toBe(40000);
    expect(h.readUInt16BE(26)).toBe(8443);
    expect(h[28]).toBe(0x20); // PP2_TYPE_SSL first
  });

  it('encodes IPv6 addresses in 16 bytes', () => {
    const h = proxyV2Header({ address: '2001:db8::1', port: 1 }, { address: '::1', port: 2 }, id);
    expect(h[13]).toBe(0x21);
    expect(h.subarray(16, 32).toString('hex')).toBe('20010db8000000000000000000000001');
    expect(h.subarray(32, 48).toString('hex')).toBe('00000000000000000000000000000001');
  });

  it('carries the identity, subject and fingerprint TLVs', () => {
    const h = proxyV2Header({ address: '127.0.0.1', port: 1 }, { address: '127.0.0.1', port: 2 }, id);
    const text = h.toString('latin1');
    expect(text).toContain(id.identity);
    expect(text).toContain(id.subject);
    expect(h.includes(Buffer.from(id.fingerprintHex, 'hex'))).toBe(true);
  });

  it('helpers', () => {
    expect(commonNameOf('O=x, CN=web')).toBe('web');
    expect(commonNameOf('O=x')).toBeUndefined();
    expect(splitHostPort('[::1]:5432')).toEqual({ host: '::1', port: 5432 });
    expect(splitHostPort('db.internal:5432')).toEqual({ host: 'db.internal', port: 5432 });
  });
});

describe('tcp listener configuration', () => {
  const base = (listener: Record<string, unknown>): string =>
    JSON.stringify({
      version: 1,
      listeners: [
        {
          name: 'l',
          listen: { port: 0 },
          tls: { certificate: 'c.pem', key: 'k.pem' },
          clientAuth: { trustBundles: ['t.pem'] },
          ...listener,
        },
      ],
      upstreams: {},
    });
  const problems = (text: string): string => {
    try {
      parseGatewayConfig(text, 'gw.json');
      return '';
    } catch (err) {
      expect(err).toBeInstanceOf(MutualError);
      return JSON.stringify((err as MutualError).details);
    }
  };

  it('accepts a tcp listener with allow rules, upstream and PROXY v2', () => {
    const c = parseGatewayConfig(
      base({
        mode: 'tcp',
        allow: [{ spiffeId: 'spiffe://example.org/a' }],
        upstream: '[::1]:5432',
        proxyProtocol: 'v2',
      }),
      'gw.json',
    );
    expect(c.config.listeners[0]?.mode).toBe('tcp');
  });

  it('refuses a tcp listener without upstream or with routes, and tcp keys on an http listener', () => {
    expect(problems(base({ mode: 'tcp' }))).toContain('needs upstream');
    expect(problems(base({ mode: 'tcp', upstream: 'x:99999' }))).toContain('host:port');
    expect(problems(base({ upstream: 'a:1', proxyProtocol: 'v2' }))).toContain('is for mode: tcp');
  });
});
