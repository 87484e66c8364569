import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected a throw');
}
import { caConfigJsonSchema, gatewayConfigJsonSchema, loadCaConfig } from './index.js';

const good = `
version: 1
name: Example CA
keys:
  passphrase: { file: secrets/ca-passphrase }
root: { certificate: root.crt, key: root.key }
intermediate: { certificate: intermediate.crt, key: intermediate.key }
store: { sqlite: { file: mutual.db } }
defaults: { lifetime: 24h }
policy:
  server:
    dns: { allow: ['localhost', '*.svc.example.com'] }
    ip: { allow: ['127.0.0.0/8'] }
    maxLifetime: 720h
  client:
    spiffe: { trustDomain: example.org, paths: ['/ns/*/sa/*'] }
  both: {}
`;

const write = (text: string): string => {
  const dir = mkdtempSync(path.join(tmpdir(), 'mutual-config-'));
  const file = path.join(dir, 'ca.yaml');
  writeFileSync(file, text);
  return file;
};

describe('CA configuration', () => {
  it('loads, applies defaults, resolves paths against the file and deep-freezes', () => {
    const file = write(good);
    const loaded = loadCaConfig(file);
    expect(loaded.config.defaults.lifetime).toBe(86_400_000);
    expect(loaded.config.defaults.keyType).toBe('p256');
    expect(loaded.config.policy.server.maxLifetime).toBe(720 * 3_600_000);
    expect(loaded.config.policy.both.dns.allow).toEqual([]);
    expect(loaded.resolve('root.crt')).toBe(path.join(path.dirname(file), 'root.crt'));
    expect(Object.isFrozen(loaded.config.policy.server.dns.allow)).toBe(true);
    expect(
      thrown(() => Reflect.apply(Array.prototype.push, loaded.config.policy.server.dns.allow, ['evil.com'])),
    ).toBeInstanceOf(TypeError);
  });

  it('reports every problem at once with its path, and rejects unknown keys', () => {
    const bad = good
      .replace('lifetime: 24h', 'lifetime: 24')
      .replace("'*.svc.example.com'", "'**'")
      .replace("'127.0.0.0/8'", "'127.0.0.1/8'")
      .replace('both: {}', 'both: { colour: blue }');
    try {
      loadCaConfig(write(bad));
      expect.unreachable();
    } catch (err) {
      const e = err as { code: string; details: { issues: { path: string }[] } };
      expect(e.code).toBe('ERR_CONFIG_INVALID');
      const paths = e.details.issues.map((i) => i.path);
      expect(paths).toEqual(
        expect.arrayContaining([
          'defaults.lifetime',
          'policy.server.dns.allow.1',
          'policy.server.ip.allow.0',
          'policy.both',
        ]),
      );
    }
  });

  it('refuses a default lifetime longer than a profile allows, and YAML syntax errors with the line', () => {
    expect(thrown(() => loadCaConfig(write(good.replace('lifetime: 24h', 'lifetime: 800h'))))).toMatchObject({
      code: 'ERR_CONFIG_INVALID',
    });
    expect(thrown(() => loadCaConfig(write('version: 1\nname: [unclosed\n')))).toMatchObject({
      code: 'ERR_CONFIG_INVALID',
      message: expect.stringMatching(/at line \d+/) as string,
    });
    expect(thrown(() => loadCaConfig('/nonexistent/ca.yaml'))).toMatchObject({ code: 'ERR_CONFIG_NOT_FOUND' });
  });

  it('takes CA keys named by pkcs11: URIs only with keys.pkcs11, and refuses a bad URI or a PIN in it', () => {
    const uri = 'pkcs11:token=ca;object=mutual-intermediate;id=%01%02;type=private';
    const onToken = good
      .replace('intermediate.key', `"${uri}"`)
      .replace(
        'passphrase: { file: secrets/ca-passphrase }',
        'passphrase: { file: secrets/ca-passphrase }\n  pkcs11: { module: /usr/lib/softhsm/libsofthsm2.so, pin: { env: HSM_PIN } }',
      );
    const loaded = loadCaConfig(write(onToken));
    expect(loaded.config.intermediate.key).toBe(uri);
    expect(loaded.config.keys.pkcs11).toEqual({ module: '/usr/lib/softhsm/libsofthsm2.so', pin: { env: 'HSM_PIN' } });

    const issuesOf = (text: string): { path: string; message: string }[] =>
      (thrown(() => loadCaConfig(write(text))) as { details: { issues: { path: string; message: string }[] } }).details
        .issues;
    expect(issuesOf(good.replace('intermediate.key', `"${uri}"`))).toEqual([
      expect.objectContaining({
        path: 'keys.pkcs11',
        message: expect.stringContaining('intermediate.key is on a PKCS#11 token') as string,
      }),
    ]);
    expect(issuesOf(onToken.replace(uri, 'pkcs11:token=ca;object=x?pin-value=1234'))).toEqual([
      expect.objectContaining({
        path: 'intermediate.key',
        message: expect.stringContaining('query attributes') as string,
      }),
    ]);
    expect(JSON.stringify(issuesOf(onToken.replace(uri, 'pkcs11:token=ca;object=x?pin-value=1234')))).not.toContain(
      '1234',
    );
  });

  it('docs/reference/ca-config.schema.json matches the schema (UPDATE_DOCS=1 regenerates it)', () => {
    const file = new URL('../../../../docs/reference/ca-config.schema.json', import.meta.url);
    const expected = JSON.stringify(caConfigJsonSchema(), null, 2) + '\n';
    if (process.env['UPDATE_DOCS'] === '1') writeFileSync(file, expected);
    expect(readFileSync(file, 'utf8')).toBe(expected);
  });

  it('docs/reference/gateway-config.schema.json matches the schema (UPDATE_DOCS=1 regenerates it)', () => {
    const file = new URL('../../../../docs/reference/gateway-config.schema.json', import.meta.url);
    const schema = gatewayConfigJsonSchema();
    // An editor needs the listeners and what each one requires to be described.
    expect(JSON.stringify(schema)).toContain('"listeners"');
    const expected = JSON.stringify(schema, null, 2) + '\n';
    if (process.env['UPDATE_DOCS'] === '1') writeFileSync(file, expected);
    expect(readFileSync(file, 'utf8')).toBe(expected);
  });
});
