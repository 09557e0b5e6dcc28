import { tensor } from '@geoml/core';
import { describe, expect, it } from 'vitest';
import { GaiaError } from '../src/errors.js';
import { ParameterLayout } from '../src/param-layout.js';
import { ParameterShard } from '../src/parameter-shard.js';

describe('ParameterShard', () => {
  it('applies dense and sparse updates and counts changes below 1 %', () => {
    const s = new ParameterShard({ lo: 10, hi: 13 }, Float32Array.from([1, 2, 0]));
    s.apply(Float32Array.from([0.001, 1, 0]));
    s.apply({ indices: Uint32Array.from([2]), values: Float32Array.from([5]) });
    expect([...s.read()]).toEqual([Math.fround(1.001), 3, 5]);
    expect(s.stats).toEqual({ entries: 3, belowOnePercent: 1 });
  });

  it('rejects an update holding NaN or Inf whole, leaving the shard unchanged', () => {
    const s = new ParameterShard({ lo: 0, hi: 3 }, Float32Array.from([1, 2, 3]));
    expect(() => s.apply(Float32Array.from([1, Number.NaN, 1]))).toThrow(GaiaError);
    expect(() =>
      s.apply({
        indices: Uint32Array.from([0, 1]),
        values: Float32Array.from([1, Number.POSITIVE_INFINITY]),
      }),
    ).toThrow(/NON_FINITE|Infinity/);
    try {
      s.apply(Float32Array.from([Number.NEGATIVE_INFINITY, 0, 0]));
    } catch (e) {
      expect((e as GaiaError).code).toBe('NON_FINITE_UPDATE');
    }
    expect([...s.read()]).toEqual([1, 2, 3]);
    expect(() => s.apply({ indices: Uint32Array.from([3]), values: Float32Array.from([1]) })).toThrow(
      /outside/,
    );
  });
});

describe('ParameterLayout', () => {
  it('lays named tensors end to end and splits the key space into shards', () => {
    const params = new Map([
      ['a', tensor('float32', [2, 2], Float32Array.from([1, 2, 3, 4]))],
      ['b', tensor('float32', [3], Float32Array.from([5, 6, 7]))],
    ]);
    const layout = new ParameterLayout(params);
    expect(layout.size).toBe(7);
    const flat = layout.flatten(params);
    expect([...flat]).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect([...(layout.unflatten(flat).get('b')?.data ?? [])]).toEqual([5, 6, 7]);
    expect(layout.ranges(3)).toEqual([
      { lo: 0, hi: 2 },
      { lo: 2, hi: 4 },
      { lo: 4, hi: 7 },
    ]);
    expect(() => layout.flatten(new Map([['a', params.get('a')!]]))).toThrow(GaiaError);
  });
});
