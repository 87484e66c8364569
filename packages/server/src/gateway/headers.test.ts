import { describe, expect, it } from 'vitest';
import { clientCertHeader, isIdentityHeader, upstreamRequestHeaders, xfccHeader } from './headers.js';

describe('identity headers', () => {
  it.each([
    'X-Forwarded-Client-Cert',
    'x_forwarded_client_cert',
    'CLIENT-CERT',
    'client_cert_chain',
    'X-SSL-Client-Verify',
    'x_ssl_client_s_dn',
    'SSL_CLIENT_CERT',
    'X-Client-Cert-Hash',
    'x-mutual-identity',
  ])('%s is an identity header', (name) => {
    expect(isIdentityHeader(name)).toBe(true);
  });

  it('keeps ordinary headers', () => {
    expect(isIdentityHeader('x-request-id')).toBe(false);
    expect(isIdentityHeader('certificate-note')).toBe(false);
  });

  it('escapes XFCC values so no subject can break out of its quotes or inject a header line', () => {
    const v = xfccHeader(
      {
        fingerprint: 'ab',
        subject: 'CN=a"b\\c,O=x;y=z\r\nX-Evil: 1',
        spiffeId: undefined,
        uris: ['spiffe://td/a'],
        dnsNames: ['a.example', 'b,c'],
        leafDer: new Uint8Array(),
        intermediatesDer: [],
      },
      'spiffe://td/gw',
    );
    expect(v).toBe(
      'By=spiffe://td/gw;Hash=ab;Subject="CN=a\\"b\\\\c,O=x;y=z%0D%0AX-Evil: 1";URI=spiffe://td/a;DNS=a.example;DNS="b,c"',
    );
    expect(v).not.toMatch(/[\r\n]/);
  });

  it('encodes Client-Cert as an RFC 9440 byte sequence', () => {
    expect(clientCertHeader(Uint8Array.of(1, 2, 3))).toBe(':AQID:');
  });

  it('drops hop-by-hop and Connection-listed headers, keeps Upgrade only for upgrades', () => {
    const raw = ['Connection', 'Upgrade, X-A', 'Upgrade', 'websocket', 'X-A', '1', 'X-B', '2', 'TE', 'trailers'];
    expect(upstreamRequestHeaders(raw, 'upgrade, x-a', false)).toEqual({ 'x-b': '2' });
    expect(upstreamRequestHeaders(raw, 'upgrade, x-a', true)).toEqual({
      upgrade: 'websocket',
      'x-b': '2',
      connection: 'Upgrade',
    });
  });
});
