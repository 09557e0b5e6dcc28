import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..');
const TSX = join(ROOT, 'node_modules', '.bin', 'tsx');

/** Runs an example as a user would (through tsx, workspace packages from source), bounded in time. */
function runExample(
  file: string,
  args: string[],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      TSX,
      ['--conditions=@geoml/source', join(ROOT, 'examples', file), ...args],
      { cwd: ROOT, timeout: 150_000, killSignal: 'SIGKILL' },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : null) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

describe('examples/serve.ts', () => {
  it('serves the generated model over Clipper REST, OIP v2 and /metrics, then exits 0 (--smoke)', async () => {
    const { code, stdout, stderr } = await runExample('serve.ts', ['--smoke']);
    expect(code, stderr).toBe(0);
    expect(stdout).toMatch(/REST \/digits\/predict: 10 outputs, argmax \d, default false/);
    expect(stdout).toContain('REST input_batch: 3 answers');
    expect(stdout).toContain("OIP /v2/models/mlp-s/infer: output 'output' shape [1, 10]");
    expect(stdout).toMatch(/bad input: HTTP 400 \(.*784 values/);
    expect(stdout).toMatch(/geoml_predictions_total\{app="digits"\} = [4-9]/);
    expect(stdout).toContain('smoke test ok');
  }, 180_000);
});

describe('examples/geo-train.ts', () => {
  it('trains MF across three emulated regions and prints a summary where asp ships a fraction of bsp (--quick)', async () => {
    const { code, stdout, stderr } = await runExample('geo-train.ts', ['--quick']);
    expect(code, stderr).toBe(0);
    expect(stdout).toMatch(/Matrix factorization \(\d+ parameters\), 3 regions x 2 workers, 100 clocks/);
    // "mode rmse virtual-s WAN-MB msgs speed-up bytes-vs-bsp" rows; bytes are virtual-time deterministic.
    const share = (mode: string) => {
      const row = stdout.split('\n').find((l) => l.trim().startsWith(`${mode} `));
      expect(row, `${mode} row in:\n${stdout}`).toBeDefined();
      return Number(row?.trim().split(/\s+/).at(-2));
    };
    expect(share('bsp')).toBe(100);
    expect(share('asp')).toBeGreaterThan(0);
    expect(share('asp')).toBeLessThan(50);
    expect(share('asp-int8')).toBeLessThan(share('asp'));
    expect(stderr).toContain('asp: done in');
  }, 180_000);
});
