import { cpus } from 'node:os';
import { createRng } from '@geoml/core';
import type { Workload } from './workload.js';

/**
 * Compute time charged to the clock for one worker step in virtual time: measured once on this machine
 * (`calibrate`) and recorded with the results, never scaled, so the compute-to-communication ratio of an
 * emulated run is the real one.
 */
export interface CostModelSpec {
  /** Milliseconds one `computeUpdate` took on a batch of `batchSize` items. */
  readonly stepMs: number;
  readonly batchSize: number;
  /** Where and how it was measured (for the results file). */
  readonly measuredOn?: string;
  readonly samples?: number;
  /**
   * What the timing counted: `cpu` = this process's user + system CPU time (not inflated when a shared
   * machine deschedules us), `wall` = elapsed time.
   */
  readonly clock?: CalibrationClock;
}

export type CalibrationClock = 'cpu' | 'wall';

export class CostModel {
  constructor(readonly spec: CostModelSpec) {
    if (!(spec.stepMs >= 0) || !(spec.batchSize > 0)) {
      throw new RangeError(`cost model needs stepMs >= 0 and batchSize > 0, got ${JSON.stringify(spec)}`);
    }
  }

  /** Modelled milliseconds of one step on `batchSize` items: linear in the batch. */
  stepMs(batchSize: number): number {
    return (this.spec.stepMs * batchSize) / this.spec.batchSize;
  }
}

export interface CalibrateOptions {
  /** Timed steps after warm-up; the median is kept. Default 15. */
  readonly steps?: number;
  readonly warmup?: number;
  readonly seed?: number;
  /** Default `cpu` (see `CostModelSpec.clock`); `wall` where a step waits on other processes. */
  readonly clock?: CalibrationClock;
}

/** Milliseconds on `clock`: process CPU time counts every thread of ours (GC, wasm, worker threads) only
 * while it runs, so time spent descheduled by other load does not enter the cost model. */
function reading(clock: CalibrationClock): () => number {
  if (clock === 'wall') return () => performance.now();
  return () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000;
  };
}

/**
 * Times the workload's `computeUpdate` on real batches (process CPU time by default, median of `steps`)
 * and returns the cost model to record and reuse. Runs on the calling thread; takes about `steps` real
 * steps.
 */
export async function calibrate(workload: Workload, options: CalibrateOptions = {}): Promise<CostModelSpec> {
  const steps = options.steps ?? 15;
  const warmup = options.warmup ?? 3;
  const rng = createRng(options.seed ?? 1);
  const params = workload.model.init(rng.fork('init'));
  const shard = workload.shards(1, 1, 'iid')[0]?.[0];
  if (!shard) throw new RangeError('workload has no data to calibrate on');
  const clock = options.clock ?? 'cpu';
  const now = reading(clock);
  const times: number[] = [];
  for (let i = 0; i < warmup + steps; i++) {
    const batch = shard.nextBatch(rng);
    const t0 = now();
    await workload.model.computeUpdate(params, batch);
    if (i >= warmup) times.push(now() - t0);
  }
  times.sort((a, b) => a - b);
  const median = times[Math.floor(times.length / 2)] as number;
  return {
    stepMs: median,
    batchSize: workload.batchSize,
    measuredOn: `${cpus()[0]?.model ?? 'unknown cpu'} x${cpus().length}, node ${process.version}, ${clock === 'cpu' ? 'process CPU time' : 'wall time'}`,
    samples: steps,
    clock,
  };
}
