import { GaiaError } from './errors.js';
import type { KeyRange } from './param-layout.js';

/** Changes to some keys of a shard: `values[i]` adds to local key `indices[i]` (0-based in the shard). */
export interface SparseDelta {
  readonly indices: Uint32Array;
  readonly values: Float32Array;
}

/** A dense delta covers every key of the shard; a sparse one names its keys. */
export type Delta = Float32Array | SparseDelta;

/** Counts of applied update entries, for the paper's "fraction of updates below 1 % change". */
export interface ShardUpdateStats {
  /** Non-zero entries applied. */
  entries: number;
  /** Of those, entries that changed their parameter by less than 1 % (|Δ/w| < 0.01, w != 0). */
  belowOnePercent: number;
}

/**
 * One parameter-server shard: the keys `[lo, hi)` of a region's full replica of the model. Applies
 * additive updates and serves reads. An update holding NaN or Inf is rejected whole, before any key
 * changes, so a bad worker can never poison a replica.
 */
export class ParameterShard {
  readonly range: KeyRange;
  /** The shard's current values; read through `read()` for a stable copy. */
  readonly values: Float32Array;
  readonly stats: ShardUpdateStats = { entries: 0, belowOnePercent: 0 };

  constructor(range: KeyRange, initial: Float32Array) {
    if (initial.length !== range.hi - range.lo) {
      throw new RangeError(`shard [${range.lo}, ${range.hi}) needs ${range.hi - range.lo} initial values`);
    }
    this.range = range;
    this.values = Float32Array.from(initial);
  }

  get size(): number {
    return this.values.length;
  }

  /**
   * Adds `delta` to the shard and returns the number of non-zero entries applied. `count` decides
   * whether the entries feed `stats` (workers' updates do; mirrored ones were counted where they arose).
   */
  apply(delta: Delta, count = true): number {
    checkDelta(delta, this.size);
    const w = this.values;
    let applied = 0;
    let below = 0;
    const add = (i: number, v: number) => {
      if (v === 0) return;
      applied++;
      if (count && w[i] !== 0 && Math.abs(v / (w[i] as number)) < 0.01) below++;
      w[i] = (w[i] as number) + v;
    };
    if (delta instanceof Float32Array) {
      for (let i = 0; i < delta.length; i++) add(i, delta[i] as number);
    } else {
      for (let j = 0; j < delta.indices.length; j++)
        add(delta.indices[j] as number, delta.values[j] as number);
    }
    if (count) {
      this.stats.entries += applied;
      this.stats.belowOnePercent += below;
    }
    return applied;
  }

  /** A copy of the keys `[lo, hi)` (shard-local, default all). */
  read(lo = 0, hi = this.size): Float32Array {
    return this.values.slice(lo, hi);
  }
}

/** Throws `GaiaError` when `delta` holds a non-finite value or an index outside `size`. */
export function checkDelta(delta: Delta, size: number): void {
  const values = delta instanceof Float32Array ? delta : delta.values;
  if (delta instanceof Float32Array) {
    if (delta.length !== size) {
      throw new GaiaError('INVALID_UPDATE', `dense update has ${delta.length} entries, shard has ${size}`);
    }
  } else {
    if (delta.indices.length !== delta.values.length) {
      throw new GaiaError('INVALID_UPDATE', 'sparse update: indices and values differ in length');
    }
    for (let j = 0; j < delta.indices.length; j++) {
      if ((delta.indices[j] as number) >= size) {
        throw new GaiaError(
          'INVALID_UPDATE',
          `sparse update index ${delta.indices[j]} outside shard of ${size}`,
        );
      }
    }
  }
  for (let j = 0; j < values.length; j++) {
    if (!Number.isFinite(values[j])) {
      throw new GaiaError(
        'NON_FINITE_UPDATE',
        `update entry ${j} is ${values[j]}; rejected, nothing applied`,
      );
    }
  }
}

/** The non-zero entries of a dense delta, as a sparse one (what a worker ships when that is smaller). */
export function sparsify(dense: Float32Array): SparseDelta {
  let n = 0;
  for (let i = 0; i < dense.length; i++) if (dense[i] !== 0) n++;
  const indices = new Uint32Array(n);
  const values = new Float32Array(n);
  let j = 0;
  for (let i = 0; i < dense.length; i++) {
    if (dense[i] !== 0) {
      indices[j] = i;
      values[j++] = dense[i] as number;
    }
  }
  return { indices, values };
}
