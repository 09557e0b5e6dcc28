import type { TensorMap } from '@geoml/core';
import { expect } from 'vitest';
import type { DataShard } from '../src/workload.js';

/** Adds `update` into `params` in place, as a parameter server would. */
export function applyUpdate(params: TensorMap, update: TensorMap): void {
  for (const [name, u] of update) {
    const p = params.get(name);
    expect(p, `update names unknown parameter ${name}`).toBeDefined();
    expect(u.shape).toEqual(p?.shape);
    const pd = p?.data as Float32Array;
    const ud = u.data as Float32Array;
    for (let i = 0; i < pd.length; i++) pd[i] = (pd[i] as number) + (ud[i] as number);
  }
}

/** Count of entries that are not finite, over all tensors of `map`. */
export function nonFinite(map: TensorMap): number {
  let n = 0;
  for (const t of map.values()) for (const v of t.data as Float32Array) if (!Number.isFinite(v)) n++;
  return n;
}

/** Count of non-zero entries of tensor `name`. */
export function nonZero(map: TensorMap, name: string): number {
  let n = 0;
  for (const v of (map.get(name)?.data ?? []) as Float32Array) if (v !== 0) n++;
  return n;
}

/** Asserts the shards hold every index of `0..count-1` exactly once, and have the asked layout. */
export function expectPartition(
  shards: DataShard<unknown>[][],
  count: number,
  regions: number,
  workers: number,
) {
  expect(shards).toHaveLength(regions);
  const seen = new Uint8Array(count);
  shards.forEach((row, r) => {
    expect(row).toHaveLength(workers);
    row.forEach((shard, w) => {
      expect(shard.region).toBe(r);
      expect(shard.worker).toBe(w);
      expect(shard.size).toBe(shard.items.length);
      expect(shard.size).toBeGreaterThan(0);
      for (const i of shard.items) {
        expect(i).toBeLessThan(count);
        seen[i] = (seen[i] as number) + 1;
      }
    });
  });
  expect(seen.every((c) => c === 1)).toBe(true);
}

/** Fraction of each region's items whose `key` falls in that region's own slice of the key order. */
export function ownSliceFraction(
  shards: DataShard<unknown>[][],
  key: ArrayLike<number>,
  slices: number,
): number[] {
  const all = Array.from(key).sort((a, b) => a - b);
  // Region r's slice: keys between the r/R and (r+1)/R quantiles.
  const bound = (r: number) => all[Math.min(all.length - 1, Math.floor((r * all.length) / slices))] as number;
  return shards.map((row, r) => {
    let own = 0;
    let total = 0;
    for (const shard of row) {
      for (const i of shard.items) {
        const k = key[i] as number;
        const lo = bound(r);
        const hi = r + 1 < slices ? bound(r + 1) : Number.POSITIVE_INFINITY;
        if (k >= lo && k <= hi) own++;
        total++;
      }
    }
    return own / total;
  });
}
