import type { Tensor as TfTensor } from '@tensorflow/tfjs';
import type { Tensor as OrtTensor } from 'onnxruntime-node';
import type { Ort, Tf } from './backends.js';
import { TensorError } from './errors.js';
import { BYTES_PER_ELEMENT, type DType, type Tensor, type TypedArray } from './tensor.js';

/*
 * Where copies happen:
 * - toTf: float32, int32 and bool data go to tfjs as they are; the cpu backend keeps that very array (do not
 *   write to it while the tfjs tensor lives), wasm and tfjs-node copy it into their own memory. float64
 *   (to float32), int8, uint8 and int64 (to int32) are converted, which copies: tfjs has no such dtypes.
 * - fromTf: one copy out of the backend (`dataSync`-style read), except on cpu, which hands back its storage.
 * - toOrt / fromOrt: no copy; an onnxruntime CPU tensor wraps the typed array itself.
 */

type TfDType = 'float32' | 'int32' | 'bool';

function toTfData(t: Tensor): { data: Float32Array | Int32Array | Uint8Array; dtype: TfDType } {
  switch (t.dtype) {
    case 'float32':
      return { data: t.data as Float32Array, dtype: 'float32' };
    case 'int32':
      return { data: t.data as Int32Array, dtype: 'int32' };
    case 'bool':
      return { data: t.data as Uint8Array, dtype: 'bool' };
    case 'float64':
      return { data: Float32Array.from(t.data as Float64Array), dtype: 'float32' };
    case 'int8':
    case 'uint8':
      return { data: Int32Array.from(t.data as Int8Array | Uint8Array), dtype: 'int32' };
    case 'int64': {
      const src = t.data as BigInt64Array;
      const out = new Int32Array(src.length);
      for (let i = 0; i < src.length; i++) {
        const v = src[i]!;
        if (v > 2147483647n || v < -2147483648n) {
          throw new TensorError('INVALID', `int64 value ${v} at ${i} does not fit tfjs's int32`);
        }
        out[i] = Number(v);
      }
      return { data: out, dtype: 'int32' };
    }
    default:
      throw new TensorError('UNSUPPORTED_DTYPE', `dtype ${String(t.dtype)} has no tfjs equivalent`);
  }
}

/**
 * A tfjs tensor with the values of `t`. float64 becomes float32, int8/uint8/int64 become int32 (tfjs has only
 * float32, int32 and bool); an int64 value outside int32 is a `TensorError`. The caller disposes the result.
 */
export function toTf(tf: Tf, t: Tensor): TfTensor {
  const { data, dtype } = toTfData(t);
  return tf.tensor(data, [...t.shape], dtype);
}

/** A geoml tensor with the values of a tfjs tensor (float32, int32 or bool); the tfjs tensor is not disposed. */
export async function fromTf(x: TfTensor): Promise<Tensor> {
  const dtype = x.dtype;
  if (dtype !== 'float32' && dtype !== 'int32' && dtype !== 'bool') {
    throw new TensorError('UNSUPPORTED_DTYPE', `tfjs dtype ${dtype} has no geoml equivalent`);
  }
  const data = (await x.data()) as TypedArray;
  return { dtype, shape: [...x.shape], data } as Tensor;
}

/** Every geoml dtype has an onnxruntime dtype of the same name. */
const ORT_DTYPES: ReadonlySet<string> = new Set(Object.keys(BYTES_PER_ELEMENT));

/** An onnxruntime tensor wrapping `t.data` without copying (writes to either are seen by both). */
export function toOrt(ort: Pick<Ort, 'Tensor'>, t: Tensor): OrtTensor {
  return new ort.Tensor(t.dtype, t.data as never, [...t.shape]);
}

/** A geoml tensor over an onnxruntime CPU tensor's data, without copying. */
export function fromOrt(x: OrtTensor): Tensor {
  if (!ORT_DTYPES.has(x.type)) {
    throw new TensorError('UNSUPPORTED_DTYPE', `onnxruntime dtype ${x.type} has no geoml equivalent`);
  }
  if (x.location !== 'cpu') {
    throw new TensorError(
      'INVALID',
      `onnxruntime tensor lives on ${x.location}; download it to the CPU first`,
    );
  }
  return { dtype: x.type as DType, shape: [...x.dims], data: x.data as TypedArray } as Tensor;
}
