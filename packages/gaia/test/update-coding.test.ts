import { decodeTensorMap, encodeTensorMap } from '@geoml/core';
import { describe, expect, it } from 'vitest';
import { GaiaError } from '../src/errors.js';
import { ParameterShard } from '../src/parameter-shard.js';
import { SignificanceFilter } from '../src/significance-filter.js';
import { chooseLayout, decodeShipped, encodeShipped, type UpdateLayout } from '../src/update-coding.js';

/** Through the real codec, as a mirror message travels. */
const roundTrip = (m: ReturnType<typeof encodeShipped>) => decodeTensorMap(encodeTensorMap(m));

/** A dense view of a decoded delta, to compare layouts. */
function densify(d: ReturnType<typeof decodeShipped>, size: number): number[] {
  if (d instanceof Float32Array) return [...d];
  const out = new Array<number>(size).fill(0);
  d.indices.forEach((i, j) => {
    out[i] = d.values[j] as number;
  });
  return out;
}

/** A filter over `size` keys (w = 1) whose significant entries are exactly `keys`. */
function significant(size: number, keys: number[], encoding: 'float32' | 'int8' = 'float32') {
  const f = new SignificanceFilter(size, { tau0: 0.01, encoding });
  const d = new Float32Array(size);
  for (let i = 0; i < size; i++) d[i] = 0.001; // insignificant residue everywhere
  for (const k of keys) d[k] = 0.25 + k / 1024;
  f.accumulate(d);
  return { f, out: f.take(new Float32Array(size).fill(1), 1) };
}

describe('the wire layout of shipped updates', () => {
  it('chooses the smallest: sparse pairs when few keys, a bitmap in between, dense when most ship', () => {
    // 1 000 keys, float32 values: dense 4 000 B, bitmap 125 + 4n, sparse varint + 4n
    expect(chooseLayout(10, 20, 1000, 4)).toBe('sparse');
    expect(chooseLayout(100, 125, 1000, 4)).toBe('bitmap'); // equal sizes: the bitmap
    expect(chooseLayout(100, 124, 1000, 4)).toBe('sparse');
    expect(chooseLayout(968, 968, 1000, 4)).toBe('bitmap'); // 125 + 3 872 = 3 997 < 4 000
    expect(chooseLayout(969, 969, 1000, 4)).toBe('dense'); // 4 001 > 4 000
    // int8 values: dense 1 000 B against bitmap 125 + n
    expect(chooseLayout(875, 875, 1000, 1)).toBe('dense');
    expect(chooseLayout(874, 874, 1000, 1)).toBe('bitmap');
  });

  for (const encoding of ['float32', 'int8'] as const) {
    it(`${encoding}: every layout decodes to exactly the values shipped`, () => {
      const size = 300;
      const cases: [UpdateLayout, number[]][] = [
        ['sparse', [3, 40, 41, 299]],
        ['bitmap', Array.from({ length: 120 }, (_, j) => j * 2 + 1)],
        ['dense', Array.from({ length: 299 }, (_, j) => j)],
      ];
      for (const [layout, keys] of cases) {
        const { out } = significant(size, keys, encoding);
        expect(out.layout, layout).toBe(layout);
        const got = densify(decodeShipped(roundTrip(encodeShipped(out, size)), size, out.int8?.scale), size);
        const want = new Array<number>(size).fill(0);
        out.indices.forEach((i, j) => {
          want[i] = out.values[j] as number;
        });
        expect(got, layout).toEqual(want);
      }
    });
  }

  it('dense ships the whole accumulator, residue included, and leaves nothing behind', () => {
    const size = 64;
    const { f, out } = significant(
      size,
      Array.from({ length: 63 }, (_, j) => j),
    );
    expect(out.layout).toBe('dense');
    expect(out.indices.length).toBe(64); // key 63 was insignificant and went too
    expect(out.values[63]).toBeCloseTo(0.001, 7);
    expect([...f.accumulator].every((a) => a === 0)).toBe(true);
    expect(f.stats.shipped).toBe(64);
  });

  it('a NaN or Inf value is refused by the shard in every layout, nothing applied', () => {
    const size = 300;
    for (const keys of [
      [5, 9],
      Array.from({ length: 120 }, (_, j) => j * 2),
      Array.from({ length: 300 }, (_, j) => j),
    ]) {
      const { out } = significant(size, keys);
      (out.values as Float32Array)[1] = keys.length % 2 === 0 ? Number.NaN : Number.POSITIVE_INFINITY;
      const delta = decodeShipped(roundTrip(encodeShipped(out, size)), size, undefined);
      const shard = new ParameterShard({ lo: 0, hi: size }, new Float32Array(size).fill(1));
      expect(() => shard.apply(delta, false), out.layout).toThrow(GaiaError);
      expect(
        [...shard.values].every((v) => v === 1),
        out.layout,
      ).toBe(true);
    }
    // int8: a missing or non-finite scale decodes to NaN, refused the same way
    const { out } = significant(size, [1, 2], 'int8');
    const delta = decodeShipped(roundTrip(encodeShipped(out, size)), size, undefined);
    expect(() => new ParameterShard({ lo: 0, hi: size }, new Float32Array(size)).apply(delta)).toThrow(
      GaiaError,
    );
  });

  it('refuses malformed messages with PROTOCOL errors', () => {
    const size = 20;
    const { out } = significant(
      size,
      Array.from({ length: 8 }, (_, j) => j * 2),
    );
    expect(out.layout).toBe('bitmap');
    const m = roundTrip(encodeShipped(out, size));
    const bits = (m.get('b') as { data: Uint8Array }).data;
    bits[0] = (bits[0] as number) | 2; // one more key than values
    expect(() => decodeShipped(m, size, undefined)).toThrow(/more keys/);
    const small = roundTrip(encodeShipped(out, size));
    expect(() => decodeShipped(small, 16, undefined)).toThrow(GaiaError); // wrong bitmap length
    const dense = roundTrip(encodeShipped({ ...out, layout: 'dense' }, size));
    expect(() => decodeShipped(dense, size + 1, undefined)).toThrow(/dense update has 20 values/);
    expect(() => decodeShipped(new Map(), size, undefined)).toThrow(GaiaError);
  });
});
