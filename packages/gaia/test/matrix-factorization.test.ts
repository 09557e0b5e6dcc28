import { ConfigError, createRng, type TensorMap } from '@geoml/core';
import { describe, expect, it } from 'vitest';
import { createMatrixFactorization } from '../src/matrix-factorization.js';
import { WorkloadError } from '../src/workload.js';
import { applyUpdate, expectPartition, nonFinite, nonZero, ownSliceFraction } from './workloads-helpers.js';

const small = { users: 400, items: 200, density: 0.1, rank: 3, batchSize: 128, learningRate: 0.2, seed: 5 };

describe('matrix factorization workload', () => {
  it('lowers test RMSE over a few dozen SGD steps from init, with finite updates', async () => {
    const w = createMatrixFactorization(small);
    const params = w.model.init(createRng(1));
    const [shard] = w.shards(1, 1, 'iid')[0] ?? [];
    const rng = createRng(2);
    const before = (await w.model.evaluate(params)).value;
    for (let s = 0; s < 100; s++) {
      const update = (await w.model.computeUpdate(params, shard?.nextBatch(rng) as never)) as TensorMap;
      expect(nonFinite(update)).toBe(0);
      applyUpdate(params, update);
    }
    const after = await w.model.evaluate(params);
    expect(after).toMatchObject({ metric: 'rmse', higherIsBetter: false });
    expect(before).toBeGreaterThan(0.8); // factors start near zero, ratings have unit variance
    expect(after.value).toBeLessThan(before * 0.75);
  });

  it('reports a diverging SGD step as WorkloadError DIVERGED naming the largest row, not a NaN update', async () => {
    const w = createMatrixFactorization({ ...small, batchSize: 2048 });
    const params = w.model.init(createRng(1));
    // Item rows of norm ~8.7: learning rate × |q|² ≈ 15 > 2, so each rating amplifies the error.
    const items = params.get('item_factors')?.data as Float32Array;
    items.fill(5);
    const batch = w.shards(1, 1, 'iid')[0]?.[0]?.nextBatch(createRng(3));
    const error = await Promise.resolve()
      .then(() => w.model.computeUpdate(params, batch as never))
      .catch((e) => e);
    expect(error).toBeInstanceOf(WorkloadError);
    expect((error as WorkloadError).code).toBe('DIVERGED');
    expect((error as Error).message).toMatch(/largest factor row \(item \d+\) has norm 8\.66/);
    expect((error as Error).message).toContain('0.200 × 75.0 = 15.0');
  });

  it('touches only the rows of the users and items in the batch', async () => {
    const w = createMatrixFactorization(small);
    const params = w.model.init(createRng(1));
    const batch = w.shards(2, 1, 'iid')[1]?.[0]?.nextBatch(createRng(3));
    if (!batch) throw new Error('no batch');
    const update = (await w.model.computeUpdate(params, batch)) as TensorMap;
    const rank = 3;
    const users = new Set(batch.users);
    const items = new Set(batch.items);
    const userRows = update.get('user_factors')?.data as Float32Array;
    for (let u = 0; u < small.users; u++) {
      const row = userRows.subarray(u * rank, (u + 1) * rank);
      expect(row.some((v) => v !== 0)).toBe(users.has(u));
    }
    expect(nonZero(update, 'item_factors')).toBeLessThanOrEqual(items.size * rank);
    expect(nonZero(update, 'item_factors')).toBeGreaterThan(0);
    expect(nonZero(update, 'user_factors') + nonZero(update, 'item_factors')).toBeLessThan(
      0.5 * w.describe.params,
    );
  });

  it('averages shared rows over workers, so 11 regions × 2 workers summed each clock stay stable', async () => {
    const w = createMatrixFactorization(small);
    const shards = w.shards(11, 2, 'skewed').flat();
    const first = shards[0]?.nextBatch(createRng(1));
    const mostPopular = w.popularityRank.indexOf(0);
    const holding = shards.filter((s) => s.items.some((k) => w.trainRatings.items[k] === mostPopular)).length;
    expect(holding).toBeGreaterThan(10);
    expect(first?.itemShare?.[mostPopular]).toBeCloseTo(1 / holding, 6);
    const params = w.model.init(createRng(1));
    const rng = createRng(2);
    const before = (await w.model.evaluate(params)).value;
    for (let clock = 0; clock < 40; clock++) {
      const updates = shards.map((s) => w.model.computeUpdate(params, s.nextBatch(rng)) as TensorMap);
      for (const u of updates) applyUpdate(params, u);
    }
    expect(nonFinite(params)).toBe(0);
    expect((await w.model.evaluate(params)).value).toBeLessThan(before * 0.75);
  });

  it('decays the learning rate with the ratings a worker has processed, as configured', async () => {
    const norm = async (options: object, processed: number) => {
      const w = createMatrixFactorization({ ...small, ...options });
      const params = w.model.init(createRng(1));
      const batch = w.shards(1, 1, 'iid')[0]?.[0]?.nextBatch(createRng(2));
      if (!batch) throw new Error('no batch');
      expect(batch.processed).toBe(0);
      const update = (await w.model.computeUpdate(params, { ...batch, processed })) as TensorMap;
      let sum = 0;
      for (const t of update.values()) for (const v of t.data as Float32Array) sum += Math.abs(v);
      return sum;
    };
    const fresh = await norm({ lrDecayItems: 1000 }, 0);
    // lr / √(1 + 3000/1000) = lr / 2; steps within a batch compound, so the change is only about half.
    const ratio = (await norm({ lrDecayItems: 1000 }, 3000)) / fresh;
    expect(ratio).toBeGreaterThan(0.45);
    expect(ratio).toBeLessThan(0.55);
    expect(await norm({ lrDecayItems: 0 }, 3000)).toBeCloseTo(fresh, 6);
  });

  it('is deterministic from its seed: same data, same init, same batches, same updates', async () => {
    const run = async (seed: number) => {
      const w = createMatrixFactorization({ ...small, seed });
      const params = w.model.init(createRng(9));
      const shard = w.shards(2, 2, 'skewed')[1]?.[1];
      const rng = createRng(4);
      for (let s = 0; s < 5; s++)
        applyUpdate(
          params,
          (await w.model.computeUpdate(params, shard?.nextBatch(rng) as never)) as TensorMap,
        );
      return {
        q: (await w.model.evaluate(params)).value,
        items: shard?.items,
        p: params.get('item_factors')?.data,
      };
    };
    const a = await run(5);
    const b = await run(5);
    const c = await run(6);
    expect(b).toEqual(a);
    expect(c.q).not.toBe(a.q);
  });

  it('splits ratings so each is in exactly one shard, with each user in one region under iid', () => {
    const w = createMatrixFactorization(small);
    for (const split of ['iid', 'skewed'] as const) {
      expectPartition(w.shards(3, 2, split), w.describe.trainItems, 3, 2);
    }
    const regionOfUser = new Map<number, number>();
    w.shards(3, 2, 'iid').forEach((row, r) => {
      for (const shard of row) {
        for (const i of shard.items) {
          const u = w.trainRatings.users[i] as number;
          expect(regionOfUser.get(u) ?? r).toBe(r);
          regionOfUser.set(u, r);
        }
      }
    });
    expect(regionOfUser.size).toBeGreaterThan(small.users * 0.9);
  });

  it('gives regions different item-popularity slices under the skewed split, not under iid', () => {
    const w = createMatrixFactorization(small);
    const popularity = Array.from(w.trainRatings.items, (i) => w.popularityRank[i] as number);
    const skewed = ownSliceFraction(w.shards(3, 1, 'skewed'), popularity, 3);
    const iid = ownSliceFraction(w.shards(3, 1, 'iid'), popularity, 3);
    for (const f of skewed) expect(f).toBeGreaterThan(0.8);
    for (const f of iid) expect(f).toBeLessThan(0.55);
    // The most popular slice lives in region 0.
    const meanRank = (r: number) => {
      const items = w.shards(3, 1, 'skewed')[r]?.[0]?.items ?? new Uint32Array();
      return items.reduce((s, i) => s + (popularity[i] as number), 0) / items.length;
    };
    expect(meanRank(0)).toBeLessThan(meanRank(2));
  });

  it('rejects bad options, parameters and layouts with typed errors', async () => {
    expect(() => createMatrixFactorization({ density: 2 })).toThrow(ConfigError);
    expect(() => createMatrixFactorization({ users: 'many' } as never)).toThrow(/users/);
    expect(() => createMatrixFactorization({ userz: 3 } as never)).toThrow(ConfigError);
    const w = createMatrixFactorization(small);
    expect(() => w.shards(0, 1, 'iid')).toThrow(WorkloadError);
    expect(() => w.shards(2, 1, 'random' as never)).toThrow(/split/);
    expect(() => w.shards(w.describe.trainItems, 2, 'iid')).toThrow(WorkloadError);
    const batch = w.shards(1, 1, 'iid')[0]?.[0]?.nextBatch(createRng(1));
    expect(() => w.model.computeUpdate(new Map(), batch as never)).toThrow(/user_factors is missing/);
    const params = w.model.init(createRng(1));
    params.set('item_factors', { dtype: 'float32', shape: [3, 3], data: new Float32Array(9) });
    expect(() => w.model.evaluate(params)).toThrow(WorkloadError);
  });
});
