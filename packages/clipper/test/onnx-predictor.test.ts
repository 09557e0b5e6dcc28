import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, systemClock, type Tensor, tensor } from '@geoml/core';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { buildOnnxModel, referenceMlp, sampleInput } from '../../../test/fixtures/onnx-models.js';
import { ContainerError } from '../src/errors.js';
import type { OnnxModelSource } from '../src/onnx-model-source.js';
import { CRASH_NEXT_RUN, OnnxPredictor } from '../src/onnx-predictor.js';
import { OnnxWorker } from '../src/onnx-worker.js';

const mlpS = buildOnnxModel('mlp-s');
const open: OnnxPredictor[] = [];

async function predictor(bytes: OnnxModelSource, config = {}): Promise<OnnxPredictor> {
  const p = await OnnxPredictor.create(bytes, config);
  open.push(p);
  return p;
}

function query(seed: number, model = mlpS): Record<string, Tensor> {
  return { input: tensor('float32', model.inputShape, sampleInput(model, seed)) };
}

function expectReference(outputs: Record<string, Tensor>[], seeds: number[]): void {
  expect(outputs).toHaveLength(seeds.length);
  outputs.forEach((out, i) => {
    const y = out.output as Tensor;
    expect(y.dtype).toBe('float32');
    expect(y.shape).toEqual([10]);
    const ref = referenceMlp(mlpS.layers, sampleInput(mlpS, seeds[i] as number));
    for (let j = 0; j < 10; j++) expect(y.data[j]).toBeCloseTo(ref[j] as number, 4);
  });
}

function values(t: Tensor | undefined): number[] {
  return Array.from((t?.data ?? []) as ArrayLike<number>);
}

async function rejection(p: Promise<unknown>): Promise<ContainerError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ContainerError);
  return err as ContainerError;
}

afterEach(async () => {
  await Promise.all(open.splice(0).map((p) => p.dispose()));
});

describe('OnnxPredictor', () => {
  it('matches a plain-JS reference of mlp-s for a batch of 1 and of 32, in query order', async () => {
    const p = await predictor(mlpS.bytes);
    expect(p.inputs).toEqual([{ name: 'input', dtype: 'float32', shape: [784] }]);
    expect(p.outputNames).toEqual(['output']);
    expectReference(await p.predict([query(7)]), [7]);
    const seeds = Array.from({ length: 32 }, (_, i) => 100 + i);
    expectReference(await p.predict(seeds.map((s) => query(s))), seeds);
    expect(await p.predict([])).toEqual([]);
  });

  it('runs the other fixtures: noop echoes its input, cnn-s gives 10 scores per image', async () => {
    const noop = await predictor(buildOnnxModel('noop').bytes);
    const out = await noop.predict(
      [3, 5, 8].map((v) => ({ input: tensor('float32', [1], new Float32Array([v])) })),
    );
    expect(out.map((o) => values(o.output))).toEqual([[3], [5], [8]]);

    const cnnModel = buildOnnxModel('cnn-s');
    const cnn = await predictor(cnnModel.bytes);
    const images = await cnn.predict([query(1, cnnModel), query(2, cnnModel)]);
    expect(images.map((o) => o.output?.shape)).toEqual([[10], [10]]);
    expect(values(images[0]?.output)).not.toEqual(values(images[1]?.output));
  });

  it('splits batches for a model with a fixed batch dimension, padding the last chunk', async () => {
    for (const fixedBatch of [1, 4]) {
      const fixed = buildOnnxModel('mlp-s', 42, { fixedBatch });
      const p = await predictor(fixed.bytes);
      expect(p.maxBatchSize).toBe(fixedBatch);
      const seeds = [11, 12, 13, 14, 15, 16];
      expectReference(await p.predict(seeds.map((s) => query(s))), seeds);
    }
    expect((await predictor(mlpS.bytes)).maxBatchSize).toBeUndefined();
  });

  it('loads from a file path and warms up with zero batches', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'geoml-onnx-'));
    try {
      const file = join(dir, 'mlp-s.onnx');
      await writeFile(file, mlpS.bytes);
      const p = await predictor(file);
      await p.warmUp({ batchSizes: [1, 4] });
      expectReference(await p.predict([query(3)]), [3]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('keeps the event loop responsive while a long mlp-l batch runs in the worker', async () => {
    const mlpL = buildOnnxModel('mlp-l');
    const p = await predictor(mlpL.bytes);
    const batch = Array.from({ length: 256 }, (_, i) => query(i, mlpL));
    let pending = true;
    let ticksWhilePending = 0;
    const timer = setInterval(() => {
      if (pending) ticksWhilePending++;
    }, 1);
    try {
      const outputs = await p.predict(batch);
      pending = false;
      expect(outputs).toHaveLength(256);
      // On the main thread, session.run would block from start to end, letting at most one tick through.
      expect(ticksWhilePending).toBeGreaterThanOrEqual(3);
    } finally {
      clearInterval(timer);
    }
  });

  it('rejects every call in flight with CRASHED when the worker dies mid-batch, then recovers', async () => {
    const p = await predictor(mlpS.bytes);
    p[CRASH_NEXT_RUN]();
    const crashing = p.predict([query(1), query(2)]);
    const queued = p.predict([query(3)]);
    expect((await rejection(crashing)).code).toBe('CRASHED');
    expect((await rejection(queued)).code).toBe('CRASHED');
    expectReference(await p.predict([query(4), query(5)]), [4, 5]);
    expect(p.restarts).toBe(1);
  });

  it('treats an uncaught error in the worker as a crash too, and recovers again after it', async () => {
    const p = await predictor(mlpS.bytes);
    for (const how of ['throw', 'exit'] as const) {
      p[CRASH_NEXT_RUN](how);
      const err = await rejection(p.predict([query(1)]));
      expect(err.code).toBe('CRASHED');
      expect(err.message).toMatch(how === 'throw' ? /test crash/ : /code 70/);
      expectReference(await p.predict([query(6)]), [6]);
    }
    expect(p.restarts).toBe(2);
  });

  it('answers a malformed batch with BAD_INPUT naming the input, and the worker survives', async () => {
    const p = await predictor(mlpS.bytes);
    const wrongName = await rejection(p.predict([{ pixels: query(1).input as Tensor }]));
    expect(wrongName.code).toBe('BAD_INPUT');
    expect(wrongName.message).toContain("'pixels'");

    const missing = await rejection(p.predict([{}]));
    expect(missing.code).toBe('BAD_INPUT');
    expect(missing.input).toBe('input');

    const withBatchDim = await rejection(
      p.predict([{ input: tensor('float32', [1, 784], new Float32Array(784)) }]),
    );
    expect(withBatchDim.code).toBe('BAD_INPUT');
    expect(withBatchDim.message).toMatch(/'input'.*\[1, 784\]/);

    const wrongDtype = await rejection(p.predict([{ input: tensor('int32', [784], new Int32Array(784)) }]));
    expect(wrongDtype.code).toBe('BAD_INPUT');
    expect(wrongDtype.message).toContain('float32');

    const wrongArray = await rejection(
      p.predict([
        { input: { dtype: 'float32', shape: [784], data: new Float64Array(784) } as unknown as Tensor },
      ]),
    );
    expect(wrongArray.message).toContain('Float32Array');

    const lying = await rejection(
      p.predict([{ input: { dtype: 'float32', shape: [784], data: new Float32Array(10) } }]),
    );
    expect(lying.code).toBe('BAD_INPUT');

    expectReference(await p.predict([query(9)]), [9]);
    expect(p.restarts).toBe(0);
  });

  it('survives a worker that runs out of heap (resourceLimits): CRASHED, then a fresh worker serves', async () => {
    const p = await predictor(mlpS.bytes, { resourceLimits: { maxOldGenerationSizeMb: 64 } });
    p[CRASH_NEXT_RUN]('oom');
    const err = await rejection(p.predict([query(1)]));
    expect(err.code).toBe('CRASHED');
    expect(err.message).toMatch(/memory/i);
    expectReference(await p.predict([query(2)]), [2]);
    expect(p.restarts).toBe(1);
  });

  it('gives up with CRASHED after maxRespawns when every new worker dies while loading', async () => {
    const p = new OnnxPredictor({
      resourceLimits: { maxOldGenerationSizeMb: 1, maxYoungGenerationSizeMb: 1 },
      maxRespawns: 2,
    });
    open.push(p);
    const err = await rejection(p.load(mlpS.bytes));
    expect(err.code).toBe('CRASHED');
    expect(err.message).toMatch(/memory/i);
    expect(p.restarts).toBe(2);
    expect((await rejection(p.predict([query(1)]))).code).toBe('CRASHED');
  });

  it('fails with DISPOSED after dispose, including a call in flight', async () => {
    const p = await predictor(mlpS.bytes);
    const inFlight = rejection(p.predict([query(1)]));
    await p.dispose();
    expect((await inFlight).code).toBe('DISPOSED');
    expect((await rejection(p.predict([query(1)]))).code).toBe('DISPOSED');
    await p.dispose();
  });

  it('fails a bad model with LOAD_FAILED and keeps serving the previous model on a failed reload', async () => {
    expect((await rejection(OnnxPredictor.create(new Uint8Array([1, 2, 3, 4])))).code).toBe('LOAD_FAILED');
    expect((await rejection(OnnxPredictor.create('/nonexistent/model.onnx'))).code).toBe('LOAD_FAILED');

    const p = await predictor(mlpS.bytes);
    expect((await rejection(p.load(new Uint8Array([9, 9, 9])))).code).toBe('LOAD_FAILED');
    expectReference(await p.predict([query(2)]), [2]);

    // A successful reload swaps the model in the same worker.
    await p.load(buildOnnxModel('noop').bytes);
    const out = await p.predict([{ input: tensor('float32', [1], new Float32Array([4])) }]);
    expect(values(out[0]?.output)).toEqual([4]);
  });

  it('builds from bytes its worker checked against their sha256, shared memory included; a changed byte is HASH_MISMATCH', async () => {
    const shared = new Uint8Array(new SharedArrayBuffer(mlpS.bytes.byteLength));
    shared.set(mlpS.bytes);
    const sha256 = createHash('sha256').update(mlpS.bytes).digest('hex');
    const p = await predictor({ bytes: shared, sha256 });
    expectReference(await p.predict([query(1)]), [1]);
    expect(shared).toEqual(mlpS.bytes); // read, not moved or changed

    // Bytes that do not hash to what they came with never replace the model serving.
    const other = buildOnnxModel('mlp-s', 2).bytes;
    expect((await rejection(p.load({ bytes: other, sha256 }))).code).toBe('HASH_MISMATCH');
    expectReference(await p.predict([query(2)]), [2]);

    // A worker that replaces a crashed one checks the kept bytes again: changed since, they are refused.
    shared[shared.length - 1]! ^= 0xff;
    p[CRASH_NEXT_RUN]();
    expect((await rejection(p.predict([query(3)]))).code).toBe('CRASHED');
    expect((await rejection(p.predict([query(3)]))).code).toBe('HASH_MISMATCH');

    expect((await rejection(OnnxPredictor.create({ bytes: mlpS.bytes, sha256: 'abc' }))).code).toBe(
      'LOAD_FAILED',
    );
  });

  it('fails a batch over runTimeoutMs with TIMEOUT and replaces the worker', async () => {
    const mlpL = buildOnnxModel('mlp-l');
    const p = await predictor(mlpL.bytes, { runTimeoutMs: 20 });
    const batch = Array.from({ length: 512 }, (_, i) => query(i, mlpL));
    expect((await rejection(p.predict(batch))).code).toBe('TIMEOUT');
    expect(p.restarts).toBe(1);
  });

  it('moves batch buffers to the worker and back instead of copying them', async () => {
    let deaths = 0;
    const worker = new OnnxWorker({ clock: systemClock, onDeath: () => deaths++ });
    try {
      await worker.load(buildOnnxModel('noop').bytes, {}, 60_000);
      const input = tensor('float32', [3, 1], new Float32Array([1, 2, 3]));
      const out = await worker.run({ input });
      // Transferred, so detached here; the answer owns a buffer of exactly its own size.
      expect(input.data.byteLength).toBe(0);
      const y = out.output as Tensor;
      expect(Array.from(y.data as Float32Array)).toEqual([1, 2, 3]);
      expect(y.data.buffer.byteLength).toBe(12);
    } finally {
      worker.retire();
      await worker.exited;
    }
    expect(deaths).toBe(0);
  });

  it('validates its configuration', () => {
    expect(() => new OnnxPredictor({ intraOpNumThreads: 0 })).toThrow(ConfigError);
    expect(() => new OnnxPredictor({ graphOptimizationLevel: 'max' as never })).toThrow(
      /graphOptimizationLevel/,
    );
  });
});

afterAll(async () => {
  await Promise.all(open.splice(0).map((p) => p.dispose()));
});
