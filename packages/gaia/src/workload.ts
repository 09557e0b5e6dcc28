import { GeomlError, type Model, type Rng } from '@geoml/core';

/**
 * How a workload's training data are dealt to regions: `iid` shuffles items uniformly; `skewed` gives
 * each region a different slice of the data (item-popularity slices for MF, a few digit classes for
 * MNIST, mail groups for LDA), as data gathered in different places would be.
 */
export type DataSplit = 'iid' | 'skewed';

/**
 * One worker's part of the training data. Shards of one `Workload.shards()` call are disjoint and
 * together hold every training item exactly once.
 */
export interface DataShard<Batch> {
  /** Region index (0-based) this shard belongs to. */
  readonly region: number;
  /** Worker index inside its region (0-based). */
  readonly worker: number;
  /** Number of training items in this shard. */
  readonly size: number;
  /** Indexes of this shard's items in the workload's training set (ascending). */
  readonly items: Uint32Array;
  /**
   * The next batch: items are visited without replacement in epochs, each epoch shuffled by `rng`,
   * so the same `rng` sequence gives the same batches. Workloads with local state (LDA's token-topic
   * assignments) keep it in the shard: one worker calls a shard at a time, and the batch must be passed
   * to `computeUpdate` before the next batch of the same shard is drawn.
   */
  nextBatch(rng: Rng): Batch;
  /**
   * The shard's local state, for a checkpoint: its place in the epoch, its step count, and what the
   * workload keeps beside the data (LDA's token–topic assignments, which must be saved with the
   * parameters or a resumed run would count every token twice). Optional for hand-written shards.
   */
  saveState?(): Uint8Array;
  /**
   * Restores `saveState()`'s bytes into a fresh shard of the same workload, layout and split;
   * `WorkloadError` `INVALID_ARGUMENT` when they do not fit.
   */
  restoreState?(state: Uint8Array): void;
}

/** Static facts about a workload, for cost models, reports and benchmark sizing. */
export interface WorkloadDescription {
  readonly name: string;
  /** Number of parameters (float32 scalars) in the model. */
  readonly params: number;
  /** Number of training items (ratings, digits, documents). */
  readonly trainItems: number;
  /** Number of held-out items used by `evaluate`. */
  readonly testItems: number;
  /** Name of the metric `evaluate` returns, e.g. `rmse`. */
  readonly metric: string;
  readonly higherIsBetter: boolean;
  /**
   * `sparse`: an update touches only the parameters of the items in the batch (most entries zero);
   * `dense`: every parameter changes on every step.
   */
  readonly updates: 'sparse' | 'dense';
}

/**
 * A trainable workload as the Gaia engine sees it: a core `Model` (every parameter tensor is float32;
 * `computeUpdate` returns a dense float32 `TensorMap` with the same names and shapes, to be added to the
 * parameters) and its training data, split among regions and workers.
 */
export interface Workload<Batch = unknown> {
  readonly model: Model<Batch>;
  /**
   * Splits the training data among `regions` regions × `workersPerRegion` workers:
   * `result[region][worker]`. Deterministic given the workload's seed and the arguments. Within a region
   * items are dealt IID among its workers; `split` decides how regions differ. Each call returns fresh
   * shards (fresh local state), so call it once per training run.
   */
  shards(regions: number, workersPerRegion: number, split: DataSplit): DataShard<Batch>[][];
  /** Items per batch (what one `computeUpdate` processes), for the virtual-time cost model. */
  readonly batchSize: number;
  readonly describe: WorkloadDescription;
  /** Releases backend resources (tfjs memory); the workload is unusable afterwards. */
  dispose(): void;
}

/**
 * Bad workload options or arguments, a data set that cannot be loaded, or (`DIVERGED`) a training step
 * that diverged on the parameters it was given (the engine reports it as `GaiaError` `DIVERGED`).
 */
export class WorkloadError extends GeomlError<
  'INVALID_ARGUMENT' | 'DATA_UNAVAILABLE' | 'INVALID_PARAMS' | 'DIVERGED'
> {}
