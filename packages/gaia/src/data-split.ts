import type { Rng } from '@geoml/core';
import { type DataShard, type DataSplit, WorkloadError } from './workload.js';

/** What decides where an item goes, per item of the training set. */
export interface SplitKeys {
  /**
   * Items with the same group always land in the same region under `iid` (e.g. all ratings of one user);
   * omitted: every item is its own group.
   */
  readonly groups?: ArrayLike<number>;
  /**
   * Sort key for `skewed`: regions get contiguous slices of the items ordered by key (e.g. an item's
   * popularity rank, a digit's label), so each region sees a different part of the distribution.
   */
  readonly skewKeys: ArrayLike<number>;
}

/**
 * Deals `count` items to `regions` × `workersPerRegion` workers: `result[region][worker]` holds ascending
 * item indexes; together they hold every item exactly once. Under `skewed`, a fraction `1 - skew` of the
 * items (chosen at random) trade regions among themselves, so every region still sees some of all the
 * data and region sizes stay equal.
 */
export function splitData(
  count: number,
  regions: number,
  workersPerRegion: number,
  split: DataSplit,
  keys: SplitKeys,
  skew: number,
  rng: Rng,
): Uint32Array[][] {
  checkCounts(count, regions, workersPerRegion);
  if (split !== 'iid' && split !== 'skewed') {
    throw new WorkloadError('INVALID_ARGUMENT', `split must be 'iid' or 'skewed', got ${String(split)}`);
  }
  const regionOf =
    split === 'iid'
      ? iidRegions(count, regions, keys.groups, rng.fork('iid'))
      : skewedRegions(count, regions, keys.skewKeys, skew, rng.fork('skewed'));
  const members: number[][] = Array.from({ length: regions }, () => []);
  for (let i = 0; i < count; i++) members[regionOf[i] as number]?.push(i);
  return members.map((items, r) => {
    if (items.length < workersPerRegion) {
      throw new WorkloadError(
        'INVALID_ARGUMENT',
        `region ${r} holds ${items.length} items, fewer than its ${workersPerRegion} workers`,
      );
    }
    rng.fork(`workers-${r}`).shuffle(items);
    return Array.from({ length: workersPerRegion }, (_, w) => {
      const from = Math.floor((w * items.length) / workersPerRegion);
      const to = Math.floor(((w + 1) * items.length) / workersPerRegion);
      return Uint32Array.from(items.slice(from, to)).sort();
    });
  });
}

/**
 * Splits with `splitData` (seeded from `root`, the split and the layout) and wraps each part as a
 * `DataShard` whose `nextBatch` is made by `batches` from the part's items.
 */
export function shardData<Batch>(
  count: number,
  layout: { regions: number; workersPerRegion: number; split: DataSplit },
  keys: SplitKeys,
  skew: number,
  root: Rng,
  batches: (items: Uint32Array) => (rng: Rng) => Batch,
): DataShard<Batch>[][] {
  const { regions, workersPerRegion, split } = layout;
  const label = `split-${split}-${regions}x${workersPerRegion}`;
  const parts = splitData(count, regions, workersPerRegion, split, keys, skew, root.fork(label));
  return parts.map((row, region) =>
    row.map((items, worker) => ({ region, worker, size: items.length, items, nextBatch: batches(items) })),
  );
}

function checkCounts(count: number, regions: number, workersPerRegion: number): void {
  if (!Number.isInteger(regions) || regions < 1) {
    throw new WorkloadError('INVALID_ARGUMENT', `regions must be a positive integer, got ${regions}`);
  }
  if (!Number.isInteger(workersPerRegion) || workersPerRegion < 1) {
    throw new WorkloadError(
      'INVALID_ARGUMENT',
      `workersPerRegion must be a positive integer, got ${workersPerRegion}`,
    );
  }
  if (regions * workersPerRegion > count) {
    throw new WorkloadError(
      'INVALID_ARGUMENT',
      `${regions} regions × ${workersPerRegion} workers is more than the ${count} training items`,
    );
  }
}

/** Groups shuffled, each given to the region with the fewest items so far (keeps sizes near equal). */
function iidRegions(
  count: number,
  regions: number,
  groups: ArrayLike<number> | undefined,
  rng: Rng,
): Int32Array {
  const regionOf = new Int32Array(count);
  if (groups === undefined) {
    const order = rng.shuffle(Array.from({ length: count }, (_, i) => i));
    order.forEach((item, rank) => {
      regionOf[item] = Math.floor((rank * regions) / count);
    });
    return regionOf;
  }
  const byGroup = new Map<number, number[]>();
  for (let i = 0; i < count; i++) {
    const g = groups[i] as number;
    const list = byGroup.get(g);
    if (list) list.push(i);
    else byGroup.set(g, [i]);
  }
  const ids = rng.shuffle([...byGroup.keys()].sort((a, b) => a - b));
  const load = new Array<number>(regions).fill(0);
  for (const g of ids) {
    let target = 0;
    for (let r = 1; r < regions; r++) if ((load[r] as number) < (load[target] as number)) target = r;
    const list = byGroup.get(g) as number[];
    for (const i of list) regionOf[i] = target;
    load[target] = (load[target] as number) + list.length;
  }
  return regionOf;
}

function skewedRegions(
  count: number,
  regions: number,
  skewKeys: ArrayLike<number>,
  skew: number,
  rng: Rng,
): Int32Array {
  // Ties broken by a random order, so equal keys do not line up with item index.
  const tiebreak = rng.shuffle(Array.from({ length: count }, (_, i) => i));
  const rankOf = new Int32Array(count);
  tiebreak.forEach((item, rank) => {
    rankOf[item] = rank;
  });
  const order = Array.from({ length: count }, (_, i) => i).sort(
    (a, b) =>
      (skewKeys[a] as number) - (skewKeys[b] as number) || (rankOf[a] as number) - (rankOf[b] as number),
  );
  const regionOf = new Int32Array(count);
  order.forEach((item, rank) => {
    regionOf[item] = Math.floor((rank * regions) / count);
  });
  // Mix a random (1 - skew) fraction: permute their regions among themselves.
  const mixed = rng
    .shuffle(Array.from({ length: count }, (_, i) => i))
    .slice(0, Math.round((1 - skew) * count));
  const targets = rng.shuffle(mixed.map((i) => regionOf[i] as number));
  mixed.forEach((item, j) => {
    regionOf[item] = targets[j] as number;
  });
  return regionOf;
}

/**
 * Visits a shard's items without replacement, one shuffled epoch after another, so every item is seen
 * once per epoch and the order repeats for the same `rng` sequence.
 */
export class EpochSampler {
  private order: Uint32Array;
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
