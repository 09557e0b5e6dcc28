import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  allocateUnfilled,
  ConfigError,
  isArrayOf,
  isSparse,
  parseConfig,
  sizeOf,
  TensorError,
  tensor,
  viewOf,
  zeros,
} from '../src/index.js';

describe('tensor', () => {
  it('wraps data without copying', () => {
    const data = new Float32Array([1, 2, 3, 4, 5, 6]);
    const t = tensor('float32', [2, 3], data);
    expect(t.data).toBe(data);
    expect(t.shape).toEqual([2, 3]);
  });

  it('refuses a shape that does not match the data', () => {
    expect(() => tensor('float32', [2, 2], new Float32Array(3))).toThrow(TensorError);
    expect(() => tensor('float32', [2, 2], new Float32Array(3))).toThrow(
      /shape \[2,2\] needs 4 elements, got 3/,
    );
  });

  it('refuses data of the wrong array type', () => {
    // biome-ignore lint/suspicious/noExplicitAny: deliberately wrong input
    expect(() => tensor('int32', [2], new Float32Array(2) as any)).toThrow(/must be a Int32Array/);
  });

  it('sizes shapes, scalars included, and rejects bad dimensions', () => {
    expect(sizeOf([])).toBe(1);
    expect(sizeOf([3, 0, 2])).toBe(0);
    expect(() => sizeOf([2, -1])).toThrow(TensorError);
    expect(() => sizeOf([1.5])).toThrow(TensorError);
  });

  it('allocates zeros and tells sparse from dense', () => {
    const z0 = zeros('int64', [2, 2]);
    expect(z0.data).toBeInstanceOf(BigInt64Array);
    expect(isSparse(z0)).toBe(false);
    expect(
      isSparse({
        dtype: 'float32',
        shape: [4],
        indices: new Uint32Array([1]),
        values: new Float32Array([2]),
      }),
    ).toBe(true);
  });

  it('maps each dtype to its array class: views over a buffer, unfilled arrays, class checks', () => {
    const buffer = new ArrayBuffer(32);
    const v = viewOf('int32', buffer, 8, 4);
    expect(v).toBeInstanceOf(Int32Array);
    v[0] = 7;
    expect(new Int32Array(buffer, 8, 1)[0]).toBe(7);
    const u = allocateUnfilled('float64', 5);
    expect(u).toBeInstanceOf(Float64Array);
    expect(u.length).toBe(5);
    expect(allocateUnfilled('bool', 3)).toBeInstanceOf(Uint8Array);
    expect(isArrayOf('int64', new BigInt64Array(1))).toBe(true);
    expect(isArrayOf('float32', new Float64Array(1))).toBe(false);
  });
});

describe('parseConfig', () => {
  const schema = z.object({ links: z.array(z.object({ bandwidthMbps: z.number().positive() })) });

  it('returns the parsed value', () => {
    expect(parseConfig(schema, { links: [{ bandwidthMbps: 10 }] }, 'topology')).toEqual({
      links: [{ bandwidthMbps: 10 }],
    });
  });

  it('names the bad field', () => {
    try {
      parseConfig(schema, { links: [{ bandwidthMbps: 10 }, { bandwidthMbps: 'fast' }] }, 'topology');
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      const err = e as ConfigError;
      expect(err.code).toBe('INVALID_CONFIG');
      expect(err.fields).toEqual(['links.1.bandwidthMbps']);
      expect(err.message).toMatch(/^invalid topology: links\.1\.bandwidthMbps: /);
    }
  });
});
