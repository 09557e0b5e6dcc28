/**
 * IEEE 754 half precision (binary16) for the codec's lossy `fp16` encoding of float updates.
 * Encoding rounds to nearest, ties to even; finite values beyond the half range saturate to ±65504
 * (an update turned into ±Infinity would poison the parameters it is added to); ±Infinity is kept and
 * NaN stays NaN. Relative error of normal values (|x| ≥ 2^-14) is at most 2^-11.
 */

/** Largest finite half-precision value. */
export const FP16_MAX = 65504;

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The binary16 bit pattern nearest to `value`. */
export function toHalf(value: number): number {
  f32[0] = value;
  return halfOfFloatBits(u32[0]!);
}

// 2^-1 as float32: adding it to a float32 below 2^-14 lines the half-subnormal bits up with its low mantissa
// bits, and float32 addition rounds them to nearest even (the magic-number method described by F. Giesen).
const SUBNORMAL_MAGIC_BITS = 126 << 23;
const SUBNORMAL_MAGIC = new Float32Array(new Uint32Array([SUBNORMAL_MAGIC_BITS]).buffer)[0]!;

/** The binary16 bit pattern nearest to the float32 whose bit pattern is `x`. */
function halfOfFloatBits(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const abs = x & 0x7fffffff;
  let half: number;
  if (abs >= 0x47800000) {
    // >= 65536: NaN stays (quiet) NaN, Infinity stays, finite values saturate.
    half = abs > 0x7f800000 ? 0x7e00 : abs === 0x7f800000 ? 0x7c00 : 0x7bff;
  } else if (abs < 0x38800000) {
    // Below 2^-14: a half subnormal or zero.
    u32[0] = abs;
    f32[0] = f32[0]! + SUBNORMAL_MAGIC;
    half = u32[0]! - SUBNORMAL_MAGIC_BITS;
  } else {
    // Normal: rebias the exponent and round the 13 dropped mantissa bits to nearest, ties to even.
    half = (abs - 0x38000000 + 0xfff + ((abs >>> 13) & 1)) >>> 13;
    if (half > 0x7bff) half = 0x7bff; // rounding up past 65504 saturates rather than overflowing
  }
  return sign | half;
}

/** The number a binary16 bit pattern stands for. */
export function fromHalf(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exp = (bits >>> 10) & 0x1f;
  const mant = bits & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant === 0 ? sign * Number.POSITIVE_INFINITY : Number.NaN;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

let decodeTable: Float32Array | undefined;

/** All 65536 half values as float32, built on first use (256 KiB) so decoding is one lookup per element. */
function table(): Float32Array {
  if (decodeTable === undefined) {
    decodeTable = new Float32Array(65536);
    for (let i = 0; i < 65536; i++) decodeTable[i] = fromHalf(i);
  }
  return decodeTable;
}

/** Writes the half bit patterns of `src` into `dst` (same length). */
export function encodeHalfInto(src: Float32Array | Float64Array, dst: Uint16Array): void {
  if (src instanceof Float32Array) {
    // Read float32 bit patterns straight from memory rather than through a scratch store per element.
    const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
    for (let i = 0; i < bits.length; i++) dst[i] = halfOfFloatBits(bits[i]!);
  } else {
    for (let i = 0; i < src.length; i++) dst[i] = toHalf(src[i]!);
  }
}

/** A new float32 array with the values of the half bit patterns in `src`. */
export function decodeHalf(src: Uint16Array): Float32Array {
  const t = table();
  const out = new Float32Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = t[src[i]!]!;
  return out;
}
