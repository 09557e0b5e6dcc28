import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { ConfigError, createRng, loadTf, type TensorMap } from '@geoml/core';
import { describe, expect, it } from 'vitest';
import { createMnistClassifier } from '../src/mnist-classifier.js';
import { WorkloadError } from '../src/workload.js';
import { applyUpdate, expectPartition, nonFinite, ownSliceFraction } from './workloads-helpers.js';

const small = { hidden: [32], batchSize: 32, testSize: 500, trainSize: 3000, learningRate: 0.2, seed: 2 };

async function train(
  w: ReturnType<typeof createMnistClassifier>,
  steps: number,
  seed = 3,
): Promise<TensorMap> {
  const params = w.model.init(createRng(1));
  const shard = w.shards(1, 1, 'iid')[0]?.[0];
  const rng = createRng(seed);
  for (let s = 0; s < steps; s++) {
    const update = (await w.model.computeUpdate(params, shard?.nextBatch(rng) as never)) as TensorMap;
    expect(nonFinite(update)).toBe(0);
    applyUpdate(params, update);
  }
  return params;
}

/** Reference forward pass in plain JS: softmax(relu(x·W1 + b1)·W2 + b2). */
function forwardJs(params: TensorMap, x: Float32Array, n: number, hidden: number): Float64Array {
  const W1 = params.get('dense1/kernel')?.data as Float32Array;
  const b1 = params.get('dense1/bias')?.data as Float32Array;
  const W2 = params.get('dense2/kernel')?.data as Float32Array;
  const b2 = params.get('dense2/bias')?.data as Float32Array;
  const out = new Float64Array(n * 10);
  for (let i = 0; i < n; i++) {
    const h = Float64Array.from(b1);
    for (let p = 0; p < 784; p++) {
      const v = x[i * 784 + p] as number;
      if (v !== 0)
        for (let j = 0; j < hidden; j++) h[j] = (h[j] as number) + v * (W1[p * hidden + j] as number);
    }
    const logits = Float64Array.from(b2);
    for (let j = 0; j < hidden; j++) {
      const a = Math.max(0, h[j] as number);
      for (let c = 0; c < 10; c++) logits[c] = (logits[c] as number) + a * (W2[j * 10 + c] as number);
    }
    const max = Math.max(...logits);
    const exp = logits.map((l) => Math.exp(l - max));
    const sum = exp.reduce((s, e) => s + e, 0);
    for (let c = 0; c < 10; c++) out[i * 10 + c] = (exp[c] as number) / sum;
  }
  return out;
}

/** Runs an ONNX model on a worker thread (session.run blocks its thread) with onnxruntime-node. */
function runOnnx(model: Uint8Array, inputs: Record<string, { data: Float32Array; dims: number[] }>) {
  const fromCore = createRequire(createRequire(import.meta.url).resolve('@geoml/core/package.json'));
  const code = `
    const { parentPort, workerData } = require('node:worker_threads');
    const ort = require(workerData.ortPath);
    (async () => {
      const session = await ort.InferenceSession.create(workerData.model);
      const feeds = {};
      for (const [name, t] of Object.entries(workerData.inputs)) feeds[name] = new ort.Tensor('float32', t.data, t.dims);
      const out = await session.run(feeds);
      const result = {};
      for (const [name, t] of Object.entries(out)) result[name] = { data: t.data, dims: t.dims };
      parentPort.postMessage({ result, inputNames: session.inputNames, outputNames: session.outputNames });
    })().catch((e) => parentPort.postMessage({ error: String(e && e.stack || e) }));`;
  const worker = new Worker(code, {
    eval: true,
    workerData: { ortPath: fromCore.resolve('onnxruntime-node'), model, inputs },
  });
  return new Promise<{
    result: Record<string, { data: Float32Array; dims: number[] }>;
    inputNames: string[];
    outputNames: string[];
  }>((resolve, reject) => {
    worker.once('message', (m) => {
      void worker.terminate();
      if (m.error) reject(new Error(m.error));
      else resolve(m);
    });
    worker.once('error', reject);
  });
}

describe('MNIST classifier workload (real digits, tfjs MLP)', () => {
  it('raises test accuracy well above chance within a few dozen steps, without leaking tensors', async () => {
    const { tf } = await loadTf();
    const w = createMnistClassifier(small);
    expect(w.describe).toMatchObject({
      trainItems: 3000,
      testItems: 500,
      params: 784 * 32 + 32 + 32 * 10 + 10,
    });
    const params = w.model.init(createRng(1));
    const before = await w.model.evaluate(params);
    expect(before).toMatchObject({ metric: 'accuracy', higherIsBetter: true });
    await w.model.computeUpdate(params, w.shards(1, 1, 'iid')[0]?.[0]?.nextBatch(createRng(9)) as never);
    const tensors = tf.memory().numTensors;
    const trained = await train(w, 50);
    const after = await w.model.evaluate(trained);
    expect(tf.memory().numTensors).toBe(tensors);
    expect(before.value).toBeLessThan(0.3);
    expect(after.value).toBeGreaterThan(0.7);
  });

  it('averages gradients over workers, so 11 regions × 2 workers summed each clock stay stable', async () => {
    const w = createMnistClassifier(small);
    const shards = w.shards(11, 2, 'skewed').flat();
    expect(shards[0]?.nextBatch(createRng(1)).share).toBeCloseTo(1 / 22, 9);
    const params = w.model.init(createRng(1));
    const rng = createRng(2);
    for (let clock = 0; clock < 8; clock++) {
      const updates: TensorMap[] = [];
      for (const s of shards)
        updates.push((await w.model.computeUpdate(params, s.nextBatch(rng))) as TensorMap);
      for (const u of updates) applyUpdate(params, u);
    }
    expect(nonFinite(params)).toBe(0);
    expect((await w.model.evaluate(params)).value).toBeGreaterThan(0.5);
  });

  it('is deterministic from its seeds', async () => {
    const w = createMnistClassifier(small);
    const a = await train(w, 5);
    const b = await train(createMnistClassifier(small), 5);
    expect(b).toEqual(a);
    const c = await train(w, 5, 4);
    expect(c.get('dense1/kernel')?.data).not.toEqual(a.get('dense1/kernel')?.data);
  });

  it('splits digits exactly once; the skewed split gives each region a few classes', () => {
    const w = createMnistClassifier(small);
    expectPartition(w.shards(3, 2, 'iid'), 3000, 3, 2);
    expectPartition(w.shards(3, 2, 'skewed'), 3000, 3, 2);
    for (const f of ownSliceFraction(w.shards(3, 1, 'skewed'), w.trainLabels, 3))
      expect(f).toBeGreaterThan(0.85);
    for (const f of ownSliceFraction(w.shards(3, 1, 'iid'), w.trainLabels, 3)) expect(f).toBeLessThan(0.6);
    const classes = (split: 'iid' | 'skewed') => {
      const counts = new Array<number>(10).fill(0);
      for (const i of w.shards(5, 1, split)[0]?.[0]?.items ?? []) {
        const label = w.trainLabels[i] as number;
        counts[label] = (counts[label] ?? 0) + 1;
      }
      return counts.filter((c) => c > 0.05 * 600).length;
    };
    expect(classes('skewed')).toBeLessThanOrEqual(3);
    expect(classes('iid')).toBe(10);
  });

  it('exports the trained parameters as a tfjs-layers model that predicts like the parameters', async () => {
    const { tf } = await loadTf();
    const w = createMnistClassifier(small);
    const params = await train(w, 20);
    const batch = w.shards(1, 1, 'iid')[0]?.[0]?.nextBatch(createRng(11));
    if (!batch) throw new Error('no batch');
    const expected = forwardJs(params, batch.images, 32, 32);

    const layers = await w.toLayersModel(params);
    const x = tf.tensor2d(batch.images, [32, 784]);
    const y = layers.predict(x) as ReturnType<typeof tf.tensor>;
    const got = await y.data();
    expect(layers.inputs[0]?.shape).toEqual([null, 784]);
    expect(layers.inputNames).toEqual(['image']);
    expect(layers.outputNames).toEqual(['probabilities']);
    expect(y.shape).toEqual([32, 10]);
    for (let i = 0; i < expected.length; i++) expect(got[i]).toBeCloseTo(expected[i] as number, 4);
    tf.dispose([y]);
    layers.dispose();

    const files = await w.layersModelFiles(params);
    expect(Object.keys(files).sort()).toEqual(['model.json', 'weights.bin']);
    expect(files['weights.bin']?.byteLength).toBe(w.describe.params * 4);
    const json = JSON.parse(new TextDecoder().decode(files['model.json']));
    expect(json.format).toBe('layers-model');
    const weightsBytes = files['weights.bin'] as Uint8Array;
    const reloaded = await tf.loadLayersModel(
      tf.io.fromMemory({
        modelTopology: json.modelTopology,
        weightSpecs: json.weightsManifest[0].weights,
        weightData: weightsBytes.buffer.slice(
          weightsBytes.byteOffset,
          weightsBytes.byteOffset + weightsBytes.byteLength,
        ) as ArrayBuffer,
      }),
    );
    const y2 = reloaded.predict(x) as ReturnType<typeof tf.tensor>;
    expect(Array.from(await y2.data())).toEqual(Array.from(got));
    tf.dispose([x, y2]);
    reloaded.dispose();
  });

  it('exports the trained parameters as an ONNX model that onnxruntime runs to the same probabilities', async () => {
    const w = createMnistClassifier(small);
    const params = await train(w, 20);
    const batch = w.shards(1, 1, 'iid')[0]?.[0]?.nextBatch(createRng(12));
    if (!batch) throw new Error('no batch');
    const expected = forwardJs(params, batch.images, 32, 32);
    const run = await runOnnx(w.toOnnx(params), { image: { data: batch.images, dims: [32, 784] } });
    expect(run.inputNames).toEqual(['image']);
    expect(run.outputNames).toEqual(['probabilities']);
    const out = run.result.probabilities;
    expect(out?.dims).toEqual([32, 10]);
    for (let i = 0; i < expected.length; i++) expect(out?.data[i]).toBeCloseTo(expected[i] as number, 4);
    expect(w.signature.inputs[0]).toEqual({ name: 'image', dtype: 'float32', shape: [null, 784] });
    expect(w.signature.outputs[0]?.name).toBe('probabilities');
  });

  it('rejects bad options and parameters with typed errors', async () => {
    expect(() => createMnistClassifier({ hidden: [0] })).toThrow(ConfigError);
    expect(() => createMnistClassifier({ testSize: 9999 })).toThrow(/testSize/);
    expect(() => createMnistClassifier({ backend: 'gpu' } as never)).toThrow(/backend/);
    const w = createMnistClassifier(small);
    const params = w.model.init(createRng(1));
    params.delete('dense2/bias');
    await expect(w.model.evaluate(params)).rejects.toThrow(WorkloadError);
    await expect(w.model.evaluate(params)).rejects.toThrow(/dense2\/bias/);
  });
});
