import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);

describe('pnpm demo (the README main job)', () => {
  it('trains across regions, hot-loads v1, swaps in v2 under load with no failed request', async () => {
    const { stdout } = await run(
      process.execPath,
      ['--import', 'tsx', '--conditions=@geoml/source', 'examples/demo.ts', '--quick'],
      { env: { ...process.env, GEOML_QUIET: '1' }, timeout: 170_000, maxBuffer: 16 << 20 },
    );
    expect(stdout).toMatch(/ASP was [\d.]+x faster than BSP/);
    expect(stdout).toMatch(/swaps seen: v1 -> v2/);
    expect(stdout).toMatch(/failed requests: 0;/);
    const accuracy = Number(/served accuracy ([\d.]+) %/.exec(stdout)?.[1]);
    expect(accuracy).toBeGreaterThan(70);
  }, 180_000);
});
