import { CodecError } from './errors.js';
import { decodeHalf, encodeHalfInto } from './fp16.js';
import { dequantize, int8Scale, quantizeInto } from './quantize.js';
import {
  allocate,
  BYTES_PER_ELEMENT,
  type DType,
  isSparse,
  type SparseTensor,
  type Tensor,
  type TypedArray,
  type UpdateMap,
} from './tensor.js';

/*
 * Wire format, version 1. All integers little-endian.
 *
 *   header (24 bytes)
 *     0  u8[4] magic "GMLT"
 *     4  u16   version (1)
 *     6  u16   flags (0; any other value is refused as unsupported)
 *     8  u32   entry count
 *    12  u32   directory length D in bytes (a multiple of 8)
 *    16  u32   total message length in bytes
 *    20  u32   CRC-32 of bytes [0, 20) and of the directory
 *   directory (D bytes, zero-padded), one record per entry:
 *     u8 kind (0 dense, 1 sparse) · u8 dtype · u8 encoding (0 raw, 1 fp16, 2 int8) · u8 rank
 *     u16 name length · u16 reserved (0) · u32 stored element count · f32 int8 scale (else 0)
 *     u32 dims[rank] · UTF-8 name
 *   data, from byte 24 + D, each section starting on an 8-byte boundary, in entry order:
 *     sparse: indices (u32[count]) then values; dense: values (count = product of dims).
 *
 * The CRC covers the structure (names, shapes, lengths), not the data: checking every data byte would cost
 * more than the copy it guards, and transports already checksum their frames.
 */

const MAGIC = 0x544c4d47; // "GMLT" read as a little-endian u32
const VERSION = 1;
const HEADER_BYTES = 24;
const RECORD_FIXED_BYTES = 16;
const MAX_U32 = 0xffffffff;

/** Default upper bound on a message's length accepted by `decodeTensorMap` (1 GiB). */
export const DEFAULT_MAX_MESSAGE_BYTES = 2 ** 30;

/** How float tensors are stored: exactly, as IEEE half floats, or as int8 codes with one scale per tensor. */
export type Encoding = 'raw' | 'fp16' | 'int8';

/** Options of `encodeTensorMap` and `encodedSize`. */
export interface EncodeOptions {
  /**
   * Storage of float32/float64 values (dense values and sparse values). `fp16` and `int8` are lossy and
   * decode as float32; other dtypes are always stored raw. Default `raw`.
   */
  readonly encoding?: Encoding;
}

/** Options of `decodeTensorMap`. */
export interface DecodeOptions {
  /** Messages longer than this are refused with `CodecError` `TOO_LARGE`. Default 1 GiB. */
  readonly maxBytes?: number;
}

const DTYPE_CODES: readonly DType[] = ['float32', 'float64', 'int32', 'int8', 'uint8', 'int64', 'bool'];
const DTYPE_CODE = new Map<DType, number>(DTYPE_CODES.map((d, i) => [d, i]));
const ENCODINGS: readonly Encoding[] = ['raw', 'fp16', 'int8'];
const STORED_BYTES: Readonly<Record<Encoding, number>> = { raw: 0, fp16: 2, int8: 1 };

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

const utf8 = new TextEncoder();
const utf8Strict = new TextDecoder('utf-8', { fatal: true });

const pad8 = (n: number) => (n + 7) & ~7;

let crcTable: Uint32Array | undefined;

function crc32(bytes: Uint8Array, start: number, end: number, seed = 0): number {
  if (crcTable === undefined) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let c = ~seed;
  for (let i = start; i < end; i++) c = crcTable[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

function assertHost(): void {
  if (!LITTLE_ENDIAN_HOST) {
    throw new CodecError('UNSUPPORTED', 'the tensor codec needs a little-endian host');
  }
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

function corrupt(message: string): CodecError {
  return new CodecError('CORRUPT', message);
}

/** A reader over the directory that refuses to step past its end. */
class DirectoryReader {
  constructor(
    private readonly view: DataView,
    private at: number,
    private readonly end: number,
  ) {}

  take(n: number, what: string): number {
    if (n > this.end - this.at) throw corrupt(`directory ends inside ${what}`);
    const at = this.at;
    this.at += n;
    return at;
  }

  u8(what: string): number {
    return this.view.getUint8(this.take(1, what));
  }

  u16(what: string): number {
    return this.view.getUint16(this.take(2, what), true);
  }

  u32(what: string): number {
    return this.view.getUint32(this.take(4, what), true);
  }

  f32(what: string): number {
    return this.view.getFloat32(this.take(4, what), true);
  }

  rest(): number {
    return this.end - this.at;
  }
}

type ViewCtor = new (buffer: ArrayBufferLike, byteOffset: number, length: number) => TypedArray;

/** A `dtype` view of `length` elements over `buffer` (tensor.ts owns the dtype -> array class mapping). */
function viewOf(dtype: DType, buffer: ArrayBufferLike, byteOffset: number, length: number): TypedArray {
  const View = allocate(dtype, 0).constructor as ViewCtor;
  return new View(buffer, byteOffset, length);
}

/**
 * Decodes a message of `encodeTensorMap`. Raw tensors are typed-array VIEWS into `bytes` (no copy): they
 * stay valid as long as `bytes` is not reused, and writing to them writes into `bytes`. Views need
 * `bytes.byteOffset` to be a multiple of 8; when it is not (e.g. a slice of a pooled Node Buffer), the
 * message is copied once into a fresh aligned buffer and the views point there. `fp16` and `int8` values
 * decode into new float32 arrays.
 *
 * Throws `CodecError`: `TRUNCATED` (shorter than its header says), `TOO_LARGE` (over `maxBytes`),
 * `CORRUPT` (bad magic, checksum, lengths or indices), `UNSUPPORTED` (unknown version, flags, dtype or
 * encoding). It never reads out of bounds and allocates only after lengths are checked.
 */
export function decodeTensorMap(bytes: Uint8Array, opts?: DecodeOptions): UpdateMap {
  assertHost();
  if (!(bytes instanceof Uint8Array)) throw new CodecError('INVALID', 'decodeTensorMap needs a Uint8Array');
  const maxBytes = opts?.maxBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  const have = bytes.byteLength;
  if (have < 4)
    throw new CodecError('TRUNCATED', `message of ${have} bytes is shorter than its 24-byte header`);
  let view = new DataView(bytes.buffer, bytes.byteOffset, have);
  if (view.getUint32(0, true) !== MAGIC) throw corrupt('bad magic: not a geoml tensor message');
  if (have < HEADER_BYTES) {
    throw new CodecError('TRUNCATED', `message of ${have} bytes is shorter than its 24-byte header`);
  }
  const version = view.getUint16(4, true);
  if (version !== VERSION) {
    throw new CodecError(
      'UNSUPPORTED',
      `message version ${version} is not supported (this codec reads ${VERSION})`,
    );
  }
  const flags = view.getUint16(6, true);
  if (flags !== 0)
    throw new CodecError('UNSUPPORTED', `message flags 0x${flags.toString(16)} are not supported`);
  const count = view.getUint32(8, true);
  const directory = view.getUint32(12, true);
  const total = view.getUint32(16, true);
  if (total > maxBytes)
    throw new CodecError('TOO_LARGE', `message of ${total} bytes exceeds the limit of ${maxBytes}`);
  if (have < total) throw new CodecError('TRUNCATED', `message truncated: ${have} of ${total} bytes`);
  if (have > total) throw corrupt(`${have - total} bytes after the end of a ${total}-byte message`);
  if (directory % 8 !== 0 || directory > total - HEADER_BYTES) {
    throw corrupt(`directory length ${directory} does not fit a ${total}-byte message`);
  }
  if (count > directory / RECORD_FIXED_BYTES)
    throw corrupt(`${count} entries cannot fit a ${directory}-byte directory`);
  const crc = crc32(bytes, HEADER_BYTES, HEADER_BYTES + directory, crc32(bytes, 0, 20));
  if (crc !== view.getUint32(20, true)) throw corrupt('directory checksum mismatch');

  // Typed-array views need their element alignment; copy the message once when the caller's is off.
  let message = bytes;
  if (bytes.byteOffset % 8 !== 0) {
    message = new Uint8Array(total);
    message.set(bytes);
    view = new DataView(message.buffer, 0, total);
  }

  const reader = new DirectoryReader(view, HEADER_BYTES, HEADER_BYTES + directory);
  const result: UpdateMap = new Map();
  let data = HEADER_BYTES + directory;
  const section = (n: number, what: string): number => {
    if (n > total - data) throw corrupt(`${what} of ${n} bytes runs past the end of the message`);
    const at = data;
    data += pad8(n);
    if (data > total) throw corrupt(`${what} padding runs past the end of the message`);
    return message.byteOffset + at;
  };

  for (let e = 0; e < count; e++) {
    const kind = reader.u8('an entry');
    const dtype = DTYPE_CODES[reader.u8('an entry')];
    const encoding = ENCODINGS[reader.u8('an entry')];
    const rank = reader.u8('an entry');
    const nameLength = reader.u16('an entry');
    reader.u16('an entry');
    const n = reader.u32('an entry');
    const scale = reader.f32('an entry');
    if (kind > 1) throw new CodecError('UNSUPPORTED', `entry ${e}: unknown kind ${kind}`);
    if (dtype === undefined) throw new CodecError('UNSUPPORTED', `entry ${e}: unknown dtype code`);
    if (encoding === undefined) throw new CodecError('UNSUPPORTED', `entry ${e}: unknown encoding code`);
    const shape: number[] = [];
    let size = 1;
    for (let i = 0; i < rank; i++) {
      const d = reader.u32('a shape');
      shape.push(d);
      size *= d;
    }
    const nameAt = reader.take(nameLength, 'a name');
    let name: string;
    try {
      name = utf8Strict.decode(message.slice(nameAt, nameAt + nameLength)); // slice: TextDecoder refuses shared memory
    } catch (cause) {
      throw new CodecError('CORRUPT', `entry ${e}: name is not valid UTF-8`, { cause });
    }
    const what = `"${name}"`;
    if (result.has(name)) throw corrupt(`${what} appears twice`);
    if (encoding !== 'raw' && dtype !== 'float32') {
      throw corrupt(`${what}: ${encoding} encoding with dtype ${dtype}`);
    }
    if (kind === 0 ? n !== size : n > size) {
      throw corrupt(`${what}: ${n} stored elements do not fit shape [${shape}]`);
    }
    if (!Number.isFinite(scale) || scale < 0) throw corrupt(`${what}: invalid int8 scale ${scale}`);

    let indices: Uint32Array | undefined;
    if (kind === 1) {
      indices = new Uint32Array(message.buffer, section(4 * n, `${what} indices`), n);
      for (let i = 0; i < n; i++) {
        if (indices[i]! >= size)
          throw corrupt(`${what}: index ${indices[i]} out of range for ${size} elements`);
      }
    }
    const per = encoding === 'raw' ? BYTES_PER_ELEMENT[dtype] : STORED_BYTES[encoding];
    const at = section(n * per, `${what} values`);
    let values: TypedArray;
    if (encoding === 'fp16') values = decodeHalf(new Uint16Array(message.buffer, at, n));
    else if (encoding === 'int8') values = dequantize(new Int8Array(message.buffer, at, n), scale);
    else values = viewOf(dtype, message.buffer, at, n);

    if (indices === undefined) result.set(name, { dtype, shape, data: values });
    else result.set(name, { dtype, shape, indices, values } as SparseTensor);
  }
  if (reader.rest() >= 8) throw corrupt('directory holds more than its entry count');
  if (data !== total) throw corrupt(`${total - data} unexplained bytes after the last tensor`);
  return result;
}
