import type { Rng } from '@geoml/core';
import { WorkloadError } from './workload.js';

/**
 * Visits a shard's items without replacement, one shuffled epoch after another, so every item is seen
 * once per epoch and the order repeats for the same `rng` sequence.
 */
export class EpochSampler {
  private readonly order: Uint32Array;
  private cursor: number;
  /** Completed batches, used by workloads as the worker's local step for learning-rate decay. */
  step = 0;

  constructor(readonly items: Uint32Array) {
    this.order = items.slice();
    this.cursor = items.length; // the first call shuffles
  }

  /** Indexes of the next `n` items (an epoch boundary may fall inside a batch). */
  next(rng: Rng, n: number): Uint32Array {
    const out = new Uint32Array(n);
    for (let k = 0; k < n; k++) {
      if (this.cursor >= this.order.length) this.reshuffle(rng);
      out[k] = this.order[this.cursor++] as number;
    }
    this.step++;
    return out;
  }

  /** The sampler's position: `[cursor, step, ...epoch order]`. */
  save(): Uint32Array {
    const out = new Uint32Array(2 + this.order.length);
    out[0] = this.cursor;
    out[1] = this.step;
    out.set(this.order, 2);
    return out;
  }

  /** Restores what `save` returned on a sampler over the same items. */
  restore(state: Uint32Array): void {
    const n = this.items.length;
    if (state.length !== n + 2 || (state[0] as number) > n) {
      throw new WorkloadError('INVALID_ARGUMENT', `sampler state does not fit a shard of ${n} items`);
    }
    const order = state.subarray(2);
    const sorted = order.slice().sort();
    // `items` is ascending, so the saved order must sort back to it exactly.
    if (sorted.some((v, i) => v !== this.items[i])) {
      throw new WorkloadError('INVALID_ARGUMENT', 'sampler state holds other items than this shard');
    }
    this.order.set(order);
    this.cursor = state[0] as number;
    this.step = state[1] as number;
  }

  private reshuffle(rng: Rng): void {
    const o = this.order;
    for (let i = o.length - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      const t = o[i] as number;
      o[i] = o[j] as number;
      o[j] = t;
    }
    this.cursor = 0;
  }
}
