import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadOrt, loadTf, TF_BACKENDS } from '../src/backends.js';
import { BackendError } from '../src/errors.js';

const run = promisify(execFile);
const backendsModule = fileURLToPath(new URL('../src/backends.ts', import.meta.url));
const require = createRequire(import.meta.url);
const installed = (pkg: string) => {
  try {
    require.resolve(pkg);
    return true;
  } catch {
    return false;
  }
};

/** Runs loadTf() in a fresh Node process with `env`, returning its stdout, stderr and exit code. */
async function loadTfInChild(env: Record<string, string>) {
  const code = `const { loadTf } = await import(${JSON.stringify(backendsModule)});
try { const r = await loadTf(); console.log(JSON.stringify({ backend: r.backend, active: r.tf.getBackend() })); }
catch (e) { console.log(JSON.stringify({ error: e.name, code: e.code, message: e.message })); }`;
  const childEnv = { ...process.env, ...env };
  if (!('GEOML_QUIET' in env)) delete childEnv.GEOML_QUIET;
  const { stdout, stderr } = await run(
    process.execPath,
    ['--import', 'tsx', '--conditions=@geoml/source', '--input-type=module', '-e', code],
    { env: childEnv, timeout: 60_000 },
  );
  return { result: JSON.parse(stdout.trim().split('\n').pop()!), stderr };
}

beforeAll(() => {
  delete process.env.GEOML_TF_BACKEND;
  process.env.GEOML_QUIET = '1';
});

describe('loadTf', () => {
  it('picks the best backend that loads and says why the better ones were skipped', async () => {
    const { tf, backend, reason } = await loadTf();
    expect(TF_BACKENDS).toContain(backend);
    expect(tf.getBackend()).toBe(backend === 'tensorflow-gpu' ? 'tensorflow' : backend);
    if (!installed('@tensorflow/tfjs-node-gpu') && !installed('@tensorflow/tfjs-node')) {
      // On a machine without the native packages, wasm is the best choice, and the reason names both misses.
      expect(backend).toBe('wasm');
      expect(reason).toBe(
        'skipped tensorflow-gpu: @tensorflow/tfjs-node-gpu not installed; tensorflow: @tensorflow/tfjs-node not installed',
      );
    }
    const product = tf.matMul(tf.tensor2d([1, 2, 3, 4], [2, 2]), tf.tensor2d([1, 0, 0, 1], [2, 2]));
    expect([...(await product.data())]).toEqual([1, 2, 3, 4]);
  });

  it('is memoised', async () => {
    const a = await loadTf();
    const b = await loadTf();
    expect(b).toBe(a);
  });

  it('switches to a forced backend and back', async () => {
    const cpu = await loadTf({ backend: 'cpu' });
    expect(cpu.backend).toBe('cpu');
    expect(cpu.reason).toMatch(/forced/);
    expect(cpu.tf.getBackend()).toBe('cpu');
    const auto = await loadTf();
    expect(auto.tf.getBackend()).toBe(auto.backend === 'tensorflow-gpu' ? 'tensorflow' : auto.backend);
  });

  it('refuses a forced native backend that is not installed instead of falling back', async () => {
    if (installed('@tensorflow/tfjs-node')) {
      expect((await loadTf({ backend: 'tensorflow' })).backend).toBe('tensorflow');
      return;
    }
    const err = await loadTf({ backend: 'tensorflow' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BackendError);
    expect((err as BackendError).code).toBe('UNAVAILABLE');
    expect((err as BackendError).message).toMatch(/tensorflow .*forced.*failed/);
  });

  it('obeys GEOML_TF_BACKEND and prints its choice on stderr', async () => {
    const { result, stderr } = await loadTfInChild({ GEOML_TF_BACKEND: 'cpu' });
    expect(result).toEqual({ backend: 'cpu', active: 'cpu' });
    expect(stderr).toMatch(/geoml: tfjs backend cpu \(forced by GEOML_TF_BACKEND\)/);
  });

  it('stays quiet under GEOML_QUIET and refuses an unknown GEOML_TF_BACKEND', async () => {
    const { result, stderr } = await loadTfInChild({ GEOML_TF_BACKEND: 'gpu-please', GEOML_QUIET: '1' });
    expect(result.error).toBe('BackendError');
    expect(result.code).toBe('UNAVAILABLE');
    expect(result.message).toMatch(
      /GEOML_TF_BACKEND=gpu-please is not one of tensorflow-gpu, tensorflow, wasm, cpu/,
    );
    expect(stderr).not.toMatch(/geoml: tfjs backend/);
  });
});

describe('loadOrt', () => {
  it('loads onnxruntime-node once', async () => {
    const ort = await loadOrt();
    expect(await loadOrt()).toBe(ort);
    const t = new ort.Tensor('float32', new Float32Array([1, 2]), [2]);
    expect(t.dims).toEqual([2]);
  });
});
