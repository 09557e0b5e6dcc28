import { createRng, VirtualClock } from '@geoml/core';
import { describe, expect, it } from 'vitest';
import { Clipper } from '../src/clipper.js';
import type { BatchingInput } from '../src/config.js';
import type { PredictionResult } from '../src/query.js';
import { SyntheticReplica } from './synthetic-replica.js';

/**
 * Open-loop Poisson load in virtual time: `count` queries at `perMs` queries per ms against replicas whose
 * batch of n takes 2 + 0.1·n ms (+ noise), under a 20 ms SLO. Returns every answer and the replicas.
 */
async function openLoop(
  batching: BatchingInput,
  options: { replicas?: number; perMs: number; count: number },
) {
  const clock = new VirtualClock();
  const clipper = new Clipper({ clock });
  const replicas = Array.from(
    { length: options.replicas ?? 1 },
    (_, i) => new SyntheticReplica<number, number>(clock, { a: 2, b: 0.1, noise: 0.2, seed: 10 + i }),
  );
  const rng = createRng(99);
  const results = await clock.run(async () => {
    clipper.registerApplication({ name: 'app', inputType: 'json', latencySloMs: 20, defaultOutput: -1 });
    await clipper.deployModel('m', '1', replicas, { batching, cache: false });
    clipper.linkModel('app', 'm');
    const answers: Promise<PredictionResult>[] = [];
    for (let i = 0; i < options.count; i++) {
      await clock.sleep(-Math.log(1 - rng.next()) / options.perMs);
      answers.push(clipper.predict('app', i));
    }
    const all = await Promise.all(answers);
    await clipper.close();
    return all;
  });
  return { results, replicas };
}

/** Share of the second half's queries answered by the model within the SLO (the first half is warm-up). */
function attainment(results: readonly PredictionResult[]): number {
  const steady = results.slice(results.length / 2);
  return steady.filter((r) => !r.default).length / steady.length;
}

describe('scheduler under open-loop load (virtual time)', () => {
  // 2 queries per ms: without batching one replica manages 1 / 2.1 ms ≈ 0.48 per ms, a fourfold overload.
  const load = { perMs: 2, count: 4000 };

  it('adaptive batching meets the SLO where no batching cannot', async () => {
    const none = await openLoop({ mode: 'static', batchSize: 1 }, load);
    const aimd = await openLoop({ mode: 'aimd' }, load);
    const quantile = await openLoop({ mode: 'quantile' }, load);
    expect(attainment(none.results)).toBeLessThan(0.5);
    expect(attainment(aimd.results)).toBeGreaterThanOrEqual(0.99);
    expect(attainment(quantile.results)).toBeGreaterThanOrEqual(0.99);
    // Batches grew to absorb the load (≥ 2 queries/ms × ≥ 2 ms per batch).
    const sizes = aimd.replicas[0]!.batches.slice(-100).map((b) => b.inputs.length);
    expect(Math.max(...sizes)).toBeGreaterThanOrEqual(4);
  });

  it('under overload, admission control keeps goodput near capacity and answers refusals at once', async () => {
    const { results, replicas } = await openLoop({ mode: 'static', batchSize: 1 }, load);
    const elapsedMs = replicas[0]!.batches.at(-1)!.start;
    const served = results.filter((r) => !r.default).length;
    // Capacity is one query per ~2.1 ms; refusing early keeps the replica busy with queries that can make it.
    expect(served).toBeGreaterThan(0.85 * (elapsedMs / 2.2));
    const refused = results.filter((r) => r.defaultReason === 'admission');
    expect(refused.length).toBeGreaterThan(results.length / 2);
    expect(refused.every((r) => r.latencyMs === 0)).toBe(true);
    // Admitted queries do not die waiting: the replica's work is not wasted on answers nobody receives.
    const missed = results.filter((r) => r.defaultReason === 'slo' || r.defaultReason === 'expired');
    expect(missed.length).toBeLessThan(0.01 * results.length);
  });

  it('replicas pull from one queue, sharing the load', async () => {
    // 1.5 queries per ms: more than one replica can serve unbatched, within what four can.
    const { results, replicas } = await openLoop(
      { mode: 'static', batchSize: 1 },
      { perMs: 1.5, count: 2000, replicas: 4 },
    );
    expect(attainment(results)).toBeGreaterThanOrEqual(0.99);
    for (const r of replicas) expect(r.batches.length).toBeGreaterThan(0.2 * 2000);
  });

  it('delayed batching with AIMD sizing also meets the SLO', async () => {
    const delayed = await openLoop(
      { mode: 'delayed', maxBatchSize: 64, maxDelayMs: 2, sizing: 'aimd' },
      load,
    );
    expect(attainment(delayed.results)).toBeGreaterThanOrEqual(0.99);
  });
});
