import {
  assertHost,
  crc32,
  DTYPE_CODES,
  ENCODINGS,
  HEADER_BYTES,
  MAGIC,
  pad8,
  RECORD_FIXED_BYTES,
  STORED_BYTES,
  VERSION,
} from './codec-format.js';
import { CodecError } from './errors.js';
import { decodeHalf } from './fp16.js';
import { dequantize } from './quantize.js';
import { BYTES_PER_ELEMENT, type SparseTensor, type TypedArray, type UpdateMap, viewOf } from './tensor.js';

const utf8Strict = new TextDecoder('utf-8', { fatal: true });

/** Default upper bound on a message's length accepted by `decodeTensorMap` (1 GiB). */
export const DEFAULT_MAX_MESSAGE_BYTES = 2 ** 30;

/** Options of `decodeTensorMap`. */
export interface DecodeOptions {
  /** Messages longer than this are refused with `CodecError` `TOO_LARGE`. Default 1 GiB. */
  readonly maxBytes?: number;
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
  if (typeof maxBytes !== 'number' || !(maxBytes >= 0)) {
    throw new CodecError('INVALID', `maxBytes must be a non-negative number, got ${String(maxBytes)}`);
  }
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
