import { createRng, type TensorMap } from '@geoml/core';
import { describe, expect, it } from 'vitest';
import { splitData } from '../src/data-split.js';
import { EpochSampler } from '../src/epoch-sampler.js';
import { createLda } from '../src/lda.js';
import { createMatrixFactorization } from '../src/matrix-factorization.js';
import { createMnistClassifier } from '../src/mnist-classifier.js';
import { type Workload, WorkloadError } from '../src/workload.js';
import { applyUpdate, nonFinite } from './workloads-helpers.js';

const workloads: Array<[string, () => Workload<unknown>]> = [
  [
    'matrix-factorization',
    () => createMatrixFactorization({ users: 300, items: 150, density: 0.1, rank: 3 }) as Workload<unknown>,
  ],
  [
    'mnist-mlp',
    () => createMnistClassifier({ hidden: [16], trainSize: 1000, testSize: 200 }) as Workload<unknown>,
  ],
  ['lda', () => createLda({ maxDocs: 200, vocabulary: 300, topics: 5 }) as Workload<unknown>],
];

describe.each(workloads)('%s honours the Workload contract the engine builds on', (name, make) => {
  it('describes itself and returns float32 updates shaped like its parameters', async () => {
    const w = make();
    expect(w.describe.name).toBe(name);
    expect(w.model.name).toBe(name);
    expect(w.batchSize).toBeGreaterThan(0);
    const params = w.model.init(createRng(1));
    let count = 0;
    for (const t of params.values()) {
      expect(t.dtype).toBe('float32');
      count += t.data.length;
    }
    expect(count).toBe(w.describe.params);
    const shards = w.shards(2, 2, 'skewed');
    const update = (await w.model.computeUpdate(
      params,
      shards[1]?.[1]?.nextBatch(createRng(2)),
    )) as TensorMap;
    expect([...update.keys()]).toEqual([...params.keys()]);
    for (const [key, u] of update) {
      expect(u.dtype).toBe('float32');
      expect(u.shape).toEqual(params.get(key)?.shape);
    }
    expect(nonFinite(update)).toBe(0);
    const quality = await w.model.evaluate(params);
    expect(quality.metric).toBe(w.describe.metric);
    expect(quality.higherIsBetter).toBe(w.describe.higherIsBetter);
    expect(Number.isFinite(quality.value)).toBe(true);
    w.dispose();
  });

  it('learns data-parallel: updates of 2 regions × 2 workers from the same parameters, summed (BSP)', async () => {
    const w = make();
    const params = w.model.init(createRng(1));
    const shards = w.shards(2, 2, 'skewed').flat();
    const rng = createRng(3);
    const before = (await w.model.evaluate(params)).value;
    for (let clock = 0; clock < 25; clock++) {
      const updates = [];
      for (const shard of shards)
        updates.push((await w.model.computeUpdate(params, shard.nextBatch(rng))) as TensorMap);
      for (const u of updates) applyUpdate(params, u);
    }
    const after = (await w.model.evaluate(params)).value;
    const gain = w.describe.higherIsBetter ? after - before : before - after;
    expect(gain).toBeGreaterThan(0.05);
    expect(nonFinite(params)).toBe(0);
  });

  it('saves and restores a shard’s state, so a resumed run draws and computes what the original would', async () => {
    const w = make();
    const params = w.model.init(createRng(1));
    const [shard] = w.shards(2, 1, 'iid')[1] ?? [];
    const rng = createRng(5);
    for (let s = 0; s < 3; s++)
      applyUpdate(params, (await w.model.computeUpdate(params, shard?.nextBatch(rng))) as TensorMap);
    const state = shard?.saveState?.() as Uint8Array;
    const [resumed] = w.shards(2, 1, 'iid')[1] ?? [];
    resumed?.restoreState?.(state);
    expect(resumed?.saveState?.()).toEqual(state);
    const a = (await w.model.computeUpdate(params, shard?.nextBatch(createRng(6)))) as TensorMap;
    const b = (await w.model.computeUpdate(params, resumed?.nextBatch(createRng(6)))) as TensorMap;
    expect(b).toEqual(a);
    const other = w.shards(2, 1, 'iid')[0]?.[0];
    expect(() => other?.restoreState?.(state)).toThrow(WorkloadError);
    expect(() => resumed?.restoreState?.(new Uint8Array(7))).toThrow(WorkloadError);
    expect(() => resumed?.restoreState?.(state.subarray(0, state.length - 2))).toThrow(WorkloadError);
  });

  it('gives the same shards for the same layout and fresh state on every call', () => {
    const w = make();
    const a = w.shards(3, 1, 'iid');
    const b = w.shards(3, 1, 'iid');
    expect(b.map((row) => row.map((s) => Array.from(s.items)))).toEqual(
      a.map((row) => row.map((s) => Array.from(s.items))),
    );
    expect(b[0]?.[0]).not.toBe(a[0]?.[0]);
    expect(w.shards(3, 1, 'skewed')[0]?.[0]?.items).not.toEqual(a[0]?.[0]?.items);
  });
});

describe('splitData', () => {
  const keys = { skewKeys: Array.from({ length: 1000 }, (_, i) => i % 10) };

  it('with skew 1 gives each region one contiguous key slice; with skew 0 mixes them', () => {
    const pure = splitData(1000, 5, 1, 'skewed', keys, 1, createRng(1));
    pure.forEach((row, r) => {
      const ks = new Set(Array.from(row[0] ?? [], (i) => keys.skewKeys[i]));
      expect(ks).toEqual(new Set([2 * r, 2 * r + 1]));
    });
    const mixed = splitData(1000, 5, 1, 'skewed', keys, 0, createRng(1));
    for (const row of mixed) expect(new Set(Array.from(row[0] ?? [], (i) => keys.skewKeys[i])).size).toBe(10);
    for (const row of mixed) expect(row[0]?.length).toBe(200);
  });

  it('keeps groups whole under iid and balances region sizes', () => {
    const groups = Array.from({ length: 1000 }, (_, i) => Math.floor(i / 10));
    const parts = splitData(1000, 4, 3, 'iid', { groups, skewKeys: keys.skewKeys }, 0.9, createRng(2));
    const regionOfGroup = new Map<number, number>();
    parts.forEach((row, r) => {
      const size = row.reduce((n, s) => n + s.length, 0);
      expect(size).toBe(250);
      for (const s of row) {
        for (const i of s) {
          const g = groups[i] as number;
          expect(regionOfGroup.get(g) ?? r).toBe(r);
          regionOfGroup.set(g, r);
        }
      }
    });
  });

  it('rejects layouts it cannot fill', () => {
    expect(() => splitData(10, 0, 1, 'iid', keys, 1, createRng(1))).toThrow(WorkloadError);
    expect(() => splitData(10, 2, 1.5, 'iid', keys, 1, createRng(1))).toThrow(/workersPerRegion/);
    expect(() => splitData(10, 4, 3, 'iid', keys, 1, createRng(1))).toThrow(/more than the 10/);
  });
});

describe('EpochSampler', () => {
  it('visits every item once per epoch, in a different order each epoch', () => {
    const sampler = new EpochSampler(Uint32Array.from({ length: 10 }, (_, i) => i * 3));
    const rng = createRng(4);
    const first = Array.from(sampler.next(rng, 10));
    const second = Array.from(sampler.next(rng, 10));
    expect([...first].sort((a, b) => a - b)).toEqual(Array.from({ length: 10 }, (_, i) => i * 3));
    expect([...second].sort((a, b) => a - b)).toEqual([...first].sort((a, b) => a - b));
    expect(second).not.toEqual(first);
    expect(sampler.step).toBe(2);
  });
});
