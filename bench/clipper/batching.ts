/**
 * E2 (closed-loop concurrency sweep over batching modes), E3 (open-loop Poisson and bursty load: SLO
 * attainment against offered load) and E4 (batch-wait sweep of delayed batching), all in process: the
 * load generator calls `clipper.predict` on the main thread, the model runs in the replica's worker.
 */
import { type BatchEvent, type BatchingInput, Clipper, type ServingMetrics } from '@geoml/clipper';
import type { Tensor } from '@geoml/core';
import { buildOnnxModel, type OnnxModelName, sampleInput } from '../../test/fixtures/onnx-models.js';
import { median } from '../lib/timing.js';
import { BATCHING_MODES, deployApp, queryOf, SLO_MS } from './deploy.js';
import { type Arrivals, closedLoop, type LoadStats, openLoop, type Send } from './load.js';

/** Counts executed batches per model, so a run can report its mean batch size. */
export class BatchCounter implements ServingMetrics {
  private readonly sums = new Map<string, { batches: number; items: number }>();

  batch(e: BatchEvent): void {
    const s = this.sums.get(e.model) ?? { batches: 0, items: 0 };
    s.batches++;
    s.items += e.size;
    this.sums.set(e.model, s);
  }

  /** Batches and items executed for `model` since the last take (then resets it). */
  take(model: string): { batches: number; items: number; meanBatch: number } {
    const s = this.sums.get(model) ?? { batches: 0, items: 0 };
    this.sums.delete(model);
    return { ...s, meanBatch: s.batches > 0 ? s.items / s.batches : 0 };
  }
}

export type RunStats = LoadStats & { meanBatch: number };

/** A Clipper serving one model under several configurations, one application per label. */
export class Bench {
  readonly counter = new BatchCounter();
  readonly clipper = new Clipper({ metrics: this.counter });
  private readonly inputs: Record<string, Tensor>[];
  private next = 0;

  constructor(readonly modelName: OnnxModelName) {
    const model = buildOnnxModel(modelName);
    this.inputs = Array.from({ length: 64 }, (_, i) => queryOf(model, sampleInput(model, i + 1)));
  }

  async deploy(label: string, batching: BatchingInput, opts: { cache?: boolean } = {}): Promise<void> {
    await deployApp(this.clipper, label, buildOnnxModel(this.modelName), batching, opts);
  }

  sender(label: string): Send {
    return async () => {
      const input = this.inputs[this.next++ % this.inputs.length]!;
      return !(await this.clipper.predict(label, input)).default;
    };
  }

  async closed(label: string, opts: Parameters<typeof closedLoop>[1]): Promise<RunStats> {
    this.counter.take(label);
    const stats = await closedLoop(this.sender(label), opts);
    return { ...stats, meanBatch: this.counter.take(label).meanBatch };
  }

  async open(label: string, opts: Parameters<typeof openLoop>[1]): Promise<RunStats> {
    this.counter.take(label);
    const stats = await openLoop(this.sender(label), opts);
    return { ...stats, meanBatch: this.counter.take(label).meanBatch };
  }

  close(): Promise<void> {
    return this.clipper.close();
  }
}

/** The median run of several (by throughput), so one descheduled run does not decide a point. */
function medianRun(runs: RunStats[]): RunStats {
  const sorted = [...runs].sort((a, b) => a.throughput - b.throughput);
  const mid = sorted[(sorted.length - 1) >> 1]!;
  return {
    ...mid,
    p99Ms: median(runs.map((r) => r.p99Ms)),
    sloAttainment: median(runs.map((r) => r.sloAttainment)),
  };
}

export interface SweepPoint extends RunStats {
  mode: string;
  concurrency: number;
}

export interface E2Result {
  model: OnnxModelName;
  points: SweepPoint[];
  /** Per mode: the highest throughput among the concurrencies where ≥ 99% of queries met the SLO. */
  bestAtSlo: Record<string, { throughput: number; concurrency: number } | null>;
  /** Per mode: the highest throughput at any concurrency. */
  maxThroughput: Record<string, number>;
}

/**
 * Closed-loop sweep: for each concurrency, every mode in turn (the order rotating each repetition, so
 * machine noise hits all modes alike), `reps` runs each; a point is the median run.
 */
export async function concurrencySweep(
  modelName: OnnxModelName,
  opts: { concurrency: number[]; reps: number; warmupMs: number; durationMs: number },
  tick: (note: string) => void,
): Promise<E2Result> {
  const bench = new Bench(modelName);
  const modes = Object.keys(BATCHING_MODES);
  try {
    for (const mode of modes) await bench.deploy(mode, BATCHING_MODES[mode]!);
    const points: SweepPoint[] = [];
    for (const concurrency of opts.concurrency) {
      const runs = new Map<string, RunStats[]>(modes.map((m) => [m, []]));
      for (let rep = 0; rep < opts.reps; rep++) {
        for (let k = 0; k < modes.length; k++) {
          const mode = modes[(k + rep) % modes.length]!;
          const run = await bench.closed(mode, {
            concurrency,
            warmupMs: opts.warmupMs,
            durationMs: opts.durationMs,
            sloMs: SLO_MS,
            maxRequests: 500_000,
          });
          runs.get(mode)!.push(run);
        }
      }
      for (const mode of modes) points.push({ mode, concurrency, ...medianRun(runs.get(mode)!) });
      tick(`E2 ${modelName} c=${concurrency}`);
    }
    const bestAtSlo: E2Result['bestAtSlo'] = {};
    const maxThroughput: Record<string, number> = {};
    for (const mode of modes) {
      const mine = points.filter((p) => p.mode === mode);
      maxThroughput[mode] = Math.max(...mine.map((p) => p.throughput));
      const ok = mine.filter((p) => p.sloAttainment >= 0.99);
      const best = ok.reduce<SweepPoint | undefined>(
        (a, p) => (!a || p.throughput > a.throughput ? p : a),
        undefined,
      );
      bestAtSlo[mode] = best ? { throughput: best.throughput, concurrency: best.concurrency } : null;
    }
    return { model: modelName, points, bestAtSlo, maxThroughput };
  } finally {
    await bench.close();
  }
}

export interface LoadPoint extends RunStats {
  mode: string;
  arrivals: Arrivals['kind'];
  /** Offered load as a fraction of the reference capacity. */
  load: number;
  offeredQps: number;
}

/**
 * Open-loop sweep: Poisson (and bursty: 4× the mean rate for 20% of each second) arrivals at `loads` ×
 * `capacity` queries/s, for each mode; latency counted from the scheduled send time.
 */
export async function openLoopSweep(
  modelName: OnnxModelName,
  modes: string[],
  capacity: number,
  opts: { loads: number[]; burstyLoads: number[]; warmupMs: number; durationMs: number },
  tick: (note: string) => void,
): Promise<LoadPoint[]> {
  const bench = new Bench(modelName);
  const points: LoadPoint[] = [];
  try {
    for (const mode of modes) await bench.deploy(mode, BATCHING_MODES[mode]!);
    const plan: { kind: Arrivals['kind']; load: number }[] = [
      ...opts.loads.map((load) => ({ kind: 'poisson' as const, load })),
      ...opts.burstyLoads.map((load) => ({ kind: 'bursty' as const, load })),
    ];
    let seed = 1;
    for (const { kind, load } of plan) {
      const rate = capacity * load;
      const arrivals: Arrivals =
        kind === 'poisson' ? { kind, rate } : { kind, rate, burstFactor: 4, periodMs: 1000, burstShare: 0.2 };
      seed++;
      for (let k = 0; k < modes.length; k++) {
        const mode = modes[(k + seed) % modes.length]!;
        const run = await bench.open(mode, {
          arrivals,
          warmupMs: opts.warmupMs,
          durationMs: opts.durationMs,
          sloMs: SLO_MS,
          seed,
        });
        points.push({ mode, arrivals: kind, load, offeredQps: rate, ...run });
      }
      tick(`E3 ${modelName} ${kind} ${(load * 100).toFixed(0)}%`);
    }
    return points;
  } finally {
    await bench.close();
  }
}

export interface WaitPoint extends RunStats {
  model: OnnxModelName;
  maxDelayMs: number;
  offeredQps: number;
}

/** E4: delayed batching (max batch 32) at a fixed Poisson rate, for each batch wait timeout. */
export async function batchWaitSweep(
  modelName: OnnxModelName,
  rate: number,
  opts: { waitsMs: number[]; warmupMs: number; durationMs: number },
  tick: (note: string) => void,
): Promise<WaitPoint[]> {
  const bench = new Bench(modelName);
  const points: WaitPoint[] = [];
  try {
    for (const w of opts.waitsMs)
      await bench.deploy(`wait-${w}`, { mode: 'delayed', maxBatchSize: 32, maxDelayMs: w });
    for (const [i, w] of opts.waitsMs.entries()) {
      const run = await bench.open(`wait-${w}`, {
        arrivals: { kind: 'poisson', rate },
        warmupMs: opts.warmupMs,
        durationMs: opts.durationMs,
        sloMs: SLO_MS,
        seed: 100 + i,
      });
      points.push({ model: modelName, maxDelayMs: w, offeredQps: rate, ...run });
    }
    tick(`E4 ${modelName}`);
    return points;
  } finally {
    await bench.close();
  }
}
