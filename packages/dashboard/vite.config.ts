import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

// The dashboard is served by the CA under /ui. Everything is bundled (no CDN, system fonts); the
// wire contract is compiled from the sdk's source so the build needs no sdk build first.
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/ui/',
  resolve: {
    alias: [
      {
        find: /^@mutual\/sdk\/contract$/,
        replacement: fileURLToPath(new URL('../sdk/src/contract/index.ts', import.meta.url)),
      },
    ],
  },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    assetsInlineLimit: 0,
    sourcemap: false,
    target: 'es2022',
    modulePreload: { polyfill: false },
  },
  logLevel: 'warn',
});
