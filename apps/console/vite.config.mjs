// The web console's build (tools/build.mjs runs it after the services; `npx vite apps/console` serves it
// for development against a gateway on :3000). Output: dist/apps/console, served by the gateway at /ui.
import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

const here = (path) => fileURLToPath(new URL(path, import.meta.url));

export default defineConfig({
  root: here('.'),
  base: '/ui/',
  plugins: [react()],
  logLevel: 'warn',
  resolve: {
    // The typed SDK from source (browser-safe); contracts are imported for types only.
    alias: { '@switchyard/client': here('../../libs/client/src/index.ts') },
  },
  build: {
    outDir: here('../../dist/apps/console'),
    emptyOutDir: true,
    target: 'es2022',
    // Hashed names under assets/: the gateway caches them for a year, index.html never.
    assetsDir: 'assets',
    reportCompressedSize: false,
  },
  server: { proxy: { '/api': 'http://127.0.0.1:3000' } },
});
