import { readdirSync } from 'node:fs';
import { getPriority } from 'node:os';
import { type Tensor, tensor } from '@geoml/core';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { buildOnnxModel, referenceMlp, sampleInput } from '../../../test/fixtures/onnx-models.js';
import { CRASH_NEXT_RUN, OnnxPredictor } from '../src/onnx-predictor.js';
import {
  closeSpareWorkers,
  deferRetirement,
  MAX_LOADS_PER_THREAD,
  prestartWorkers,
  spareWorkers,
  tidyWorkers,
} from '../src/onnx-worker-pool.js';

const mlpS = buildOnnxModel('mlp-s');
const noop = buildOnnxModel('noop');
const open: OnnxPredictor[] = [];
const threads = () => readdirSync('/proc/self/task').length;

async function predictor(bytes: Uint8Array, config = {}): Promise<OnnxPredictor> {
  const p = await OnnxPredictor.create(bytes, config);
  open.push(p);
  return p;
}

const query = (seed: number): Record<string, Tensor> => ({
  input: tensor('float32', mlpS.inputShape, sampleInput(mlpS, seed)),
});

function expectMlpS(out: Record<string, Tensor> | undefined, seed: number): void {
  const ref = referenceMlp(mlpS.layers, sampleInput(mlpS, seed));
  const y = Array.from(out?.output?.data as Float32Array);
  ref.forEach((v, j) => {
    expect(y[j]).toBeCloseTo(v, 4);
  });
}

/** Linux, as root or with CAP_SYS_NICE: a thread's priority can be lowered and raised back. */
const canRenice = process.platform === 'linux' && process.getuid?.() === 0;

afterEach(async () => {
  await Promise.all(open.splice(0).map((p) => p.dispose()));
  await closeSpareWorkers();
});

describe('spare ONNX worker threads', () => {
  it('a disposed predictor gives its thread back, session released, and the next model loads into it', async () => {
    const first = await predictor(mlpS.bytes);
    expectMlpS((await first.predict([query(3)]))[0], 3);
    const { tid } = (await first.workerThread())!;
    await first.dispose();
    expect(spareWorkers()).toBe(1);

    // Another model in the same thread: the old session is gone, the new one answers.
    const second = await predictor(noop.bytes);
    expect(spareWorkers()).toBe(0);
    expect((await second.workerThread())!.tid).toBe(tid);
    const input = tensor('float32', [1], new Float32Array([5]));
    const [answer] = await second.predict([{ input }]);
    expect(Array.from(answer!.output!.data as Float32Array)).toEqual([5]);
    expect(second.inputs.map((s) => s.name)).toEqual(['input']);
  });

  it('keeps one spare per kind and ends the others; a thread that crashed is never reused', async () => {
    const a = await predictor(mlpS.bytes);
    const b = await predictor(mlpS.bytes);
    const tids = [(await a.workerThread())!.tid, (await b.workerThread())!.tid];
    await a.dispose();
    await b.dispose();
    expect(spareWorkers()).toBe(1);
    await closeSpareWorkers();
    expect(spareWorkers()).toBe(0);

    const c = await predictor(mlpS.bytes);
    const crashed = (await c.workerThread())!.tid;
    expect(tids).not.toContain(crashed); // the spares were closed: a new thread
    c[CRASH_NEXT_RUN]('exit');
    await expect(c.predict([query(1)])).rejects.toThrow(/CRASHED|died/);
    expectMlpS((await c.predict([query(1)]))[0], 1); // restarted in a fresh thread
    await c.dispose();
    const d = await predictor(mlpS.bytes);
    expect((await d.workerThread())!.tid).not.toBe(crashed);
  });

  it('prestartWorkers boots a spare ahead of need, which the next predictor takes', async () => {
    prestartWorkers({ background: true });
    prestartWorkers({ background: true }); // at most one spare per kind
    expect(spareWorkers()).toBe(1);
    const p = await predictor(mlpS.bytes);
    expect(spareWorkers()).toBe(0);
    expectMlpS((await p.predict([query(9)]))[0], 9);
    // A predictor of another kind does not take it.
    prestartWorkers({ background: true });
    const q = await predictor(mlpS.bytes, { background: false });
    expect(spareWorkers()).toBe(1);
    expect((await q.workerThread())!.background).toBe(false);
  });

  it('loads and warms up at the lowest priority and serves at normal priority where it can raise it back', async () => {
    const p = await predictor(mlpS.bytes);
    await p.warmUp({ batchSizes: [1, 8] });
    await p.predictInBackground([query(2)]);
    const { tid, background } = (await p.workerThread())!;
    expect(background).toBe(canRenice);
    if (tid !== undefined) expect(getPriority(tid)).toBe(canRenice ? 19 : 0);
    expectMlpS((await p.predict([query(2)]))[0], 2);
    if (tid !== undefined) expect(getPriority(tid)).toBe(0);
    // Given back: in the background again while it waits as a spare.
    await p.dispose();
    expect(spareWorkers()).toBe(1);
    if (tid !== undefined) await vi.waitFor(() => expect(getPriority(tid)).toBe(canRenice ? 19 : 0));
  });

  it('is raised to normal priority by its first predict at once, even while a batch keeps the thread busy', async () => {
    const mlpL = buildOnnxModel('mlp-l');
    const p = await predictor(mlpL.bytes);
    const { tid } = (await p.workerThread())!;
    const row = (seed: number) => ({ input: tensor('float32', mlpL.inputShape, sampleInput(mlpL, seed)) });
    // A long background batch holds the thread inside onnxruntime, where it reads no message.
    const long = p.predictInBackground(Array.from({ length: 1024 }, (_, i) => row(i)));
    const served = p.predict([row(1)]);
    await new Promise((resolve) => setImmediate(resolve));
    if (tid !== undefined) expect(getPriority(tid)).toBe(0);
    expect((await long).length).toBe(1024);
    expect((await served).length).toBe(1);
  });

  it('ends a thread that has created MAX_LOADS_PER_THREAD sessions instead of keeping it', async () => {
    const p = await predictor(mlpS.bytes);
    for (let i = 1; i < MAX_LOADS_PER_THREAD; i++) await p.load(i % 2 ? noop.bytes : mlpS.bytes);
    const { tid } = (await p.workerThread())!;
    await p.dispose();
    expect(spareWorkers()).toBe(0);
    const q = await predictor(mlpS.bytes);
    expect((await q.workerThread())!.tid).not.toBe(tid);
    // One load fewer, and the thread is kept.
    for (let i = 2; i < MAX_LOADS_PER_THREAD; i++) await q.load(mlpS.bytes);
    await q.dispose();
    expect(spareWorkers()).toBe(1);
  });

  it('while a hot-loader tidies, a used-up thread ends only when tidied, and a spare replaces it', async () => {
    const undefer = deferRetirement();
    try {
      const p = await predictor(mlpS.bytes);
      for (let i = 1; i < MAX_LOADS_PER_THREAD; i++) await p.load(i % 2 ? noop.bytes : mlpS.bytes);
      const { tid } = (await p.workerThread())!;
      const before = threads();
      await p.dispose(); // resolves once its session is released; the thread waits, not as a spare
      expect(spareWorkers()).toBe(0);
      expect(threads()).toBe(before);
      const moments: string[] = [];
      await tidyWorkers({ background: true }, async () => void moments.push('idle'));
      expect(moments).toEqual(['idle', 'idle']); // one step per idle moment: end it, then boot a spare
      expect(spareWorkers()).toBe(1);
      const q = await predictor(mlpS.bytes);
      expect((await q.workerThread())!.tid).not.toBe(tid);
      expectMlpS((await q.predict([query(5)]))[0], 5);
    } finally {
      undefer();
    }
  });

  it('ends the used-up threads waiting when the last hot-loader stops tidying', async () => {
    const undefer = deferRetirement();
    const p = await predictor(mlpS.bytes);
    for (let i = 1; i < MAX_LOADS_PER_THREAD; i++) await p.load(mlpS.bytes);
    await p.dispose();
    const waiting = threads();
    undefer();
    undefer(); // idempotent
    await vi.waitFor(() => expect(threads()).toBeLessThan(waiting));
    expect(spareWorkers()).toBe(0);
  });

  it('with reuseWorkers false, a predictor starts and ends its own thread', async () => {
    const p = await predictor(mlpS.bytes, { reuseWorkers: false });
    expectMlpS((await p.predict([query(4)]))[0], 4);
    await p.dispose();
    expect(spareWorkers()).toBe(0);
  });
});
