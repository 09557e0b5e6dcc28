// The tensor-map codec: encoding here, decoding in codec-decode.ts, the wire format in codec-format.ts.
import {
  assertHost,
  crc32,
  DTYPE_CODE,
  ENCODINGS,
  type Encoding,
  HEADER_BYTES,
  MAGIC,
  MAX_U32,
  pad8,
  RECORD_FIXED_BYTES,
  STORED_BYTES,
  VERSION,
} from './codec-format.js';
import { CodecError } from './errors.js';
import { encodeHalfInto } from './fp16.js';
import { int8Scale, quantizeInto } from './quantize.js';
import {
  BYTES_PER_ELEMENT,
  isArrayOf,
  isSparse,
  type SparseTensor,
  type Tensor,
  type UpdateMap,
} from './tensor.js';

export { DEFAULT_MAX_MESSAGE_BYTES, type DecodeOptions, decodeTensorMap } from './codec-decode.js';
export type { Encoding } from './codec-format.js';

const utf8 = new TextEncoder();

/** Options of `encodeTensorMap` and `encodedSize`. */
export interface EncodeOptions {
  /**
   * Storage of float32/float64 values (dense values and sparse values). `fp16` and `int8` are lossy and
   * decode as float32; other dtypes are always stored raw. Default `raw`.
   */
  readonly encoding?: Encoding;
}

/** One entry of a message as the encoder lays it out. */
interface Plan {
  readonly name: Uint8Array;
  readonly value: Tensor | SparseTensor;
  readonly sparse: boolean;
  readonly encoding: Encoding;
  readonly count: number;
  readonly valueBytes: number;
  readonly scale: number;
}

function planEntry(key: string, value: Tensor | SparseTensor, requested: Encoding): Plan {
  if (typeof key !== 'string')
    throw new CodecError('INVALID', `tensor names must be strings, got ${typeof key}`);
  if (typeof value !== 'object' || value === null || !Array.isArray(value.shape)) {
    throw new CodecError('INVALID', `"${key}": not a tensor (needs dtype, shape and data or indices/values)`);
  }
  const name = utf8.encode(key);
  if (name.length > 0xffff)
    throw new CodecError('INVALID', `tensor name of ${name.length} bytes exceeds 65535`);
  const code = DTYPE_CODE.get(value.dtype);
  if (code === undefined)
    throw new CodecError('INVALID', `"${key}": unsupported dtype ${String(value.dtype)}`);
  if (value.shape.length > 255)
    throw new CodecError('INVALID', `"${key}": rank ${value.shape.length} exceeds 255`);
  let size = 1;
  for (const d of value.shape) {
    if (!Number.isInteger(d) || d < 0 || d > MAX_U32) {
      throw new CodecError('INVALID', `"${key}": invalid dimension ${d} in shape [${value.shape}]`);
    }
    size *= d;
  }
  if (size > MAX_U32) throw new CodecError('TOO_LARGE', `"${key}": ${size} elements exceed 2^32 - 1`);
  const sparse = isSparse(value);
  const values = sparse ? value.values : value.data;
  // A mismatched array class would make the copied byte length differ from the planned one.
  if (!isArrayOf(value.dtype, values)) {
    throw new CodecError(
      'INVALID',
      `"${key}": ${sparse ? 'values' : 'data'} must be the typed array of ${value.dtype}`,
    );
  }
  if (sparse && !(value.indices instanceof Uint32Array)) {
    throw new CodecError('INVALID', `"${key}": sparse indices must be a Uint32Array`);
  }
  if (sparse) {
    if (value.indices.length !== values.length) {
      throw new CodecError(
        'INVALID',
        `"${key}": sparse tensor has ${value.indices.length} indices but ${values.length} values`,
      );
    }
    for (let i = 0; i < value.indices.length; i++) {
      if (value.indices[i]! >= size) {
        throw new CodecError(
          'INVALID',
          `"${key}": index ${value.indices[i]} out of range for ${size} elements`,
        );
      }
    }
  } else if (values.length !== size) {
    throw new CodecError(
      'INVALID',
      `"${key}": shape [${value.shape}] needs ${size} elements, got ${values.length}`,
    );
  }
  const isFloat = value.dtype === 'float32' || value.dtype === 'float64';
  const encoding = isFloat ? requested : 'raw';
  const count = values.length;
  const per = encoding === 'raw' ? BYTES_PER_ELEMENT[value.dtype] : STORED_BYTES[encoding];
  const scale = encoding === 'int8' ? int8Scale(values as Float32Array | Float64Array, key) : 0;
  return { name, value, sparse, encoding, count, valueBytes: count * per, scale };
}

function recordBytes(p: Plan): number {
  return RECORD_FIXED_BYTES + 4 * p.value.shape.length + p.name.length;
}

function dataBytes(p: Plan): number {
  return (p.sparse ? pad8(4 * p.count) : 0) + pad8(p.valueBytes);
}

function plan(map: UpdateMap, opts: EncodeOptions | undefined) {
  const requested = opts?.encoding ?? 'raw';
  if (!ENCODINGS.includes(requested)) {
    throw new CodecError('INVALID', `unknown encoding "${String(requested)}" (use raw, fp16 or int8)`);
  }
  if (!(map instanceof Map)) throw new CodecError('INVALID', 'encodeTensorMap needs a Map of tensors');
  const plans: Plan[] = [];
  let directory = 0;
  let data = 0;
  for (const [key, value] of map) {
    const p = planEntry(key, value, requested);
    plans.push(p);
    directory += recordBytes(p);
    data += dataBytes(p);
  }
  directory = pad8(directory);
  const total = HEADER_BYTES + directory + data;
  if (total > MAX_U32) throw new CodecError('TOO_LARGE', `encoded size ${total} exceeds 4 GiB - 1`);
  if (plans.length > MAX_U32) throw new CodecError('TOO_LARGE', `${plans.length} entries exceed 2^32 - 1`);
  return { plans, directory, total };
}

/** Exact length in bytes of `encodeTensorMap(map, opts)`. */
export function encodedSize(map: UpdateMap, opts?: EncodeOptions): number {
  return plan(map, opts).total;
}

function bytesOf(a: ArrayBufferView): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** Uninitialised memory is fine here: every byte of the message, padding included, is written below. */
function allocateMessage(size: number): Uint8Array {
  const B = (globalThis as { Buffer?: { allocUnsafeSlow(n: number): Uint8Array } }).Buffer;
  if (B === undefined) return new Uint8Array(size);
  const b = B.allocUnsafeSlow(size);
  return new Uint8Array(b.buffer, b.byteOffset, size);
}

/**
 * Encodes named dense and sparse tensors into one message (format: see the top of codec.ts). The message is
 * allocated once at its exact size and the tensors' bytes are block-copied into it. Map order is kept.
 * Throws `CodecError` `INVALID` for a tensor whose shape and data disagree, a sparse index out of range,
 * or non-finite values under `int8`; `TOO_LARGE` past 4 GiB.
 */
export function encodeTensorMap(map: UpdateMap, opts?: EncodeOptions): Uint8Array {
  assertHost();
  const layout = plan(map, opts);
  const out = allocateMessage(layout.total);
  writeMessage(out, layout);
  return out;
}

/**
 * Encodes like `encodeTensorMap`, but into `target` at `offset` (which must lie on an 8-byte boundary of the
 * underlying memory), so that a caller framing the message with its own header needs one allocation, not
 * two. Returns the offset just past the message. `CodecError` `INVALID` when misaligned or too small.
 */
export function encodeTensorMapInto(
  map: UpdateMap,
  target: Uint8Array,
  offset: number,
  opts?: EncodeOptions,
): number {
  assertHost();
  const layout = plan(map, opts);
  if (!Number.isInteger(offset) || offset < 0 || (target.byteOffset + offset) % 8 !== 0) {
    throw new CodecError('INVALID', `offset ${offset} is not on an 8-byte boundary of the target's memory`);
  }
  if (target.length - offset < layout.total) {
    throw new CodecError(
      'INVALID',
      `message needs ${layout.total} bytes at offset ${offset}; the target has ${Math.max(0, target.length - offset)}`,
    );
  }
  writeMessage(target.subarray(offset, offset + layout.total), layout);
  return offset + layout.total;
}

/** Writes a planned message into `out`, which is exactly `total` bytes long and 8-byte aligned. */
function writeMessage(out: Uint8Array, { plans, directory, total }: ReturnType<typeof plan>): void {
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  view.setUint32(0, MAGIC, true);
  view.setUint16(4, VERSION, true);
  view.setUint16(6, 0, true);
  view.setUint32(8, plans.length, true);
  view.setUint32(12, directory, true);
  view.setUint32(16, total, true);
  out.fill(0, HEADER_BYTES, HEADER_BYTES + directory);

  let at = HEADER_BYTES;
  let data = HEADER_BYTES + directory;
  for (const p of plans) {
    const shape = p.value.shape;
    out[at] = p.sparse ? 1 : 0;
    // Lossy encodings decode as float32, so that is the dtype the record announces.
    out[at + 1] = DTYPE_CODE.get(p.encoding === 'raw' ? p.value.dtype : 'float32')!;
    out[at + 2] = ENCODINGS.indexOf(p.encoding);
    out[at + 3] = shape.length;
    view.setUint16(at + 4, p.name.length, true);
    view.setUint32(at + 8, p.count, true);
    view.setFloat32(at + 12, p.scale, true);
    at += RECORD_FIXED_BYTES;
    for (const d of shape) {
      view.setUint32(at, d, true);
      at += 4;
    }
    out.set(p.name, at);
    at += p.name.length;

    if (isSparse(p.value)) {
      out.set(bytesOf(p.value.indices), data);
      data = zeroPad(out, data + 4 * p.count);
    }
    const values = isSparse(p.value) ? p.value.values : p.value.data;
    if (p.encoding === 'raw') out.set(bytesOf(values), data);
    else if (p.encoding === 'fp16') {
      encodeHalfInto(
        values as Float32Array | Float64Array,
        new Uint16Array(out.buffer, out.byteOffset + data, p.count),
      );
    } else {
      quantizeInto(
        values as Float32Array | Float64Array,
        p.scale,
        new Int8Array(out.buffer, out.byteOffset + data, p.count),
      );
    }
    data = zeroPad(out, data + p.valueBytes);
  }
  view.setUint32(20, crc32(out, HEADER_BYTES, HEADER_BYTES + directory, crc32(out, 0, 20)), true);
}

function zeroPad(out: Uint8Array, end: number): number {
  const next = pad8(end);
  out.fill(0, end, next);
  return next;
}
