import { CodecError } from './errors.js';
import type { DType } from './tensor.js';

/*
 * The tensor-map codec's wire format, shared by codec.ts (encoder) and codec-decode.ts. Version 1; all
 * integers little-endian.
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

export const MAGIC = 0x544c4d47; // "GMLT" read as a little-endian u32
export const VERSION = 1;
export const HEADER_BYTES = 24;
export const RECORD_FIXED_BYTES = 16;
export const MAX_U32 = 0xffffffff;

/** How float tensors are stored: exactly, as IEEE half floats, or as int8 codes with one scale per tensor. */
export type Encoding = 'raw' | 'fp16' | 'int8';

/** Wire codes of dtypes and encodings: their index in these lists. */
export const DTYPE_CODES: readonly DType[] = [
  'float32',
  'float64',
  'int32',
  'int8',
  'uint8',
  'int64',
  'bool',
];
export const DTYPE_CODE = new Map<DType, number>(DTYPE_CODES.map((d, i) => [d, i]));
export const ENCODINGS: readonly Encoding[] = ['raw', 'fp16', 'int8'];
/** Bytes per stored element of the lossy encodings (raw: the dtype's own size). */
export const STORED_BYTES: Readonly<Record<Encoding, number>> = { raw: 0, fp16: 2, int8: 1 };

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export const pad8 = (n: number) => (n + 7) & ~7;

let crcTable: Uint32Array | undefined;

/** CRC-32 (IEEE) of `bytes[start, end)`, continuing from `seed` (a previous result). */
export function crc32(bytes: Uint8Array, start: number, end: number, seed = 0): number {
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

/** Typed-array views read host byte order: refuse big-endian hosts rather than decode garbage. */
export function assertHost(): void {
  if (!LITTLE_ENDIAN_HOST) {
    throw new CodecError('UNSUPPORTED', 'the tensor codec needs a little-endian host');
  }
}
