import { defineConfig } from 'vitest/config';

const project = (name: string, include: string[], testTimeout = 20_000) => ({
  extends: true as const,
  test: { name, include, testTimeout, hookTimeout: 30_000 },
});

// One project per package plus the cross-package integration tests. Sources resolve through the
// '@geoml/source' export condition, so tests run without a build.
export default defineConfig({
  resolve: { conditions: ['@geoml/source'] },
  // Tests run in vite's SSR mode, which resolves package exports with its own conditions: without this,
  // `@geoml/core` would load from a stale `dist/` instead of the sources.
  ssr: { resolve: { conditions: ['@geoml/source'] } },
  test: {
    pool: 'forks',
    projects: [
      project('core', ['packages/core/test/**/*.test.ts']),
      project('transport', ['packages/transport/test/**/*.test.ts'], 60_000),
      project('gaia', ['packages/gaia/test/**/*.test.ts'], 120_000),
      project('clipper', ['packages/clipper/test/**/*.test.ts'], 60_000),
      project('cli', ['packages/cli/test/**/*.test.ts'], 120_000),
      project('integration', ['test/**/*.test.ts'], 180_000),
    ],
  },
});
