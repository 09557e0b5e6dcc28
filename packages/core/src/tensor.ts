import { TensorError } from './errors.js';

/** Element types a geoml tensor can hold; the names match onnxruntime's and the codec's. */
export type DType = 'float32' | 'float64' | 'int32' | 'int8' | 'uint8' | 'int64' | 'bool';

export interface TypedArrayOf {
  float32: Float32Array;
  float64: Float64Array;
  int32: Int32Array;
  int8: Int8Array;
  uint8: Uint8Array;
  int64: BigInt64Array;
  bool: Uint8Array;
}

export type TypedArray = TypedArrayOf[DType];

/** A dense tensor: a typed array viewed with a shape. Constructors never copy `data`. */
export interface Tensor<D extends DType = DType> {
  readonly dtype: D;
  readonly shape: readonly number[];
  readonly data: TypedArrayOf[D];
}

/**
 * A sparse update of a dense tensor of `shape`: `values[i]` belongs at flat index `indices[i]`.
 * Gaia ships significant updates in this form.
 */
export interface SparseTensor<D extends DType = DType> {
  readonly dtype: D;
  readonly shape: readonly number[];
  readonly indices: Uint32Array;
  readonly values: TypedArrayOf[D];
}

/** Named tensors: a model's parameters, or a dense update of them. Insertion order is kept. */
export type TensorMap = Map<string, Tensor>;

/** Named updates, each dense or sparse. */
export type UpdateMap = Map<string, Tensor | SparseTensor>;

export const BYTES_PER_ELEMENT: Readonly<Record<DType, number>> = {
  float32: 4,
  float64: 8,
  int32: 4,
  int8: 1,
  uint8: 1,
  int64: 8,
  bool: 1,
};

const ARRAY_OF: { readonly [D in DType]: new (length: number) => TypedArrayOf[D] } = {
  float32: Float32Array,
  float64: Float64Array,
  int32: Int32Array,
  int8: Int8Array,
  uint8: Uint8Array,
  int64: BigInt64Array,
  bool: Uint8Array,
};

/** Number of elements of a shape; `[]` is a scalar with one element. */
export function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0)
      throw new TensorError('INVALID', `invalid dimension ${d} in shape [${shape}]`);
    n *= d;
  }
  return n;
}

/** Wraps `data` (no copy) as a tensor of `shape`; throws `TensorError` when the sizes disagree. */
export function tensor<D extends DType>(
  dtype: D,
  shape: readonly number[],
  data: TypedArrayOf[D],
): Tensor<D> {
  const n = sizeOf(shape);
  if (data.length !== n) {
    throw new TensorError(
      'SHAPE_MISMATCH',
      `${dtype} tensor of shape [${shape}] needs ${n} elements, got ${data.length}`,
    );
  }
  if (!(data instanceof ARRAY_OF[dtype])) {
    throw new TensorError('UNSUPPORTED_DTYPE', `data for dtype ${dtype} must be a ${ARRAY_OF[dtype].name}`);
  }
  return { dtype, shape: [...shape], data };
}

/** A new zero-filled tensor. */
export function zeros<D extends DType>(dtype: D, shape: readonly number[]): Tensor<D> {
  return { dtype, shape: [...shape], data: new ARRAY_OF[dtype](sizeOf(shape)) };
}

/** A new typed array of `dtype` with `length` elements. */
export function allocate<D extends DType>(dtype: D, length: number): TypedArrayOf[D] {
  return new ARRAY_OF[dtype](length);
}

type ViewCtor = new (buffer: ArrayBufferLike, byteOffset: number, length: number) => TypedArray;

/** True when `a` is the typed-array class tensors of `dtype` hold (so its byte length is as planned). */
export function isArrayOf(dtype: DType, a: unknown): boolean {
  return a instanceof ARRAY_OF[dtype];
}

/** A `dtype` view of `length` elements over `buffer` from `byteOffset` (no copy). */
export function viewOf<D extends DType>(
  dtype: D,
  buffer: ArrayBufferLike,
  byteOffset: number,
  length: number,
): TypedArrayOf[D] {
  return new (ARRAY_OF[dtype] as unknown as ViewCtor)(buffer, byteOffset, length) as TypedArrayOf[D];
}

/**
 * A typed array of `dtype` with `length` elements, not zero-filled: for a caller that overwrites every
 * element (a batch stacked from its queries' rows), where clearing megabytes first is wasted work.
 */
export function allocateUnfilled<D extends DType>(dtype: D, length: number): TypedArrayOf[D] {
  // Node's uninitialised memory where there is a Buffer (core also runs without one).
  const B = (globalThis as { Buffer?: { allocUnsafeSlow(n: number): Uint8Array } }).Buffer;
  if (B === undefined) return allocate(dtype, length);
  const bytes = B.allocUnsafeSlow(length * BYTES_PER_ELEMENT[dtype]);
  return viewOf(dtype, bytes.buffer, bytes.byteOffset, length);
}

/** True when `value` is a sparse tensor rather than a dense one. */
export function isSparse(value: Tensor | SparseTensor): value is SparseTensor {
  return 'indices' in value;
}
