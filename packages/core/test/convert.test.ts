import { beforeAll, describe, expect, it } from 'vitest';
import { loadOrt, loadTf, type Ort, type Tf } from '../src/backends.js';
import { fromOrt, fromTf, toOrt, toTf } from '../src/convert.js';
import { TensorError } from '../src/errors.js';
import type { Tensor } from '../src/tensor.js';

let tf: Tf;
let ort: Ort;

beforeAll(async () => {
  process.env.GEOML_QUIET = '1';
  delete process.env.GEOML_TF_BACKEND;
  tf = (await loadTf({ backend: 'wasm' })).tf;
  ort = await loadOrt();
});

describe('tfjs conversion (wasm backend)', () => {
  it('round-trips float32, int32 and bool tensors with their shapes', async () => {
    const cases: Tensor[] = [
      { dtype: 'float32', shape: [2, 3], data: new Float32Array([1.5, -2, 3, 4, 5, 6.25]) },
      { dtype: 'int32', shape: [4], data: new Int32Array([-7, 0, 2 ** 31 - 1, -(2 ** 31)]) },
      { dtype: 'bool', shape: [2, 1], data: new Uint8Array([1, 0]) },
      { dtype: 'float32', shape: [], data: new Float32Array([42]) },
    ];
    for (const t of cases) {
      const x = toTf(tf, t);
      expect(x.dtype).toBe(t.dtype);
      expect(x.shape).toEqual(t.shape);
      const back = await fromTf(x);
      x.dispose();
      expect(back.dtype).toBe(t.dtype);
      expect(back.shape).toEqual(t.shape);
      expect([...back.data]).toEqual([...t.data]);
    }
  });

  it('computes on converted tensors', async () => {
    const a = toTf(tf, { dtype: 'float32', shape: [2, 2], data: new Float32Array([1, 2, 3, 4]) });
    const y = tf.matMul(a, a);
    expect([...(await fromTf(y)).data]).toEqual([7, 10, 15, 22]);
    tf.dispose([a, y]);
  });

  it('widens dtypes tfjs lacks: float64 to float32, int8/uint8/int64 to int32', async () => {
    const f = toTf(tf, { dtype: 'float64', shape: [2], data: new Float64Array([0.1, 1e300]) });
    expect(f.dtype).toBe('float32');
    expect([...(await f.data())]).toEqual([Math.fround(0.1), Number.POSITIVE_INFINITY]);
    const i8 = toTf(tf, { dtype: 'int8', shape: [2], data: new Int8Array([-128, 127]) });
    expect(i8.dtype).toBe('int32');
    expect([...(await i8.data())]).toEqual([-128, 127]);
    const u8 = toTf(tf, { dtype: 'uint8', shape: [1], data: new Uint8Array([255]) });
    expect([...(await u8.data())]).toEqual([255]);
    const i64 = toTf(tf, { dtype: 'int64', shape: [2], data: new BigInt64Array([-5n, 2n ** 31n - 1n]) });
    expect([...(await i64.data())]).toEqual([-5, 2 ** 31 - 1]);
    tf.dispose([f, i8, u8, i64]);
  });

  it('refuses int64 values beyond int32 and tfjs dtypes geoml lacks', async () => {
    expect(() => toTf(tf, { dtype: 'int64', shape: [1], data: new BigInt64Array([2n ** 31n]) })).toThrow(
      /int64 value 2147483648 at 0 does not fit/,
    );
    const s = tf.tensor(['a', 'b']);
    await expect(fromTf(s)).rejects.toBeInstanceOf(TensorError);
    await expect(fromTf(s)).rejects.toThrow(/tfjs dtype string/);
    s.dispose();
  });

  it('leaves no tfjs tensors behind', async () => {
    const before = tf.memory().numTensors;
    const x = toTf(tf, { dtype: 'float32', shape: [3], data: new Float32Array(3) });
    await fromTf(x);
    x.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('onnxruntime conversion', () => {
  it('wraps the typed array without copying, both ways, for every dtype', () => {
    const cases: Tensor[] = [
      { dtype: 'float32', shape: [2, 2], data: new Float32Array([1, 2, 3, 4]) },
      { dtype: 'float64', shape: [1], data: new Float64Array([0.1]) },
      { dtype: 'int32', shape: [2], data: new Int32Array([1, -1]) },
      { dtype: 'int8', shape: [1], data: new Int8Array([-3]) },
      { dtype: 'uint8', shape: [1], data: new Uint8Array([200]) },
      { dtype: 'int64', shape: [1], data: new BigInt64Array([2n ** 40n]) },
      { dtype: 'bool', shape: [3], data: new Uint8Array([1, 0, 1]) },
    ];
    for (const t of cases) {
      const o = toOrt(ort, t);
      expect(o.type).toBe(t.dtype);
      expect(o.dims).toEqual(t.shape);
      expect(o.data).toBe(t.data);
      const back = fromOrt(o);
      expect(back.data).toBe(t.data);
      expect(back).toEqual(t);
    }
  });

  it('refuses onnxruntime dtypes geoml lacks', () => {
    const s = new ort.Tensor('string', ['a', 'b'], [2]);
    expect(() => fromOrt(s)).toThrow(TensorError);
    expect(() => fromOrt(s)).toThrow(/onnxruntime dtype string/);
  });
});
