/**
 * E5: the prediction cache. Zipf-distributed queries over a fixed set of inputs, cache on against cache
 * off (interleaved); the latency of the hit path alone; and coalescing: 100 identical concurrent queries
 * must run the model once.
 */
import type { Tensor } from '@geoml/core';
import { buildOnnxModel, type OnnxModelName, sampleInput } from '../../test/fixtures/onnx-models.js';
import { median } from '../lib/timing.js';
import { Bench, type RunStats } from './batching.js';
import { BATCHING_MODES, queryOf, SLO_MS } from './deploy.js';
import { closedLoop, Recorder, zipf } from './load.js';

export interface E5Result {
  model: OnnxModelName;
  distinctInputs: number;
  zipfS: number;
  concurrency: number;
  /** Share of cached-app queries answered from the cache (hits and joins of a running execution). */
  hitRate: number;
  cacheOn: RunStats;
  cacheOff: RunStats;
  throughputOnVsOff: number;
  /** `predict` latency of a query whose output is cached, one at a time (µs). */
  cacheHitP50Us: number;
  cacheHitP99Us: number;
  cacheHitCalls: number;
  /** Model executions (items run) for 100 identical concurrent queries of a fresh input. */
  coalescedExecutions: number;
  /** How many of the 100 got the model's output (the rest the default: the shared execution ran late). */
  coalescedModelAnswers: number;
}

export async function cacheExperiment(
  modelName: OnnxModelName,
  opts: {
    distinct: number;
    s: number;
    concurrency: number;
    reps: number;
    warmupMs: number;
    durationMs: number;
    hitCalls: number;
  },
  tick: (note: string) => void,
): Promise<E5Result> {
  const model = buildOnnxModel(modelName);
  const bench = new Bench(modelName);
  try {
    await bench.deploy('off', BATCHING_MODES.aimd!);
    await bench.deploy('on', BATCHING_MODES.aimd!, { cache: true });
    const inputs: Record<string, Tensor>[] = Array.from({ length: opts.distinct }, (_, i) =>
      queryOf(model, sampleInput(model, 10_000 + i)),
    );
    const pick = zipf(opts.distinct, opts.s, 7);
    let cachedAnswers = 0;
    let answers = 0;
    const send = (app: string) => async () => {
      const r = await bench.clipper.predict(app, inputs[pick()]!);
      if (app === 'on') {
        answers++;
        if (r.cached) cachedAnswers++;
      }
      return !r.default;
    };
    const on: RunStats[] = [];
    const off: RunStats[] = [];
    const loop = {
      concurrency: opts.concurrency,
      warmupMs: opts.warmupMs,
      durationMs: opts.durationMs,
      sloMs: SLO_MS,
    };
    for (let rep = 0; rep < opts.reps; rep++) {
      for (const app of rep % 2 === 0 ? ['on', 'off'] : ['off', 'on']) {
        bench.counter.take(app);
        const stats = await closedLoop(send(app), loop);
        (app === 'on' ? on : off).push({ ...stats, meanBatch: bench.counter.take(app).meanBatch });
      }
    }
    tick('E5 zipf');

    // Hit path: one warm key, one query at a time.
    const warm = queryOf(model, sampleInput(model, 1));
    await bench.clipper.predict('on', warm);
    const rec = new Recorder(SLO_MS);
    for (let i = 0; i < opts.hitCalls; i++) {
      const t0 = performance.now();
      const r = await bench.clipper.predict('on', warm);
      const ms = performance.now() - t0;
      if (r.cached !== 'hit') throw new Error('the warm key missed the cache');
      rec.record(ms, true);
    }
    const cacheHitP50Us = rec.percentileUs(50);
    const cacheHitP99Us = rec.percentileUs(99);
    rec.destroy();

    // Coalescing: 100 identical queries of an input never seen, all at once.
    const fresh = queryOf(model, sampleInput(model, 999_999));
    bench.counter.take('on');
    const results = await Promise.all(Array.from({ length: 100 }, () => bench.clipper.predict('on', fresh)));
    const coalescedExecutions = bench.counter.take('on').items;
    tick('E5 hit path and coalescing');

    const cacheOn = pickMedian(on);
    const cacheOff = pickMedian(off);
    return {
      model: modelName,
      distinctInputs: opts.distinct,
      zipfS: opts.s,
      concurrency: opts.concurrency,
      hitRate: answers > 0 ? cachedAnswers / answers : 0,
      cacheOn,
      cacheOff,
      throughputOnVsOff: median(on.map((r, i) => r.throughput / off[i]!.throughput)),
      cacheHitP50Us,
      cacheHitP99Us,
      cacheHitCalls: opts.hitCalls,
      coalescedExecutions,
      coalescedModelAnswers: results.filter((r) => !r.default).length,
    };
  } finally {
    await bench.close();
  }
}

function pickMedian(runs: RunStats[]): RunStats {
  const sorted = [...runs].sort((a, b) => a.throughput - b.throughput);
  return sorted[(sorted.length - 1) >> 1]!;
}
