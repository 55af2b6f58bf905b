// Multi-page build: dist/watch.html, dist/studio.html, dist/moderate.html + dist/assets/*.
// The engine serves /watch/{id}, /studio/{id}, /moderate/{id} from these and /assets/* from dist/assets.
// `vite` / `vite preview` route those paths the same way (add ?api=http://127.0.0.1:PORT).
import { resolve } from 'node:path';
import { defineConfig, type Plugin } from 'vite';

const PAGE = /^\/(watch|studio|moderate)\/[^/?#]+\/?(\?.*)?$/;

function pageRoutes(): Plugin {
  const rewrite = (req: { url?: string }, _res: unknown, next: () => void) => {
    const m = req.url ? PAGE.exec(req.url) : null;
    if (m) req.url = `/${m[1]}.html${m[2] ?? ''}`;
    next();
  };
  return {
    name: 'showroom-page-routes',
    configureServer: (server) => void server.middlewares.use(rewrite),
    configurePreviewServer: (server) => void server.middlewares.use(rewrite),
  };
}

export default defineConfig({
  base: '/',
  plugins: [pageRoutes()],
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
