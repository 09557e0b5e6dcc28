import { AimdController } from './aimd.js';
import type { BatchingConfig, BatchingMode } from './config.js';
import { DelayedBatchingController } from './delayed-batching.js';
import { QuantileRegressionController } from './quantile-regression.js';

/** One executed batch, as its replica's controller learns from it. */
export interface BatchSample {
  /** Queries in the batch. */
  readonly size: number;
  /** The size the controller allowed (a batch smaller than its cap means the queue ran short). */
  readonly cap: number;
  /** Measured time from sending the batch to its outputs. */
  readonly latencyMs: number;
  /** The latency the batch was allowed when it was formed. */
  readonly budgetMs: number;
}

/**
 * Sizes the batches of one replica (Clipper's adaptive batching). The scheduler asks `batchSize` with the
 * budget left to the earliest queued deadline, optionally waits `delayMs` for a fuller batch, runs it, and
 * reports the measured latency to `observe`. Controllers are plain state machines: no clock, no I/O, so
 * they are tested by feeding them measurements taken in virtual time.
 */
export interface BatchController {
  readonly mode: BatchingMode;
  /** Upper bound on any batch. */
  readonly maxBatchSize: number;
  /** The size the controller currently allows, for admission-control estimates and metrics. */
  readonly current: number;
  /** Largest batch to form now, given `budgetMs` for its execution. At least 1. */
  batchSize(budgetMs: number): number;
  /**
   * How much longer to wait for a fuller batch when only `queued` queries wait for a batch of `size`,
   * the oldest of which has waited `waitedMs`; 0 dispatches now.
   */
  delayMs(queued: number, size: number, waitedMs: number): number;
  observe(sample: BatchSample): void;
}

/** A fixed batch size: Triton/TF Serving's `max_batch_size` without a queue delay. */
export class StaticBatchController implements BatchController {
  readonly mode = 'static' as const;

  constructor(readonly maxBatchSize: number) {}

  get current(): number {
    return this.maxBatchSize;
  }

  batchSize(): number {
    return this.maxBatchSize;
  }

  delayMs(): number {
    return 0;
  }

  observe(): void {}
}

/** A fresh controller for one replica, from the model's batching config. */
export function createBatchController(config: BatchingConfig): BatchController {
  switch (config.mode) {
    case 'static':
      return new StaticBatchController(config.batchSize);
    case 'aimd':
      return new AimdController(config);
    case 'quantile':
      return new QuantileRegressionController(config);
    case 'delayed': {
      const inner =
        config.sizing === 'aimd'
          ? new AimdController({ maxBatchSize: config.maxBatchSize, slowStart: true })
          : new StaticBatchController(config.maxBatchSize);
      return new DelayedBatchingController(inner, config.maxDelayMs);
    }
  }
}
