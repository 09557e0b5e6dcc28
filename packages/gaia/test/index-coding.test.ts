import { describe, expect, it } from 'vitest';
import { GaiaError } from '../src/errors.js';
import { decodeBitmap, decodeIndices, encodeBitmap, encodeIndices } from '../src/index-coding.js';

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

  it('round-trips a bitmap of a shard and refuses one of the wrong length, count or range', () => {
    const keys = Uint32Array.from([0, 7, 8, 19]);
    const bits = encodeBitmap(keys, 20);
    expect(bits.length).toBe(3);
    expect([...decodeBitmap(bits, 20, 4)]).toEqual([...keys]);
    expect(() => decodeBitmap(bits, 20, 3)).toThrow(/more keys/);
    expect(() => decodeBitmap(bits, 20, 5)).toThrow(/sets 4 keys/);
    expect(() => decodeBitmap(bits, 17, 4)).toThrow(GaiaError); // 3 bytes, but key 19 is past 17
    expect(() => decodeBitmap(bits, 30, 4)).toThrow(/must hold 4 bytes/);
  });
});
