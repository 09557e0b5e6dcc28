import { createRng, type Model, parseConfig, type Rng, type TensorMap, tensor } from '@geoml/core';
import { z } from 'zod';
import { shardData } from './data-split.js';
import { paramData, zeroMap } from './params.js';
import { generateRatings, holdOut, type Ratings } from './synthetic-ratings.js';
import { type DataShard, type DataSplit, type Workload, WorkloadError } from './workload.js';

/** Options of the matrix-factorization workload; every field has a default. */
export const matrixFactorizationOptionsSchema = z
  .object({
    /** Seeds the ratings, the train/test and region splits. */
    seed: z.number().int().default(1),
    users: z.number().int().min(2).default(2000),
    items: z.number().int().min(2).default(1000),
    /** Rank of the hidden rating matrix. */
    rank: z.number().int().min(1).default(10),
    /** Rank of the learnt factors; defaults to `rank`. */
    modelRank: z.number().int().min(1).optional(),
    /** Fraction of the user × item matrix observed. */
    density: z.number().gt(0).max(1).default(0.03),
    /** Standard deviation of the Gaussian noise added to each rating (the best reachable test RMSE). */
    noise: z.number().min(0).default(0.1),
    /** Zipf exponent of item popularity: item of popularity rank k is rated ∝ 1/(k+1)^popularity. */
    popularity: z.number().min(0).default(1),
    testFraction: z.number().gt(0).lt(1).default(0.1),
    /** Ratings per batch. */
    batchSize: z.number().int().min(1).default(256),
    learningRate: z.number().gt(0).default(0.2),
    /**
     * After processing n ratings a worker's rate is `learningRate / √(1 + n / lrDecayItems)`: a schedule per
     * worker's sequential SGD steps, the same whatever the batch size and however many workers average
     * their steps; 0 keeps the rate constant.
     */
    lrDecayItems: z.number().min(0).default(750_000),
    /** L2 penalty on the factors touched by a rating. */
    l2: z.number().min(0).default(0.02),
    /** Standard deviation of the initial factors. */
    initScale: z.number().gt(0).default(0.1),
    /** Under the `skewed` split, the fraction of ratings that stay in their popularity slice's region. */
    skew: z.number().min(0).max(1).default(0.9),
  })
  .strict();

export type MatrixFactorizationOptions = z.input<typeof matrixFactorizationOptionsSchema>;

/** A batch of observed ratings: `ratings[k]` is user `users[k]`'s rating of item `items[k]`. */
export interface RatingsBatch {
  readonly users: Uint32Array;
  readonly items: Uint32Array;
  readonly ratings: Float32Array;
  /** Items the worker had processed before this batch, for learning-rate decay. */
  readonly processed: number;
  /** Per user, 1 / the number of shards holding ratings of that user (omitted: 1). */
  readonly userShare?: Float32Array;
  /** Per item, 1 / the number of shards holding ratings of that item (omitted: 1). */
  readonly itemShare?: Float32Array;
}

/** The matrix-factorization workload plus the synthetic data it was built on. */
export interface MatrixFactorizationWorkload extends Workload<RatingsBatch> {
  /** Popularity rank of each item (0 = most rated). */
  readonly popularityRank: Uint32Array;
  /** User and item of each training rating, by training-item index (what the shards' `items` index into). */
  readonly trainRatings: { readonly users: Uint32Array; readonly items: Uint32Array };
}

/**
 * Matrix factorization by SGD, the Netflix stand-in of Gaia's evaluation: seeded synthetic low-rank
 * ratings `r = u·v + N(0, noise²)` where items are rated with Zipf-like popularity. Parameters are
 * `user_factors` [users, modelRank] and `item_factors` [items, modelRank]. An update is sparse: SGD runs
 * through the batch's ratings in order (each step sees the previous ones, as in a Bösen worker's cache)
 * and returns only the change of the rows of the batch's users and items; every other entry is zero.
 * A row's change is divided by the number of shards whose data touch that row (the batch's
 * `userShare`/`itemShare`), so that what all workers add to a shared row in one clock is the average of
 * their steps, not the sum: popular items, rated in every shard, stay stable with 22 workers as with
 * one; rows only one worker touches get plain SGD steps.
 * A batch whose SGD overflows (a factor row grown past `√(2 / lr)` makes each step amplify the error)
 * throws `WorkloadError` `DIVERGED` instead of returning NaN.
 * Quality: test RMSE over held-out ratings (lower is better).
 *
 * Splits: `iid` deals users (with all their ratings) at random to regions; `skewed` gives each region a
 * slice of the items by popularity (region 0 the most popular ones), keeping a fraction `skew` there.
 */
export function createMatrixFactorization(
  options: MatrixFactorizationOptions = {},
): MatrixFactorizationWorkload {
  const o = parseConfig(matrixFactorizationOptionsSchema, options, 'matrix factorization options');
  const modelRank = o.modelRank ?? o.rank;
  const root = createRng(o.seed);
  const { ratings, popularityRank } = generateRatings(o, root.fork('ratings'));
  const { train, test } = holdOut(ratings, o.testFraction, root.fork('holdout'));
  const userShape = [o.users, modelRank] as const;
  const itemShape = [o.items, modelRank] as const;
  const trainCount = train.values.length;
  const testCount = test.values.length;

  const model: Model<RatingsBatch> = {
    name: 'matrix-factorization',
    init(rng: Rng): TensorMap {
      const gaussian = (n: number) => Float32Array.from({ length: n }, () => rng.normal() * o.initScale);
      return new Map([
        ['user_factors', tensor('float32', userShape, gaussian(o.users * modelRank))],
        ['item_factors', tensor('float32', itemShape, gaussian(o.items * modelRank))],
      ]);
    },
    computeUpdate(params: TensorMap, batch: RatingsBatch): TensorMap {
      const P = paramData(params, 'user_factors', userShape);
      const Q = paramData(params, 'item_factors', itemShape);
      const update = zeroMap([
        ['user_factors', userShape],
        ['item_factors', itemShape],
      ]);
      const dP = (update.get('user_factors') as { data: Float32Array }).data;
      const dQ = (update.get('item_factors') as { data: Float32Array }).data;
      const lr =
        o.lrDecayItems > 0
          ? o.learningRate / Math.sqrt(1 + batch.processed / o.lrDecayItems)
          : o.learningRate;
      for (let k = 0; k < batch.ratings.length; k++) {
        const pu = (batch.users[k] as number) * modelRank;
        const qi = (batch.items[k] as number) * modelRank;
        let pred = 0;
        for (let f = 0; f < modelRank; f++) {
          pred +=
            ((P[pu + f] as number) + (dP[pu + f] as number)) *
            ((Q[qi + f] as number) + (dQ[qi + f] as number));
        }
        const err = (batch.ratings[k] as number) - pred;
        if (!Number.isFinite(err)) throw divergedStep(P, Q, batch, k, modelRank, lr);
        for (let f = 0; f < modelRank; f++) {
          const p = (P[pu + f] as number) + (dP[pu + f] as number);
          const q = (Q[qi + f] as number) + (dQ[qi + f] as number);
          dP[pu + f] = (dP[pu + f] as number) + lr * (err * q - o.l2 * p);
          dQ[qi + f] = (dQ[qi + f] as number) + lr * (err * p - o.l2 * q);
        }
      }
      scaleRows(dP, modelRank, batch.users, batch.userShare);
      scaleRows(dQ, modelRank, batch.items, batch.itemShare);
      return update;
    },
    evaluate(params: TensorMap) {
      const P = paramData(params, 'user_factors', userShape);
      const Q = paramData(params, 'item_factors', itemShape);
      let sse = 0;
      for (let k = 0; k < testCount; k++) {
        const pu = (test.users[k] as number) * modelRank;
        const qi = (test.items[k] as number) * modelRank;
        let pred = 0;
        for (let f = 0; f < modelRank; f++) pred += (P[pu + f] as number) * (Q[qi + f] as number);
        const err = (test.values[k] as number) - pred;
        sse += err * err;
      }
      return { metric: 'rmse', value: Math.sqrt(sse / testCount), higherIsBetter: false };
    },
  };

  const trainPopularity = Uint32Array.from(train.items, (i) => popularityRank[i] as number);
  return {
    model,
    batchSize: o.batchSize,
    popularityRank,
    trainRatings: { users: train.users, items: train.items },
    describe: {
      name: 'matrix-factorization',
      params: (o.users + o.items) * modelRank,
      trainItems: trainCount,
      testItems: testCount,
      metric: 'rmse',
      higherIsBetter: false,
      updates: 'sparse',
    },
    shards(regions: number, workersPerRegion: number, split: DataSplit): DataShard<RatingsBatch>[][] {
      // Filled once every shard's items are known, before any batch is drawn.
      const userShare = new Float32Array(o.users);
      const itemShare = new Float32Array(o.items);
      const result = shardData(
        trainCount,
        { regions, workersPerRegion, split },
        { groups: train.users, skewKeys: trainPopularity },
        o.skew,
        root,
        (_items, sampler) => ({
          next(rng: Rng): RatingsBatch {
            const processed = sampler.step * o.batchSize;
            const picked = sampler.next(rng, o.batchSize);
            return {
              users: picked.map((k) => train.users[k] as number),
              items: picked.map((k) => train.items[k] as number),
              ratings: Float32Array.from(picked, (k) => train.values[k] as number),
              processed,
              userShare,
              itemShare,
            };
          },
        }),
      );
      countShares(result.flat(), train, userShare, itemShare);
      return result;
    },
    dispose() {},
  };
}

/**
 * The error for a batch whose sequential SGD blew up at rating `k`: a step scales a row's error by
 * about `1 - lr·|row|²`, so a factor row whose squared norm passes `2 / lr` amplifies the error at each
 * of its ratings until it overflows (and spreads to the rows rated with it). Names the batch's largest
 * row as the parameters read it, and that product.
 */
function divergedStep(
  P: Float32Array,
  Q: Float32Array,
  batch: RatingsBatch,
  k: number,
  rank: number,
  lr: number,
): WorkloadError {
  let worst = { name: '', norm2: -1 };
  const consider = (m: Float32Array, rows: Uint32Array, kind: string) => {
    for (const row of new Set(rows)) {
      let n = 0;
      for (let f = row * rank; f < (row + 1) * rank; f++) n += (m[f] as number) ** 2;
      if (n > worst.norm2) worst = { name: `${kind} ${row}`, norm2: n };
    }
  };
  consider(P, batch.users, 'user');
  consider(Q, batch.items, 'item');
  return new WorkloadError(
    'DIVERGED',
    `matrix factorization SGD diverged: the prediction error overflowed at rating ${k} of the batch; ` +
      `its largest factor row (${worst.name}) has norm ${Math.sqrt(worst.norm2).toPrecision(3)}, and a step ` +
      `is stable only while learning rate × |row|² < 2 (here ${lr.toPrecision(3)} × ` +
      `${worst.norm2.toPrecision(3)} = ${(lr * worst.norm2).toPrecision(3)})`,
  );
}

/** Multiplies the delta rows of the distinct `rows` by their `share` (nothing when no shares are given). */
function scaleRows(
  delta: Float32Array,
  width: number,
  rows: Uint32Array,
  share: Float32Array | undefined,
): void {
  if (!share) return;
  for (const r of new Set(rows)) {
    const s = share[r] as number;
    if (s === 1) continue;
    for (let f = r * width; f < (r + 1) * width; f++) delta[f] = (delta[f] as number) * s;
  }
}

/** Sets each user's and item's share to 1 / the number of shards holding any of its ratings. */
function countShares(
  shards: readonly { readonly items: Uint32Array }[],
  train: Ratings,
  userShare: Float32Array,
  itemShare: Float32Array,
): void {
  const userCount = new Uint32Array(userShare.length);
  const itemCount = new Uint32Array(itemShare.length);
  for (const shard of shards) {
    const users = new Set<number>();
    const items = new Set<number>();
    for (const k of shard.items) {
      users.add(train.users[k] as number);
      items.add(train.items[k] as number);
    }
    for (const u of users) userCount[u] = (userCount[u] as number) + 1;
    for (const i of items) itemCount[i] = (itemCount[i] as number) + 1;
  }
  userCount.forEach((c, u) => {
    userShare[u] = 1 / Math.max(1, c);
  });
  itemCount.forEach((c, i) => {
    itemShare[i] = 1 / Math.max(1, c);
  });
}
