import { describe, expect, it } from 'vitest';
import { GaiaError } from '../src/errors.js';
import { decodeIndices, encodeIndices } from '../src/index-coding.js';

describe('index coding', () => {
  it('round-trips ascending indexes in about a byte each when they are close', () => {
    const indices = Uint32Array.from([0, 1, 5, 130, 131, 20_000, 4_000_000_000]);
    const bytes = encodeIndices(indices);
    expect([...decodeIndices(bytes, indices.length, 2 ** 32)]).toEqual([...indices]);
    const dense = Uint32Array.from({ length: 1000 }, (_, i) => 3 * i);
    expect(encodeIndices(dense).length).toBe(1000);
    expect(encodeIndices(new Uint32Array(0)).length).toBe(0);
  });

  it('refuses unsorted input and malformed or out-of-range bytes', () => {
    expect(() => encodeIndices(Uint32Array.from([3, 3]))).toThrow(RangeError);
    const bytes = encodeIndices(Uint32Array.from([10, 20]));
    expect(() => decodeIndices(bytes, 2, 15)).toThrow(GaiaError); // 20 >= limit
    expect(() => decodeIndices(bytes, 3, 100)).toThrow(/truncated/);
    expect(() => decodeIndices(bytes, 1, 100)).toThrow(/trailing/);
    expect(() => decodeIndices(Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0xff, 0x01]), 1, 100)).toThrow(
      GaiaError,
    );
    expect(() => decodeIndices(Uint8Array.from([1, 0]), 2, 100)).toThrow(/order/);
  });
});
