import type { Rng } from './rng.js';
import type { TensorMap } from './tensor.js';

/** A quality measure of a model's parameters, e.g. test RMSE or accuracy. */
export interface Quality {
  readonly metric: string;
  readonly value: number;
  readonly higherIsBetter: boolean;
}

/**
 * A trainable model as a parameter server sees it: parameters live outside the model (in the servers),
 * the model turns parameters and a batch of its own data into an additive update, and judges parameters
 * on held-out data. `Batch` is whatever the workload's data shards yield.
 */
export interface Model<Batch = unknown> {
  readonly name: string;
  /** Fresh initial parameters, the same for the same `rng` state. */
  init(rng: Rng): TensorMap;
  /** The update to add to `params` after one step on `batch` (for SGD: `-lr * gradient`). */
  computeUpdate(params: TensorMap, batch: Batch): TensorMap | Promise<TensorMap>;
  /** Quality of `params` on held-out data. */
  evaluate(params: TensorMap): Quality | Promise<Quality>;
}
