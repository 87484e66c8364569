import 'reflect-metadata';
import { KeyUsageFlags } from '@peculiar/x509';
import { describe, expect, it } from 'vitest';
import { extendedKeyUsageName, keyUsageNames } from './usage-names.js';

describe('usage names', () => {
  it('names every key-usage flag as @peculiar/x509 numbers it, in RFC 5280 order', () => {
    expect(keyUsageNames(KeyUsageFlags.keyCertSign | KeyUsageFlags.cRLSign | KeyUsageFlags.digitalSignature)).toEqual([
      'digitalSignature',
      'keyCertSign',
      'cRLSign',
    ]);
    expect(keyUsageNames(KeyUsageFlags.nonRepudiation)).toEqual(['contentCommitment']);
    expect(keyUsageNames(KeyUsageFlags.decipherOnly | KeyUsageFlags.encipherOnly)).toEqual([
      'encipherOnly',
      'decipherOnly',
    ]);
    expect(keyUsageNames(0)).toEqual([]);
  });

  it('names known extended key usages and leaves others as their OID', () => {
    expect(extendedKeyUsageName('1.3.6.1.5.5.7.3.2')).toBe('clientAuth');
    expect(extendedKeyUsageName('1.2.3.4')).toBe('1.2.3.4');
  });
});
