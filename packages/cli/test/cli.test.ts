import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRng } from '@geoml/core';
import { createMnistClassifier } from '@geoml/gaia';
import { startNatsServer } from '@geoml/transport';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildOnnxModel, sampleInput } from '../../../test/fixtures/onnx-models.js';
import { main } from '../src/cli.js';

/** Runs `main(argv)` capturing its output; `stop` ends a `serve`. */
function run(argv: string[], stop?: Promise<unknown>) {
  const out: string[] = [];
  const err: string[] = [];
  const done = main(argv, {
    io: { out: (t) => void out.push(t), err: (t) => void err.push(t) },
    ...(stop ? { stop } : {}),
  });
  return { done, out: () => out.join(''), err: () => err.join('') };
}

/** Starts `geoml serve` with `argv` and waits (bounded) for the URL it prints. */
async function serve(argv: string[]) {
  let stop!: () => void;
  const stopped = new Promise<void>((r) => {
    stop = r;
  });
  const r = run(['serve', '--port', '0', ...argv], stopped);
  let early: number | undefined;
  void r.done.then((code) => {
    early = code;
  });
  for (let i = 0; i < 600 && early === undefined; i++) {
    const url = /serving on (http:\S+)/.exec(r.out())?.[1];
    if (url)
      return {
        url,
        r,
        stop: () => {
          stop();
          return r.done;
        },
      };
    await new Promise((res) => setTimeout(res, 50));
  }
  throw new Error(`serve did not start (exit ${early}): ${r.err()}`);
}

const mlp = buildOnnxModel('mlp-s');
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'geoml-cli-'));
  await writeFile(join(dir, 'mlp.onnx'), mlp.bytes);
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const post = async (url: string, body: unknown) => {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
};

describe('geoml (usage and config errors)', () => {
  it('a bad train config exits 2 from the real binary, naming each bad field', async () => {
    const file = join(dir, 'bad-train.json');
    await writeFile(
      file,
      JSON.stringify({
        workload: { name: 'mnist', options: { hidden: [0] } },
        mode: 'fast',
        stop: { maxClocks: 'x' },
      }),
    );
    const result = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        [
          '--import',
          'tsx',
          '--conditions=@geoml/source',
          'packages/cli/src/main.ts',
          'train',
          '--config',
          file,
        ],
        { cwd: join(import.meta.dirname, '../../..'), timeout: 60_000 },
        (error, _stdout, stderr) => resolve({ code: error ? (error.code as number) : 0, stderr }),
      );
    });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('workload.options.hidden.0');
    expect(result.stderr).toContain('mode');
    expect(result.stderr).toContain('stop.maxClocks');
  });

  it('an unknown workload, flag or command is a usage error (exit 2)', async () => {
    const file = join(dir, 'unknown-workload.json');
    await writeFile(file, JSON.stringify({ workload: { name: 'resnet' }, mode: 'asp' }));
    const w = run(['train', '--config', file]);
    expect(await w.done).toBe(2);
    expect(w.err()).toMatch(/workload\.name/);
    const flag = run(['serve', '--model', `m=${join(dir, 'mlp.onnx')}`, '--batchsize', '8']);
    expect(await flag.done).toBe(2);
    expect(flag.err()).toContain('--batchsize');
    const cmd = run(['deploy']);
    expect(await cmd.done).toBe(2);
    expect(cmd.err()).toContain('unknown command');
  });

  it('a bad serve config file names the field and exits 2', async () => {
    const file = join(dir, 'bad-serve.json');
    await writeFile(
      file,
      JSON.stringify({
        sloMs: -5,
        batching: { mode: 'aimd', maxBatchSize: 0 },
        models: [{ name: 'm', file: 'm.onnx' }],
      }),
    );
    const r = run(['serve', '--config', file]);
    expect(await r.done).toBe(2);
    expect(r.err()).toContain('sloMs');
    expect(r.err()).toContain('batching.maxBatchSize');
    const watchless = run(['serve', '--watch', 'digits']);
    expect(await watchless.done).toBe(2);
    expect(watchless.err()).toMatch(/models\.0\.file: .*registry/);
  });

  it('every command answers --help with exit 0', async () => {
    for (const argv of [['--help'], ['serve', '--help'], ['train', '--help'], ['registry', '--help']]) {
      const r = run(argv);
      expect(await r.done).toBe(0);
      expect(r.out()).toMatch(/^Usage: geoml/);
    }
  });
});

describe('geoml serve (files)', () => {
  it('serves an ONNX file over Clipper REST and the Open Inference Protocol', async () => {
    const s = await serve([
      '--model',
      `digits=${join(dir, 'mlp.onnx')}`,
      '--slo-ms',
      '5000',
      '--batching',
      'static',
      '--max-batch',
      '4',
      '--no-cache',
    ]);
    try {
      const input = Array.from(sampleInput(mlp, 3));
      const rest = await post(`${s.url}/digits/predict`, { input });
      expect(rest.status).toBe(200);
      expect(rest.body.default).toBe(false);
      expect((rest.body.output as number[]).length).toBe(10);
      const oip = await post(`${s.url}/v2/models/digits/infer`, {
        inputs: [{ name: mlp.inputName, shape: [1, 784], datatype: 'FP32', data: input }],
      });
      expect(oip.status).toBe(200);
      const out = (oip.body.outputs as { data: number[]; shape: number[] }[])[0];
      expect(out?.shape).toEqual([1, 10]);
      // Both frontends run the same model on the same input.
      const restOut = rest.body.output as number[];
      for (const [i, v] of (out?.data ?? []).entries()) expect(v).toBeCloseTo(restOut[i] as number, 5);
      const model = (await (await fetch(`${s.url}/admin/get_model?model_name=digits`)).json()) as {
        versions: {
          batching?: unknown;
          deployment?: { batching: { mode: string; batchSize: number }; cache: boolean };
        }[];
      };
      expect(JSON.stringify(model)).toContain('static');
      const bad = await post(`${s.url}/digits/predict`, { input: [1, 2, 3] });
      expect(bad.status).toBe(400);
    } finally {
      expect(await s.stop()).toBe(0);
    }
  });
});

describe('geoml serve (tfjs-layers)', () => {
  it('serves a tfjs model.json with the weight files next to it', async () => {
    const workload = createMnistClassifier({ hidden: [16], trainSize: 100, testSize: 10 });
    const files = await workload.layersModelFiles(workload.model.init(createRng(1)));
    const tfdir = join(dir, 'tfjs');
    await mkdir(tfdir, { recursive: true });
    for (const [path, bytes] of Object.entries(files)) await writeFile(join(tfdir, path), bytes);
    const s = await serve(['--model', `mnist=${join(tfdir, 'model.json')}`, '--slo-ms', '5000']);
    try {
      const rest = await post(`${s.url}/mnist/predict`, { input: Array.from(sampleInput(mlp, 2)) });
      expect(rest.status).toBe(200);
      expect(rest.body.default).toBe(false);
      const probabilities = rest.body.output as number[];
      expect(probabilities).toHaveLength(10);
      expect(probabilities.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 4);
    } finally {
      expect(await s.stop()).toBe(0);
    }
  });

  it('a missing weights file is named', async () => {
    const lone = join(dir, 'lone');
    await mkdir(lone, { recursive: true });
    await writeFile(
      join(lone, 'model.json'),
      JSON.stringify({ modelTopology: {}, weightsManifest: [{ paths: ['weights.bin'], weights: [] }] }),
    );
    const r = run(['serve', '--model', `m=${join(lone, 'model.json')}`, '--port', '0']);
    expect(await r.done).toBe(2);
    expect(r.err()).toContain(join(lone, 'weights.bin'));
  });
});

describe('geoml registry and serve --watch (nats-server with JetStream)', () => {
  let nats: Awaited<ReturnType<typeof startNatsServer>>;
  beforeAll(async () => {
    nats = await startNatsServer({ jetstream: true });
  });
  afterAll(() => nats?.close());

  it('publishes, lists and inspects versions; serve --watch serves the newest', async () => {
    const url = nats.url;
    const empty = run(['registry', 'list', '--registry', url]);
    expect(await empty.done).toBe(0);
    expect(empty.out()).toContain('no models');

    const model = join(dir, 'mlp.onnx');
    const metadata = JSON.stringify({
      inputs: [{ name: mlp.inputName, dtype: 'float32', shape: [null, 784] }],
      outputs: [{ name: mlp.outputName, dtype: 'float32', shape: [null, 10] }],
    });
    for (const expected of [1, 2]) {
      const p = run([
        'registry',
        'publish',
        '--registry',
        url,
        '--name',
        'digits',
        '--format',
        'onnx',
        '--metadata',
        metadata,
        model,
      ]);
      expect(await p.done).toBe(0);
      expect(p.out()).toContain(`published digits version ${expected}`);
    }
    const list = run(['registry', 'list', '--registry', url]);
    expect(await list.done).toBe(0);
    expect(list.out()).toBe('digits: 1 2\n');

    const inspect = run(['registry', 'inspect', '--registry', url, 'digits', '1']);
    expect(await inspect.done).toBe(0);
    const manifest = JSON.parse(inspect.out());
    expect(manifest).toMatchObject({ name: 'digits', version: 1, format: 'onnx' });
    expect(manifest.files).toEqual([
      expect.objectContaining({ path: 'mlp.onnx', size: mlp.bytes.byteLength }),
    ]);

    const missing = run(['registry', 'inspect', '--registry', url, 'digits', '9']);
    expect(await missing.done).toBe(1);
    expect(missing.err()).toContain('no version 9');

    const s = await serve(['--registry', url, '--watch', 'digits', '--slo-ms', '5000']);
    try {
      const info = (await (await fetch(`${s.url}/v2/models/digits`)).json()) as Record<string, unknown>;
      expect(JSON.stringify(info)).toContain('784');
      const rest = await post(`${s.url}/digits/predict`, { input: Array.from(sampleInput(mlp, 1)) });
      expect(rest.status).toBe(200);
      expect(rest.body.default).toBe(false);
      const model = (await (await fetch(`${s.url}/admin/get_model?model_name=digits`)).json()) as {
        servingVersion: string;
      };
      expect(model.servingVersion).toBe('2');
    } finally {
      expect(await s.stop()).toBe(0);
    }
  });

  it('train runs a small workload, prints its summary and publishes the model', async () => {
    const file = join(dir, 'train.json');
    await writeFile(
      file,
      JSON.stringify({
        workload: {
          name: 'matrix-factorization',
          options: { users: 60, items: 40, rank: 2, density: 0.3, batchSize: 16 },
        },
        mode: 'asp',
        topology: 'ec2-11',
        profileOptions: { regions: ['virginia', 'frankfurt'] },
        workersPerRegion: 1,
        costModel: { stepMs: 1, batchSize: 16 },
        stop: { maxClocks: 6 },
        evalEvery: 3,
      }),
    );
    const r = run(['train', '--config', file, '--json', '--publish', nats.url, '--name', 'ratings']);
    expect(await r.done, r.err()).toBe(0);
    const summary = JSON.parse(r.out());
    expect(summary).toMatchObject({
      workload: 'matrix-factorization',
      mode: 'asp',
      regions: ['virginia', 'frankfurt'],
      metric: 'rmse',
      clocks: 6,
    });
    expect(summary.wanBytes).toBeGreaterThan(0);
    expect(Number.isFinite(summary.quality)).toBe(true);
    expect(summary.published).toEqual({ name: 'ratings', version: 1, format: 'tensors' });
    expect(r.err()).toMatch(/asp clock \d+\/6/);
    const list = run(['registry', 'list', '--registry', nats.url, 'ratings']);
    expect(await list.done).toBe(0);
    expect(list.out()).toBe('ratings: 1\n');
  });

  it('train --nats --region runs one region per process over NATS, together making one run', async () => {
    const file = join(dir, 'train-regions.json');
    await writeFile(
      file,
      JSON.stringify({
        workload: {
          name: 'matrix-factorization',
          options: { users: 60, items: 40, rank: 2, density: 0.3, batchSize: 16 },
        },
        mode: 'asp',
        topology: { regions: ['east', 'west'] },
        workersPerRegion: 1,
        costModel: { stepMs: 0, batchSize: 16 },
        stop: { maxClocks: 5 },
        evalEvery: 5,
        time: 'wall',
        run: 'cli-regions',
      }),
    );
    const runs = ['east', 'west'].map((region) =>
      run(['train', '--config', file, '--json', '--nats', nats.url, '--region', region]),
    );
    for (const r of runs) expect(await r.done, r.err()).toBe(0);
    for (const [i, r] of runs.entries()) {
      const summary = JSON.parse(r.out());
      expect(summary.regions).toEqual([['east', 'west'][i]]);
      expect(summary.clocks).toBe(5);
      // Each region's parameter servers sent its updates to the other over NATS.
      expect(summary.wanBytes).toBeGreaterThan(0);
    }
  });
});
