// One flat config. Boundary rules explain themselves: each message says which rule of
// docs/architecture.md an import breaks and what to do instead.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

const onlyThroughIndex = (depth) => ({
  regex: `^${'\\.\\./'.repeat(depth)}[^/.]+/(?!index\\.js$).+`,
  message: 'Import another module only through its index.ts (docs/architecture.md, "Boundaries").',
});

const restrict = (patterns, paths = []) => [
  'error',
  { patterns, paths: paths.map(([name, message]) => ({ name, message })) },
];

const ioModules = ['fs', 'fs/promises', 'net', 'tls', 'http', 'https', 'http2', 'dgram', 'child_process'].flatMap(
  (m) => [
    [m, 'pki is pure: no files, network or processes. Take the bytes as an argument.'],
    [`node:${m}`, 'pki is pure: no files, network or processes. Take the bytes as an argument.'],
  ],
);

const noClock = [
  {
    selector: "CallExpression[callee.object.name='Date'][callee.property.name='now']",
    message: 'Time is an argument here (DESIGN.md §4): take `now` from the caller.',
  },
  {
    selector: "NewExpression[callee.name='Date'][arguments.length=0]",
    message: 'Time is an argument here (DESIGN.md §4): take `now` from the caller.',
  },
];

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', '.mutual/**', '.tmp/**', 'coverage/**', 'screenshots/**'] },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      globals: { ...globals.node },
      parserOptions: { project: ['./tsconfig.tests.json'], tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-properties': [
        'error',
        {
          object: 'process',
          property: 'env',
          message: 'Only composition roots (server/src/main, cli/src/bin.ts) read the environment; pass values in.',
        },
        { object: 'process', property: 'exit', message: 'Only composition roots exit; return an exit code instead.' },
      ],
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
  },
  {
    // The dashboard runs in the browser: its own tsconfig (DOM, JSX), and it speaks to the CA only
    // through the wire contract.
    files: ['packages/dashboard/src/**/*.ts', 'packages/dashboard/src/**/*.tsx'],
    languageOptions: {
      globals: { ...globals.browser },
      parserOptions: { project: ['./packages/dashboard/tsconfig.json'], tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-restricted-imports': restrict([
        {
          regex: '^@mutual/(?!sdk/contract$)',
          message: 'The dashboard imports only @mutual/sdk/contract (docs/architecture.md, "Boundaries").',
        },
        { group: ['node:*'], message: 'The dashboard runs in the browser.' },
        onlyThroughIndex(1),
      ]),
    },
  },
  {
    files: ['packages/*/src/**/*.test.ts', 'packages/*/test/**/*.ts', 'bench/**', 'vitest.config.ts'],
    rules: {
      'no-restricted-properties': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
  {
    files: [
      'packages/server/src/main/**/*.ts',
      'packages/cli/src/bin.ts',
      'scripts/**',
      'packages/*/scripts/**',
      'bench/**',
    ],
    rules: { 'no-restricted-properties': 'off' },
  },
  {
    files: ['packages/sdk/src/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': restrict([
        {
          group: ['@mutual/server', '@mutual/server/*', '@mutual/cli', '@mutual/cli/*'],
          message: 'sdk imports none of our other packages.',
        },
        { group: ['better-sqlite3', 'pg', 'kysely'], message: 'sdk has no database drivers.' },
        onlyThroughIndex(1),
        onlyThroughIndex(2),
      ]),
    },
  },
  {
    files: ['packages/server/src/*/*.ts'],
    ignores: ['packages/server/src/pki/**', 'packages/server/src/ca/**', 'packages/server/src/gateway/**'],
    rules: {
      '@typescript-eslint/no-restricted-imports': restrict([
        { group: ['@mutual/cli', '@mutual/cli/*'], message: 'server never imports the CLI.' },
        onlyThroughIndex(1),
      ]),
    },
  },
  {
    files: ['packages/server/src/*/*/**/*.ts'],
    ignores: ['packages/server/src/pki/**', 'packages/server/src/ca/**', 'packages/server/src/gateway/**'],
    rules: {
      '@typescript-eslint/no-restricted-imports': restrict([
        { group: ['@mutual/cli', '@mutual/cli/*'], message: 'server never imports the CLI.' },
        onlyThroughIndex(2),
      ]),
    },
  },
  {
    files: ['packages/server/src/pki/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: {
      'no-restricted-syntax': ['error', ...noClock],
      '@typescript-eslint/no-restricted-imports': restrict(
        [
          { group: ['../*', '!../index.js'], message: 'pki depends on nothing else in server (only on @mutual/sdk).' },
          { group: ['better-sqlite3', 'pg', 'kysely'], message: 'pki is pure: no storage.' },
        ],
        ioModules,
      ),
    },
  },
  {
    files: ['packages/server/src/ca/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: {
      'no-restricted-syntax': ['error', ...noClock],
      '@typescript-eslint/no-restricted-imports': restrict(
        [
          {
            group: [
              '../store',
              '../store/*',
              '../http',
              '../http/*',
              '../gateway',
              '../gateway/*',
              '../main',
              '../main/*',
            ],
            message:
              'ca declares ports (CertificateStore, IssuerSigner, AuditSink); adapters implement them. It never imports store, http, gateway or main.',
          },
          {
            group: ['better-sqlite3', 'pg', 'kysely'],
            message: 'ca reaches storage only through its CertificateStore port.',
          },
          onlyThroughIndex(1),
        ],
        [
          ['node:net', 'ca never opens sockets.'],
          ['net', 'ca never opens sockets.'],
        ],
      ),
    },
  },
  {
    files: ['packages/server/src/gateway/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': restrict([
        {
          group: ['../ca', '../ca/*', '../store', '../store/*'],
          message: 'gateway never imports ca or store; it talks to the CA over its HTTP API.',
        },
        onlyThroughIndex(1),
      ]),
    },
  },
);
