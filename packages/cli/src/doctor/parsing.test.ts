import 'reflect-metadata';
import { describe, expect, it } from 'vitest';
import { explainTlsError, oneLine } from './alerts.js';
import { normalizeDn } from './client-checks.js';
import { parseSClient } from './openssl.js';
import { parseTarget } from './target.js';

describe('parseTarget', () => {
  it('reads URLs and host:port, with SNI only for names', () => {
    expect(parseTarget('https://api.internal/x?y=1')).toMatchObject({
      host: 'api.internal',
      port: 443,
      servername: 'api.internal',
    });
    expect(parseTarget('https://127.0.0.1:8443/')).toMatchObject({
      host: '127.0.0.1',
      port: 8443,
      servername: undefined,
    });
    expect(parseTarget('[::1]:9443')).toMatchObject({ host: '::1', port: 9443, url: undefined });
    expect(parseTarget('db.internal:5433')).toMatchObject({ host: 'db.internal', port: 5433 });
  });
  it('refuses what it cannot connect to over TLS', () => {
    expect(parseTarget('http://a.example/')).toMatch(/only https/);
    expect(parseTarget('a.example')).toMatch(/neither/);
    expect(parseTarget('a.example:70000')).toMatch(/out of range/);
  });
});

describe('parseSClient', () => {
  const out = [
    'CONNECTED(00000003)',
    '<<< TLS 1.3, Handshake [length 007a], ServerHello',
    '<<< TLS 1.3, Handshake [length 0057], CertificateRequest',
    '---',
    'Certificate chain',
    ' 0 s:CN = localhost',
    '   i:O = X, CN = X Intermediate CA',
    '-----BEGIN CERTIFICATE-----',
    'MIIB',
    '-----END CERTIFICATE-----',
    '---',
    'Server certificate',
    '---',
    'Acceptable client certificate CA names',
    'O = X, CN = X Root CA',
    'O = Y, CN = Y Root CA',
    'Requested Signature Algorithms: ECDSA+SHA256',
    '---',
  ].join('\n');
  it('finds the CertificateRequest, the acceptable CA names and the presented chain', () => {
    const p = parseSClient(out);
    expect(p.serverHello).toBe(true);
    expect(p.certificateRequested).toBe(true);
    expect(p.caNames).toEqual(['O = X, CN = X Root CA', 'O = Y, CN = Y Root CA']);
    expect(p.chainPem).toHaveLength(1);
  });
  it('sees no request when the server sent none', () => {
    const p = parseSClient(
      out.replace(/.*CertificateRequest\n/, '').replace(/Acceptable[\s\S]*?Requested/, 'Requested'),
    );
    expect(p.certificateRequested).toBe(false);
    expect(p.caNames).toEqual([]);
  });
});

describe('normalizeDn', () => {
  it('treats the Node, OpenSSL and RFC 4514 spellings of one name alike', () => {
    const n = normalizeDn('O=X\nCN=X Root CA');
    expect(normalizeDn('O = X, CN = X Root CA')).toBe(n);
    expect(normalizeDn('CN=X Root CA, O=X')).toBe(n);
    expect(normalizeDn('O = X, CN = Other')).not.toBe(n);
  });
});

describe('explainTlsError', () => {
  it('maps the alerts a refusing server sends to who refused and why', () => {
    const e = (code: string): ReturnType<typeof explainTlsError> =>
      explainTlsError(Object.assign(new Error(code), { code }));
    expect(e('ERR_SSL_TLSV1_ALERT_UNKNOWN_CA')).toMatchObject({ kind: 'unknown-ca', alert: 48, refusedBy: 'server' });
    expect(e('ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED')).toMatchObject({ kind: 'certificate-expired', alert: 45 });
    expect(e('ERR_SSL_SSLV3_ALERT_CERTIFICATE_REVOKED')).toMatchObject({ kind: 'certificate-revoked', alert: 44 });
    expect(e('ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE')).toMatchObject({ kind: 'bad-certificate', alert: 42 });
    expect(e('ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED')).toMatchObject({ kind: 'certificate-required', alert: 116 });
    expect(e('ERR_SSL_NO_PROTOCOLS_AVAILABLE')).toMatchObject({ kind: 'protocol-version', refusedBy: 'client' });
    expect(e('ERR_SSL_WRONG_VERSION_NUMBER')).toMatchObject({ kind: 'not-tls' });
    expect(e('ECONNRESET')).toMatchObject({ kind: 'closed', refusedBy: 'server' });
    expect(oneLine(e('ERR_SSL_TLSV1_ALERT_UNKNOWN_CA'))).toBe(
      'the server refused the handshake (TLS alert 48, ERR_SSL_TLSV1_ALERT_UNKNOWN_CA): the server does not trust the CA that issued your client certificate',
    );
  });
});
