import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const src = (p: string): string => fileURLToPath(new URL(`./packages/${p}`, import.meta.url));

export default defineConfig({
  resolve: {
    alias: [
      { find: /^@mutual\/sdk$/, replacement: src('sdk/src/index.ts') },
      { find: /^@mutual\/sdk\/(.*)$/, replacement: src('sdk/src/$1/index.ts') },
      { find: /^@mutual\/server$/, replacement: src('server/src/index.ts') },
      { find: /^@mutual\/server\/(.*)$/, replacement: src('server/src/$1/index.ts') },
    ],
  },
  test: {
    include: ['packages/*/src/**/*.test.ts', 'packages/*/test/**/*.test.ts'],
    setupFiles: ['packages/cli/test/remove-temp-dirs.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    reporters: ['default', 'json'],
    outputFile: { json: '.tmp/vitest-results.json' },
  },
});
