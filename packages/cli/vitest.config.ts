import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// Runs this package's tests alone (`npx vitest run -c packages/cli/vitest.config.ts`); the root config
// runs them as the `cli` project.
export default defineConfig({
  root: fileURLToPath(new URL('../..', import.meta.url)),
  resolve: { conditions: ['@geoml/source'] },
  ssr: { resolve: { conditions: ['@geoml/source'] } },
  test: {
    pool: 'forks',
    include: ['packages/cli/test/**/*.test.ts', 'test/docs.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 30_000,
  },
});
