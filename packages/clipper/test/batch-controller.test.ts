import { createRng, VirtualClock } from '@geoml/core';
import { describe, expect, it } from 'vitest';
import { AimdController } from '../src/aimd.js';
import {
  type BatchController,
  createBatchController,
  StaticBatchController,
} from '../src/batch-controller.js';
import { DelayedBatchingController } from '../src/delayed-batching.js';
import { fitQuantileLine, QuantileRegressionController } from '../src/quantile-regression.js';
import { SyntheticReplica } from './synthetic-replica.js';

/** Runs `batches` full batches on the replica in virtual time, feeding each latency back; returns sizes. */
async function drive(
  clock: VirtualClock,
  controller: BatchController,
  replica: SyntheticReplica,
  budgetMs: number,
  batches: number,
): Promise<{ sizes: number[]; latencies: number[] }> {
  const sizes: number[] = [];
  const latencies: number[] = [];
  await clock.run(async () => {
    for (let i = 0; i < batches; i++) {
      const size = controller.batchSize(budgetMs);
      const start = clock.now();
      await replica.predict(new Array(size).fill(0));
      const latencyMs = clock.now() - start;
      controller.observe({ size, cap: size, latencyMs, budgetMs });
      sizes.push(size);
      latencies.push(latencyMs);
    }
  });
  return { sizes, latencies };
}

const mean = (xs: readonly number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;

describe('AIMD batch controller', () => {
  it('converges near the largest batch that fits the budget, and backs off on a latency step change', async () => {
    const clock = new VirtualClock();
    // 2 ms + 0.5 ms per query (+ up to ~1 ms noise): the largest batch within 20 ms is 36 without noise.
    const replica = new SyntheticReplica(clock, { a: 2, b: 0.5, noise: 0.4, seed: 3 });
    const aimd = new AimdController({ maxBatchSize: 1000 });
    const before = await drive(clock, aimd, replica, 20, 400);
    const settled = before.sizes.slice(-150);
    expect(Math.max(...settled)).toBeLessThanOrEqual(37);
    expect(Math.min(...settled)).toBeGreaterThanOrEqual(Math.floor(0.9 * 30));
    expect(mean(settled)).toBeGreaterThan(0.85 * 36);

    // The model becomes twice as slow per query: the best size halves to ~18.
    replica.b = 1;
    const after = await drive(clock, aimd, replica, 20, 300);
    // Multiplicative decrease reaches the new optimum within a handful of batches, not tens.
    const firstFit = after.latencies.findIndex((l) => l <= 20);
    expect(firstFit).toBeGreaterThan(0);
    expect(firstFit).toBeLessThanOrEqual(8);
    const resettled = after.sizes.slice(-150);
    expect(Math.max(...resettled)).toBeLessThanOrEqual(19);
    expect(mean(resettled)).toBeGreaterThan(0.85 * 18);
  });

  it('with slow start, reaches a large best size in a logarithmic number of batches', async () => {
    const clock = new VirtualClock();
    // 1 ms + 0.01 ms per query: up to 1900 queries fit 20 ms.
    const replica = new SyntheticReplica(clock, { a: 1, b: 0.01 });
    const fast = new AimdController({ maxBatchSize: 4096, slowStart: true });
    const slow = new AimdController({ maxBatchSize: 4096 });
    const { sizes } = await drive(clock, fast, replica, 20, 40);
    await drive(clock, slow, replica, 20, 40);
    // Doubling: 1, 2, 4, ..., 1024 fit; 2048 misses and falls back to 1024, then grows by one.
    expect(sizes.slice(0, 13)).toEqual([1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 1024]);
    expect(sizes.at(-1)).toBe(1024 + 27);
    expect(slow.current).toBe(41);
  });

  it('backs off by 10% on a miss and grows only after full batches', () => {
    const aimd = new AimdController({ maxBatchSize: 64, initialBatchSize: 40, additiveIncrease: 2 });
    aimd.observe({ size: 40, cap: 40, latencyMs: 25, budgetMs: 20 });
    expect(aimd.current).toBe(36);
    // A short batch (queue ran dry) that fit says nothing about larger ones.
    aimd.observe({ size: 10, cap: 36, latencyMs: 5, budgetMs: 20 });
    expect(aimd.current).toBe(36);
    aimd.observe({ size: 36, cap: 36, latencyMs: 15, budgetMs: 20 });
    expect(aimd.current).toBe(38);
    for (let i = 0; i < 100; i++) aimd.observe({ size: 64, cap: 64, latencyMs: 1, budgetMs: 20 });
    expect(aimd.current).toBe(64);
    for (let i = 0; i < 100; i++) aimd.observe({ size: 1, cap: 1, latencyMs: 30, budgetMs: 20 });
    expect(aimd.current).toBe(1);
  });
});

describe('quantile-regression batch controller', () => {
  it('fits the p99 latency line of noisy samples', () => {
    const rng = createRng(11);
    const xs: number[] = [];
    const ys: number[] = [];
    for (let i = 0; i < 2000; i++) {
      const x = 1 + rng.int(64);
      xs.push(x);
      ys.push(3 + 0.25 * x + rng.next()); // uniform noise on [0, 1): p99 line is 3.99 + 0.25x
    }
    const p99 = fitQuantileLine({ xs, ys }, 0.99);
    expect(p99.slope).toBeCloseTo(0.25, 2);
    expect(p99.intercept).toBeCloseTo(3.99, 1);
    const p50 = fitQuantileLine({ xs, ys }, 0.5);
    expect(p50.intercept).toBeCloseTo(3.5, 1);
    // All samples at one size: a flat line at the quantile.
    expect(fitQuantileLine({ xs: [4, 4, 4, 4], ys: [1, 2, 3, 4] }, 0.5)).toEqual({ intercept: 2, slope: 0 });
  });

  it('picks the largest size whose predicted p99 fits the budget', async () => {
    const clock = new VirtualClock();
    // Half-normal noise of scale 0.4: p99 ≈ 2.576 · 0.4 ≈ 1.03 ms, so p99(n) ≈ 3.03 + 0.5n.
    const replica = new SyntheticReplica(clock, { a: 2, b: 0.5, noise: 0.4, seed: 5 });
    const qr = new QuantileRegressionController({ maxBatchSize: 1000 });
    const { sizes, latencies } = await drive(clock, qr, replica, 20, 400);
    // Largest n with 3.03 + 0.5n ≤ 20 is 33.
    expect(sizes.at(-1)).toBeGreaterThanOrEqual(32);
    expect(sizes.at(-1)).toBeLessThanOrEqual(34);
    // Unlike AIMD's sawtooth, it holds that size: the last 200 batches nearly all fit.
    const misses = latencies.slice(-200).filter((l) => l > 20).length;
    expect(misses).toBeLessThanOrEqual(6);
    // The same fit answers other budgets: 10 ms → (10 − 3.03) / 0.5 ≈ 13.
    expect(qr.batchSize(10)).toBeGreaterThanOrEqual(12);
    expect(qr.batchSize(10)).toBeLessThanOrEqual(14);
    // A budget below the fixed cost still allows one query.
    expect(qr.batchSize(1)).toBe(1);
  });
});

describe('delayed batching and static controllers', () => {
  it('asks to wait only while the batch is short, never past its bound from the oldest arrival', () => {
    const delayed = new DelayedBatchingController(new StaticBatchController(8), 5);
    expect(delayed.batchSize(100)).toBe(8);
    expect(delayed.delayMs(8, 8, 0)).toBe(0);
    expect(delayed.delayMs(3, 8, 0)).toBe(5);
    expect(delayed.delayMs(3, 8, 2)).toBe(3);
    expect(delayed.delayMs(3, 8, 7)).toBe(0);
  });

  it('builds the configured controller per mode', () => {
    expect(createBatchController({ mode: 'static', batchSize: 4 }).batchSize(1)).toBe(4);
    const aimd = createBatchController({
      mode: 'aimd',
      maxBatchSize: 16,
      initialBatchSize: 2,
      additiveIncrease: 1,
      backoffFactor: 0.9,
      slowStart: true,
    });
    expect(aimd.mode).toBe('aimd');
    expect(aimd.current).toBe(2);
    const delayed = createBatchController({
      mode: 'delayed',
      maxBatchSize: 16,
      maxDelayMs: 3,
      sizing: 'aimd',
    });
    expect(delayed.mode).toBe('delayed');
    expect(delayed.batchSize(100)).toBe(1);
    expect(delayed.delayMs(1, 1, 0)).toBe(0);
  });
});
