import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..');
const TSX = join(ROOT, 'node_modules', '.bin', 'tsx');

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('examples/cluster (multi-process: regional nats-servers, training, serving, load)', () => {
  it('trains across three region processes, serves the published model over HTTP, and leaves no process behind', async () => {
    const { code, stdout, stderr } = await new Promise<{
      code: number | null;
      stdout: string;
      stderr: string;
    }>((resolve) => {
      execFile(
        TSX,
        ['--conditions=@geoml/source', join(ROOT, 'examples', 'cluster', 'main.ts'), '--quick'],
        { cwd: ROOT, timeout: 150_000, killSignal: 'SIGINT', maxBuffer: 16 * 1024 * 1024 },
        (err, out, errOut) => {
          const c = err ? (typeof err.code === 'number' ? err.code : null) : 0;
          resolve({ code: c, stdout: out, stderr: errOut });
        },
      );
    });
    expect(code, `${stdout}\n${stderr}`).toBe(0);
    // every region process trained, the first one published v1, and the serving process swapped it in
    for (const region of ['virginia', 'frankfurt', 'singapore'])
      expect(stdout).toMatch(new RegExp(`\\[train ${region}\\] done in [\\d.]+ s: acc 0\\.\\d+`));
    const published = stdout.match(/published mnist v(\d+) \(onnx\)/)?.[1];
    expect(published).toBeDefined();
    expect(stdout).toContain(`[serve] serving mnist v${published}`);
    expect(stdout).toMatch(new RegExp(`versions served v${published}`));
    // the load generator got answers and none failed
    const load = stdout.match(/\[load\] (\d+) requests, .* failed (\d+), accuracy ([\d.]+)/);
    expect(load, stdout).not.toBeNull();
    expect(Number(load?.[1])).toBeGreaterThan(0);
    expect(Number(load?.[2])).toBe(0);
    // a trained model, not the initial one, answers: well above chance on held-out digits
    expect(Number(load?.[3])).toBeGreaterThan(0.3);
    // gateway traffic crossed the shaped WAN links
    const wan = [...stdout.matchAll(/^ {2}\w+ → \w+ +([\d.]+) MB$/gm)].map((m) => Number(m[1]));
    expect(wan.length).toBe(6);
    expect(wan.reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
    // no child process and no nats-server of this run is left
    const pids = stdout
      .match(/stopped pids ([\d ]+)/)?.[1]
      ?.trim()
      .split(' ')
      .map(Number);
    expect(pids?.length).toBe(5 + 3);
    for (const pid of pids ?? []) expect(alive(pid), `pid ${pid} still running`).toBe(false);
  }, 180_000);
});
