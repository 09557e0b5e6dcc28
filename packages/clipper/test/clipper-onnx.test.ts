import { type Tensor, tensor } from '@geoml/core';
import { afterEach, describe, expect, it } from 'vitest';
import { buildOnnxModel, referenceMlp, sampleInput } from '../../../test/fixtures/onnx-models.js';
import { Clipper } from '../src/clipper.js';
import type { BatchEvent } from '../src/metrics.js';
import { CRASH_NEXT_RUN, OnnxPredictor } from '../src/onnx-predictor.js';

const mlpS = buildOnnxModel('mlp-s');
let clipper: Clipper | undefined;

afterEach(async () => {
  await clipper?.close();
  clipper = undefined;
});

function query(seed: number): Record<string, Tensor> {
  return { input: tensor('float32', mlpS.inputShape, sampleInput(mlpS, seed)) };
}

function expectReference(output: unknown, seed: number): void {
  const y = (output as Record<string, Tensor>).output!;
  expect(y.shape).toEqual([10]);
  const ref = referenceMlp(mlpS.layers, sampleInput(mlpS, seed));
  for (let j = 0; j < 10; j++) expect(y.data[j]).toBeCloseTo(ref[j]!, 4);
}

describe('Clipper end to end on onnxruntime (wall clock)', () => {
  it('batches concurrent queries across two OnnxPredictor replicas and survives a crashed worker', async () => {
    const batches: BatchEvent[] = [];
    clipper = new Clipper({ metrics: { batch: (e) => batches.push(e) } });
    const replicas = await Promise.all([OnnxPredictor.create(mlpS.bytes), OnnxPredictor.create(mlpS.bytes)]);
    // A generous SLO: this test checks answers and recovery, not speed (the machine is shared).
    clipper.registerApplication({
      name: 'mnist',
      inputType: 'tensor',
      latencySloMs: 10_000,
      defaultOutput: null,
    });
    await clipper.deployModel('mlp-s', '1', replicas, {
      batching: { mode: 'aimd', maxBatchSize: 32 },
      inputType: 'tensor',
      cache: false,
    });
    clipper.linkModel('mnist', 'mlp-s');

    const seeds = Array.from({ length: 64 }, (_, i) => 1000 + i);
    const results = await Promise.all(seeds.map((s) => clipper!.predict('mnist', query(s))));
    results.forEach((r, i) => {
      expect(r.default).toBe(false);
      expectReference(r.output, seeds[i]!);
    });
    expect(batches.every((b) => b.ok)).toBe(true);
    // Concurrent queries were batched, not run one by one.
    expect(batches.length).toBeLessThan(64);

    // Replica 0's worker dies while holding its next batch: the batch is retried on replica 1.
    replicas[0]![CRASH_NEXT_RUN]();
    for (let round = 0; round < 20 && !batches.some((b) => !b.ok); round++) {
      const roundSeeds = Array.from({ length: 8 }, (_, i) => 5000 + round * 8 + i);
      const answers = await Promise.all(roundSeeds.map((s) => clipper!.predict('mnist', query(s))));
      answers.forEach((r, i) => {
        expect(r.default).toBe(false);
        expectReference(r.output, roundSeeds[i]!);
      });
    }
    expect(batches.filter((b) => !b.ok).map((b) => b.replica)).toEqual([0]);
    expect(replicas[0]!.restarts).toBe(1);
    // And the respawned worker serves again.
    const after = await replicas[0]!.predict([query(9)]);
    expectReference(after[0], 9);
  });
});
