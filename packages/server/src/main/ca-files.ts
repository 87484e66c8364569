/** The layout of a local CA directory, created by `mutual ca init` (docs/reference/cli.md). */
export const CA_FILES = {
  config: 'ca.yaml',
  rootCert: 'root.crt',
  rootKey: 'root.key',
  intermediateCert: 'intermediate.crt',
  intermediateKey: 'intermediate.key',
  database: 'mutual.db',
  secretsDir: 'secrets',
  passphrase: 'secrets/ca-passphrase',
  /** P-256 key that signs enrollment tokens (encrypted with the CA passphrase). */
  tokenKey: 'token.key',
  adminDir: 'admin',
  adminCert: 'admin/admin.crt',
  adminKey: 'admin/admin.key',
} as const;

export function renderCaConfig(input: {
  name: string;
  keyType: string;
  passphrase: { file: string } | { env: string } | null;
  trustDomain: string;
  allowDns: readonly string[];
  /** Default: the SQLite file in the CA directory. */
  store?: { postgresEnv: string };
  /** Root and intermediate keys on a PKCS#11 token (`ca init --pkcs11-token`). */
  pkcs11?: {
    module: string;
    pin: { file: string } | { env: string };
    rootKey: string;
    intermediateKey: string;
  };
}): string {
  const pass =
    input.passphrase === null
      ? 'null # INSECURE: CA keys are stored unencrypted'
      : 'file' in input.passphrase
        ? `{ file: ${JSON.stringify(input.passphrase.file)} }`
        : `{ env: ${JSON.stringify(input.passphrase.env)} }`;
  const ref = (r: { file: string } | { env: string }): string =>
    'file' in r ? `{ file: ${JSON.stringify(r.file)} }` : `{ env: ${JSON.stringify(r.env)} }`;
  const keys =
    input.pkcs11 === undefined
      ? `keys:
  # Where the passphrase that encrypts root.key and intermediate.key comes from: { file: PATH } or { env: VAR }.
  passphrase: ${pass}
root: { certificate: root.crt, key: root.key }
intermediate: { certificate: intermediate.crt, key: intermediate.key }`
      : `keys:
  # Where the passphrase that encrypts token.key comes from: { file: PATH } or { env: VAR }.
  passphrase: ${pass}
  # The root and intermediate keys are on a PKCS#11 token: its module and the user PIN.
  pkcs11: { module: ${JSON.stringify(input.pkcs11.module)}, pin: ${ref(input.pkcs11.pin)} }
root: { certificate: root.crt, key: ${JSON.stringify(input.pkcs11.rootKey)} }
intermediate: { certificate: intermediate.crt, key: ${JSON.stringify(input.pkcs11.intermediateKey)} }`;
  const dns = JSON.stringify(input.allowDns);
  const td = JSON.stringify(input.trustDomain);
  const profile = (maxLifetime: string, email: boolean): string =>
    [
      `    dns: { allow: ${dns}, allowWildcards: false }`,
      `    ip: { allow: ["127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"] }`,
      `    spiffe: { trustDomain: ${td}, paths: ["/**"] }`,
      email ? `    email: { allow: ["*@${input.trustDomain}"] }` : `    email: { allow: [] }`,
      `    maxLifetime: ${maxLifetime}`,
    ].join('\n');
  return `# mutual CA configuration — reference: docs/reference/config.md, schema: docs/reference/ca-config.schema.json
# Relative paths are resolved against this file's directory.
version: 1
name: ${JSON.stringify(input.name)}
${keys}
store:
  ${input.store === undefined ? 'sqlite: { file: mutual.db }' : `postgres: { connectionString: { env: ${JSON.stringify(input.store.postgresEnv)} } }`}
defaults:
  lifetime: 24h
  keyType: ${input.keyType}
# Which names each profile may be issued. An empty allow-list admits nobody.
# DNS patterns: "host.example.com", "*.example.com" (one label), "**.example.com" (one or more labels).
policy:
  server:
${profile('2160h', false)}
  client:
${profile('2160h', true)}
  both:
${profile('2160h', false)}
`;
}
