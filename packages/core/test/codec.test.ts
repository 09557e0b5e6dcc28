import { describe, expect, it } from 'vitest';
import { decodeTensorMap, encodedSize, encodeTensorMap, encodeTensorMapInto } from '../src/codec.js';
import { CodecError } from '../src/errors.js';
import { FP16_MAX, fromHalf, toHalf } from '../src/fp16.js';
import { createRng, type Rng } from '../src/rng.js';
import {
  allocate,
  type DType,
  isSparse,
  type SparseTensor,
  sizeOf,
  type Tensor,
  type TypedArray,
  type UpdateMap,
} from '../src/tensor.js';

const DTYPES: DType[] = ['float32', 'float64', 'int32', 'int8', 'uint8', 'int64', 'bool'];

function fill(rng: Rng, dtype: DType, n: number): TypedArray {
  const a = allocate(dtype, n);
  for (let i = 0; i < n; i++) {
    if (a instanceof BigInt64Array) a[i] = BigInt(rng.int(2 ** 31)) * BigInt(rng.int(2 ** 31)) - 2n ** 60n;
    else if (dtype === 'bool') a[i] = rng.int(2);
    else if (dtype === 'int8') a[i] = rng.int(256) - 128;
    else if (dtype === 'uint8') a[i] = rng.int(256);
    else if (dtype === 'int32') a[i] = rng.int(2 ** 32) - 2 ** 31;
    else a[i] = rng.normal() * 10 ** rng.int(6);
  }
  return a;
}

function randomShape(rng: Rng): number[] {
  const rank = rng.int(5);
  return Array.from({ length: rank }, () => rng.int(7));
}

function randomSparse(rng: Rng, dtype: DType, shape: number[], density: number): SparseTensor {
  const size = sizeOf(shape);
  const picked: number[] = [];
  for (let i = 0; i < size; i++) if (rng.next() < density) picked.push(i);
  return { dtype, shape, indices: Uint32Array.from(picked), values: fill(rng, dtype, picked.length) };
}

function randomMap(rng: Rng): UpdateMap {
  const map: UpdateMap = new Map();
  const entries = rng.int(6);
  for (let e = 0; e < entries; e++) {
    const dtype = DTYPES[rng.int(DTYPES.length)]!;
    const shape = randomShape(rng);
    const name = `layer${e}/${['kernel', 'bias', 'ü→∑'][rng.int(3)]}`;
    if (rng.next() < 0.5) map.set(name, { dtype, shape, data: fill(rng, dtype, sizeOf(shape)) } as Tensor);
    else map.set(name, randomSparse(rng, dtype, shape, [0, 0.01, 0.3, 1][rng.int(4)]!));
  }
  return map;
}

function plain(map: UpdateMap) {
  return [...map].map(([name, t]) =>
    isSparse(t)
      ? { name, dtype: t.dtype, shape: [...t.shape], indices: [...t.indices], values: [...t.values] }
      : { name, dtype: t.dtype, shape: [...t.shape], data: [...t.data] },
  );
}

function expectCodecError(fn: () => unknown, code?: CodecError['code']): CodecError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(CodecError);
    if (code) expect((err as CodecError).code).toBe(code);
    return err as CodecError;
  }
  throw new Error('expected a CodecError, nothing was thrown');
}

/** A small message with a dense and a sparse tensor, used by the corruption tests. */
function smallMessage(): Uint8Array {
  const map: UpdateMap = new Map<string, Tensor | SparseTensor>([
    ['w', { dtype: 'float32', shape: [2, 3], data: new Float32Array([1, 2, 3, 4, 5, 6]) }],
    [
      'g',
      {
        dtype: 'float64',
        shape: [10],
        indices: new Uint32Array([1, 7]),
        values: new Float64Array([0.5, -2]),
      },
    ],
    ['n', { dtype: 'int64', shape: [], data: new BigInt64Array([-3n]) }],
  ]);
  return encodeTensorMap(map);
}

describe('tensor codec: round trips', () => {
  it('restores random maps of every dtype, shape and sparsity exactly', () => {
    const rng = createRng(20260401);
    for (let round = 0; round < 200; round++) {
      const map = randomMap(rng);
      const bytes = encodeTensorMap(map);
      expect(bytes.length).toBe(encodedSize(map));
      expect(bytes.length % 8).toBe(0);
      const back = decodeTensorMap(bytes);
      expect(plain(back)).toEqual(plain(map));
    }
  });

  it('keeps each decoded typed array of its dtype', () => {
    const rng = createRng(7);
    const map: UpdateMap = new Map(
      DTYPES.map((d) => [d, { dtype: d, shape: [3], data: fill(rng, d, 3) } as Tensor] as const),
    );
    const back = decodeTensorMap(encodeTensorMap(map));
    for (const d of DTYPES) {
      const t = back.get(d) as Tensor;
      expect(t.data.constructor).toBe((map.get(d) as Tensor).data.constructor);
    }
  });

  it('handles an empty map, scalars, zero-size tensors and empty sparse updates', () => {
    const empty = encodeTensorMap(new Map());
    expect(empty.length).toBe(24);
    expect(decodeTensorMap(empty).size).toBe(0);
    const map: UpdateMap = new Map<string, Tensor | SparseTensor>([
      ['scalar', { dtype: 'float32', shape: [], data: new Float32Array([Math.PI]) }],
      ['none', { dtype: 'int32', shape: [3, 0], data: new Int32Array(0) }],
      ['quiet', { dtype: 'float32', shape: [100], indices: new Uint32Array(0), values: new Float32Array(0) }],
      ['', { dtype: 'bool', shape: [1], data: new Uint8Array([1]) }],
    ]);
    expect(plain(decodeTensorMap(encodeTensorMap(map)))).toEqual(plain(map));
  });

  it('encodes into a buffer after its own header, byte for byte as encodeTensorMap', () => {
    const rng = createRng(11);
    const map = randomMap(rng);
    map.set('x', { dtype: 'float32', shape: [4], data: new Float32Array([1, 2, 3, 4]) });
    const alone = encodeTensorMap(map, { encoding: 'fp16' });
    const framed = new Uint8Array(16 + encodedSize(map, { encoding: 'fp16' }) + 8);
    framed.fill(0xee);
    expect(encodeTensorMapInto(map, framed, 16, { encoding: 'fp16' })).toBe(16 + alone.length);
    expect(framed.subarray(16, 16 + alone.length)).toEqual(alone);
    expect(framed[15]).toBe(0xee);
    expect(framed[16 + alone.length]).toBe(0xee);
    expect(plain(decodeTensorMap(framed.subarray(16, 16 + alone.length)))).toEqual(
      plain(decodeTensorMap(alone)),
    );
    expect(expectCodecError(() => encodeTensorMapInto(map, framed, 12), 'INVALID').message).toMatch(/8-byte/);
    expect(expectCodecError(() => encodeTensorMapInto(map, framed, 24), 'INVALID').message).toMatch(
      /needs \d+ bytes at offset 24/,
    );
  });

  it('keeps the order of the map', () => {
    const map: UpdateMap = new Map();
    for (const name of ['z', 'a', 'm'])
      map.set(name, { dtype: 'uint8', shape: [1], data: new Uint8Array([1]) });
    expect([...decodeTensorMap(encodeTensorMap(map)).keys()]).toEqual(['z', 'a', 'm']);
  });

  it('encodes views of a larger buffer from their own offset', () => {
    const backing = new Float32Array([9, 9, 1, 2, 3, 9]);
    const map: UpdateMap = new Map([['v', { dtype: 'float32', shape: [3], data: backing.subarray(2, 5) }]]);
    expect([...(decodeTensorMap(encodeTensorMap(map)).get('v') as Tensor).data]).toEqual([1, 2, 3]);
  });
});

describe('tensor codec: zero copy', () => {
  it('decodes raw tensors as views into the received buffer', () => {
    const rng = createRng(3);
    const map: UpdateMap = new Map<string, Tensor | SparseTensor>([
      ['dense', { dtype: 'float64', shape: [5, 4], data: fill(rng, 'float64', 20) } as Tensor],
      ['sparse', randomSparse(rng, 'float32', [50], 0.2)],
    ]);
    const bytes = encodeTensorMap(map);
    const back = decodeTensorMap(bytes);
    const dense = back.get('dense') as Tensor;
    const sparse = back.get('sparse') as SparseTensor;
    expect(dense.data.buffer).toBe(bytes.buffer);
    expect(sparse.indices.buffer).toBe(bytes.buffer);
    expect(sparse.values.buffer).toBe(bytes.buffer);
    // A write through the view lands in the message: proof that nothing was copied.
    (dense.data as Float64Array)[0] = 12345;
    expect((decodeTensorMap(bytes).get('dense') as Tensor).data[0]).toBe(12345);
  });

  it('views an aligned slice of a larger buffer in place', () => {
    const bytes = encodeTensorMap(
      new Map([['x', { dtype: 'int32', shape: [2], data: new Int32Array([5, 6]) }]]),
    );
    const big = new Uint8Array(bytes.length + 16);
    big.set(bytes, 8);
    const back = decodeTensorMap(big.subarray(8, 8 + bytes.length)).get('x') as Tensor;
    expect(back.data.buffer).toBe(big.buffer);
    expect([...back.data]).toEqual([5, 6]);
  });

  it('copies a misaligned message once and still decodes it', () => {
    const bytes = encodeTensorMap(
      new Map([['x', { dtype: 'float64', shape: [2], data: new Float64Array([1.5, -2]) }]]),
    );
    const big = new Uint8Array(bytes.length + 3);
    big.set(bytes, 3);
    const back = decodeTensorMap(big.subarray(3)).get('x') as Tensor;
    expect(back.data.buffer).not.toBe(big.buffer);
    expect([...back.data]).toEqual([1.5, -2]);
  });
});

describe('tensor codec: lossy encodings', () => {
  const rng = createRng(99);
  const values = new Float32Array(5000);
  for (let i = 0; i < values.length; i++) values[i] = rng.normal() * 10 ** (rng.int(8) - 4);
  const dense: UpdateMap = new Map([['w', { dtype: 'float32', shape: [50, 100], data: values }]]);

  it('fp16 keeps every normal value within a relative error of 2^-11', () => {
    const bytes = encodeTensorMap(dense, { encoding: 'fp16' });
    expect(bytes.length).toBeLessThan(encodeTensorMap(dense).length * 0.55);
    const back = decodeTensorMap(bytes).get('w') as Tensor;
    expect(back.dtype).toBe('float32');
    expect(back.data).toBeInstanceOf(Float32Array);
    for (let i = 0; i < values.length; i++) {
      const x = values[i]!;
      const y = back.data[i] as number;
      if (Math.abs(x) >= 2 ** -14) expect(Math.abs(y - x)).toBeLessThanOrEqual(Math.abs(x) * 2 ** -11);
      else expect(Math.abs(y - x)).toBeLessThanOrEqual(2 ** -25);
    }
  });

  it('fp16 rounds to nearest even, saturates finite overflow and keeps infinities and NaN', () => {
    expect(fromHalf(toHalf(1))).toBe(1);
    expect(fromHalf(toHalf(1 + 2 ** -11))).toBe(1); // tie -> even
    expect(fromHalf(toHalf(1 + 3 * 2 ** -11))).toBe(1 + 2 ** -9); // tie -> even, upwards
    expect(fromHalf(toHalf(2 ** -24))).toBe(2 ** -24); // smallest subnormal
    expect(fromHalf(toHalf(2 ** -26))).toBe(0);
    expect(fromHalf(toHalf(2 ** -25))).toBe(0); // subnormal tie -> even (0)
    expect(fromHalf(toHalf(3 * 2 ** -25))).toBe(2 ** -23); // subnormal tie -> even (2)
    expect(fromHalf(toHalf(2 ** -14 - 2 ** -26))).toBe(2 ** -14); // rounds up into the normals
    expect(fromHalf(toHalf(1e6))).toBe(FP16_MAX);
    expect(fromHalf(toHalf(-65520))).toBe(-FP16_MAX);
    expect(fromHalf(toHalf(Number.NEGATIVE_INFINITY))).toBe(Number.NEGATIVE_INFINITY);
    expect(fromHalf(toHalf(Number.NaN))).toBeNaN();
    expect(Object.is(fromHalf(toHalf(-0)), -0)).toBe(true);
    for (let bits = 0; bits < 0x7c00; bits += 7) expect(toHalf(fromHalf(bits))).toBe(bits);
  });

  it('int8 keeps every value within half a quantisation step (max|x|/254)', () => {
    const bytes = encodeTensorMap(dense, { encoding: 'int8' });
    expect(bytes.length).toBeLessThan(encodeTensorMap(dense).length * 0.3);
    const back = decodeTensorMap(bytes).get('w') as Tensor;
    expect(back.dtype).toBe('float32');
    let max = 0;
    for (const x of values) max = Math.max(max, Math.abs(x));
    const step = max / 127;
    for (let i = 0; i < values.length; i++) {
      expect(Math.abs((back.data[i] as number) - values[i]!)).toBeLessThanOrEqual(step / 2 + max * 2 ** -22);
    }
  });

  it('applies lossy encodings to sparse values and float64, and leaves integer tensors raw', () => {
    const map: UpdateMap = new Map<string, Tensor | SparseTensor>([
      [
        's',
        {
          dtype: 'float64',
          shape: [1000],
          indices: new Uint32Array([3, 500]),
          values: new Float64Array([0.1, -4]),
        },
      ],
      ['i', { dtype: 'int32', shape: [2], data: new Int32Array([7, -70000]) }],
      ['z', { dtype: 'float32', shape: [3], data: new Float32Array(3) }],
    ]);
    for (const encoding of ['fp16', 'int8'] as const) {
      const back = decodeTensorMap(encodeTensorMap(map, { encoding }));
      const s = back.get('s') as SparseTensor;
      expect(s.dtype).toBe('float32');
      expect([...s.indices]).toEqual([3, 500]);
      expect(s.values[0] as number).toBeCloseTo(0.1, 1);
      expect(s.values[1] as number).toBeCloseTo(-4, 2);
      expect([...(back.get('i') as Tensor).data]).toEqual([7, -70000]);
      expect([...(back.get('z') as Tensor).data]).toEqual([0, 0, 0]);
    }
  });

  it('refuses int8 encoding of non-finite values', () => {
    const map: UpdateMap = new Map([
      ['w', { dtype: 'float32', shape: [2], data: new Float32Array([1, Number.NaN]) }],
    ]);
    expect(expectCodecError(() => encodeTensorMap(map, { encoding: 'int8' }), 'INVALID').message).toMatch(
      /"w".*finite/,
    );
  });
});

describe('tensor codec: bad input', () => {
  it('refuses every truncated prefix of a message as TRUNCATED', () => {
    const bytes = smallMessage();
    for (let n = 0; n < bytes.length; n++)
      expectCodecError(() => decodeTensorMap(bytes.slice(0, n)), 'TRUNCATED');
  });

  it('refuses trailing bytes', () => {
    const bytes = smallMessage();
    const longer = new Uint8Array(bytes.length + 8);
    longer.set(bytes);
    expect(expectCodecError(() => decodeTensorMap(longer), 'CORRUPT').message).toMatch(
      /8 bytes after the end/,
    );
  });

  it('refuses a bad magic, an unknown version and unknown flags', () => {
    const bad = smallMessage();
    bad[0] = 0x58;
    expect(expectCodecError(() => decodeTensorMap(bad), 'CORRUPT').message).toMatch(/magic/);
    const v2 = smallMessage();
    v2[4] = 2;
    expect(expectCodecError(() => decodeTensorMap(v2), 'UNSUPPORTED').message).toMatch(/version 2/);
    const flagged = smallMessage();
    flagged[6] = 1;
    expectCodecError(() => decodeTensorMap(flagged), 'UNSUPPORTED');
  });

  it('detects any flipped byte of the header or directory, and survives flips anywhere', () => {
    const bytes = smallMessage();
    const directoryEnd = 24 + new DataView(bytes.buffer).getUint32(12, true);
    for (let i = 0; i < bytes.length; i++) {
      for (const mask of [0x01, 0x80, 0xff]) {
        const copy = bytes.slice();
        copy[i] = copy[i]! ^ mask;
        if (i < directoryEnd) expectCodecError(() => decodeTensorMap(copy));
        else {
          // Data bytes are not checksummed: a flip there changes values, or makes a sparse index invalid.
          try {
            expect([...decodeTensorMap(copy).keys()]).toEqual(['w', 'g', 'n']);
          } catch (err) {
            expect(err).toBeInstanceOf(CodecError);
            expect((err as CodecError).message).toMatch(/index \d+ out of range/);
          }
        }
      }
    }
  });

  it('refuses a declared length over the limit before reading further', () => {
    const bytes = smallMessage();
    expect(expectCodecError(() => decodeTensorMap(bytes, { maxBytes: 64 }), 'TOO_LARGE').message).toMatch(
      /exceeds the limit of 64/,
    );
    const huge = bytes.slice();
    new DataView(huge.buffer).setUint32(16, 0xfffffff8, true);
    expectCodecError(() => decodeTensorMap(huge), 'TOO_LARGE');
    expectCodecError(() => decodeTensorMap(huge, { maxBytes: 2 ** 40 }), 'TRUNCATED');
  });

  it('refuses lengths that disagree even when the checksum is forged', () => {
    const rewrite = (edit: (v: DataView) => void) => {
      const b = smallMessage();
      const v = new DataView(b.buffer);
      edit(v);
      v.setUint32(20, crcOf(b), true);
      return b;
    };
    // entry 0 ("w") record starts at 24: its count at 32, first dimension at 40.
    expectCodecError(() => decodeTensorMap(rewrite((v) => v.setUint32(32, 0xffffffff, true))), 'CORRUPT');
    expectCodecError(() => decodeTensorMap(rewrite((v) => v.setUint32(40, 0x40000000, true))), 'CORRUPT');
    expectCodecError(() => decodeTensorMap(rewrite((v) => v.setUint8(27, 200))), 'CORRUPT');
    expectCodecError(() => decodeTensorMap(rewrite((v) => v.setUint8(25, 42))), 'UNSUPPORTED');
    expectCodecError(() => decodeTensorMap(rewrite((v) => v.setUint32(8, 100000, true))), 'CORRUPT');
    expectCodecError(() => decodeTensorMap(rewrite((v) => v.setUint32(8, 2, true))), 'CORRUPT');
    expectCodecError(() => decodeTensorMap(rewrite((v) => v.setUint16(28, 0xffff, true))), 'CORRUPT');
  });

  it('refuses sparse indices out of range, on both sides', () => {
    const t: SparseTensor = {
      dtype: 'float32',
      shape: [4],
      indices: new Uint32Array([4]),
      values: new Float32Array(1),
    };
    expect(expectCodecError(() => encodeTensorMap(new Map([['s', t]])), 'INVALID').message).toMatch(
      /index 4 out of range/,
    );
    const ok = encodeTensorMap(new Map([['s', { ...t, indices: new Uint32Array([3]) }]]));
    const dataStart = 24 + new DataView(ok.buffer).getUint32(12, true);
    new DataView(ok.buffer).setUint32(dataStart, 9, true);
    expect(expectCodecError(() => decodeTensorMap(ok), 'CORRUPT').message).toMatch(/index 9 out of range/);
  });

  it('refuses to encode a tensor past 2^32 - 1 elements, before allocating', () => {
    const huge: UpdateMap = new Map([
      ['h', { dtype: 'uint8', shape: [65536, 65537], data: new Uint8Array(1) }],
    ]);
    expect(expectCodecError(() => encodeTensorMap(huge), 'TOO_LARGE').message).toMatch(
      /"h": 4295032832 elements/,
    );
  });

  it('refuses tensors whose data and shape disagree, and bad options', () => {
    const wrong: UpdateMap = new Map([['w', { dtype: 'float32', shape: [3], data: new Float32Array(2) }]]);
    expectCodecError(() => encodeTensorMap(wrong), 'INVALID');
    const ragged: UpdateMap = new Map([
      ['s', { dtype: 'int8', shape: [3], indices: new Uint32Array([0]), values: new Int8Array(2) }],
    ]);
    expectCodecError(() => encodeTensorMap(ragged), 'INVALID');
    const ok: UpdateMap = new Map([['w', { dtype: 'float32', shape: [1], data: new Float32Array(1) }]]);
    // biome-ignore lint/suspicious/noExplicitAny: deliberately wrong input
    expectCodecError(() => encodeTensorMap(ok, { encoding: 'zip' as any }), 'INVALID');
    // biome-ignore lint/suspicious/noExplicitAny: deliberately wrong input
    expectCodecError(() => decodeTensorMap([1, 2, 3] as any), 'INVALID');
    // biome-ignore lint/suspicious/noExplicitAny: deliberately wrong input
    expectCodecError(() => decodeTensorMap(encodeTensorMap(ok), { maxBytes: Number.NaN as any }), 'INVALID');
    // biome-ignore lint/suspicious/noExplicitAny: deliberately wrong input
    expectCodecError(() => encodeTensorMap({ w: ok.get('w') } as any), 'INVALID');
    // biome-ignore lint/suspicious/noExplicitAny: deliberately wrong input
    expectCodecError(() => encodeTensorMap(new Map([['w', null as any]])), 'INVALID');
  });

  it('refuses data of another array class than its dtype, which would overrun the planned layout', () => {
    const f64AsF32: UpdateMap = new Map([
      // biome-ignore lint/suspicious/noExplicitAny: deliberately wrong input
      ['w', { dtype: 'float32', shape: [2], data: new Float64Array(2) as any }],
    ]);
    expect(expectCodecError(() => encodeTensorMap(f64AsF32), 'INVALID').message).toMatch(
      /"w": data must be the typed array of float32/,
    );
    const badIndices: UpdateMap = new Map([
      // biome-ignore lint/suspicious/noExplicitAny: deliberately wrong input
      ['s', { dtype: 'int32', shape: [4], indices: new Int32Array([1]) as any, values: new Int32Array([5]) }],
    ]);
    expect(expectCodecError(() => encodeTensorMap(badIndices), 'INVALID').message).toMatch(/Uint32Array/);
  });

  it('throws only CodecError on random garbage', () => {
    const rng = createRng(5);
    for (let round = 0; round < 500; round++) {
      const bytes = round % 2 ? smallMessage() : new Uint8Array(rng.int(200));
      for (let k = 0; k < 1 + rng.int(4); k++) bytes[rng.int(bytes.length || 1)] = rng.int(256);
      if (round % 4 === 1) new DataView(bytes.buffer).setUint32(20, crcOf(bytes), true);
      try {
        decodeTensorMap(bytes);
      } catch (err) {
        expect(err).toBeInstanceOf(CodecError);
      }
    }
  });
});

/** CRC-32 of a message's header and directory, to forge a valid checksum over edited structure. */
function crcOf(bytes: Uint8Array): number {
  const dir = new DataView(bytes.buffer, bytes.byteOffset).getUint32(12, true);
  const parts = [bytes.subarray(0, 20), bytes.subarray(24, Math.min(bytes.length, 24 + dir))];
  let c = ~0;
  for (const part of parts) {
    for (const byte of part) {
      c ^= byte;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    }
  }
  return ~c >>> 0;
}
