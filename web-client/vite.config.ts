// Multi-page build: dist/watch.html, dist/studio.html, dist/moderate.html + dist/assets/*.
// The engine serves /watch/{id}, /studio/{id}, /moderate/{id} from these and /assets/* from dist/assets.
import { resolve } from 'node:path';
import { defineConfig } from 'vite';

export default defineConfig({
  base: '/',
  build: {
    outDir: 'dist',
    assetsDir: 'assets',
    target: 'es2022',
    rollupOptions: {
      input: {
        watch: resolve(import.meta.dirname, 'watch.html'),
        studio: resolve(import.meta.dirname, 'studio.html'),
        moderate: resolve(import.meta.dirname, 'moderate.html'),
      },
    },
  },
  test: {
    include: ['tests/*.test.ts'],
  },
});
