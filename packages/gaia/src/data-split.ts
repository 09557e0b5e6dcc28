import type { Rng } from '@geoml/core';
import { EpochSampler } from './epoch-sampler.js';
import { decodeShardState, encodeShardState } from './shard-state.js';
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

/** How a workload draws batches from one shard's items, and what local state it keeps beside them. */
export interface ShardSource<Batch> {
  /** The next batch, drawing items from `sampler`. */
  next(rng: Rng): Batch;
  /** State the workload keeps per shard besides the sampler's (LDA's token–topic assignments). */
  readonly local?: { save(): Uint8Array; restore(bytes: Uint8Array): void };
}

/**
 * Splits with `splitData` (seeded from `root`, the split and the layout) and wraps each part as a
 * `DataShard` drawing its batches from `source(items, sampler)`, with checkpointable state.
 */
export function shardData<Batch>(
  count: number,
  layout: { regions: number; workersPerRegion: number; split: DataSplit },
  keys: SplitKeys,
  skew: number,
  root: Rng,
  source: (items: Uint32Array, sampler: EpochSampler) => ShardSource<Batch>,
): DataShard<Batch>[][] {
  const { regions, workersPerRegion, split } = layout;
  const label = `split-${split}-${regions}x${workersPerRegion}`;
  const parts = splitData(count, regions, workersPerRegion, split, keys, skew, root.fork(label));
  return parts.map((row, region) =>
    row.map((items, worker) => {
      const sampler = new EpochSampler(items);
      const src = source(items, sampler);
      return {
        region,
        worker,
        size: items.length,
        items,
        nextBatch: (rng: Rng) => src.next(rng),
        saveState: () => encodeShardState(sampler.save(), src.local?.save() ?? new Uint8Array(0)),
        restoreState(state: Uint8Array) {
          const { sampler: words, local } = decodeShardState(state);
          if (!src.local && local.length > 0) {
            throw new WorkloadError(
              'INVALID_ARGUMENT',
              'shard state holds local state this workload does not keep',
            );
          }
          const before = sampler.save();
          sampler.restore(words);
          try {
            src.local?.restore(local);
          } catch (e) {
            sampler.restore(before);
            throw e;
          }
        },
      };
    }),
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
