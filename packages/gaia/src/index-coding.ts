import { GaiaError } from './errors.js';

/**
 * Compact coding of sorted sparse indexes: differences from the previous index as LEB128 varints.
 * Significant updates of a shard are mostly a few keys apart, so an index costs 1–2 bytes instead of 4
 * — the other half, with int8 values, of what `asp-int8` saves on the WAN.
 */
export function encodeIndices(indices: Uint32Array): Uint8Array {
  const out = new Uint8Array(indices.length * 5);
  let at = 0;
  let prev = 0;
  for (let j = 0; j < indices.length; j++) {
    const i = indices[j] as number;
    if (j > 0 && i <= prev) throw new RangeError('indices must be strictly ascending');
    let d = j === 0 ? i : i - prev;
    prev = i;
    while (d >= 0x80) {
      out[at++] = (d & 0x7f) | 0x80;
      d >>>= 7;
    }
    out[at++] = d;
  }
  return out.slice(0, at);
}

/** Bytes `encodeIndices(indices)` would take (sorted ascending), without encoding them. */
export function indexBytes(indices: ArrayLike<number>): number {
  let n = 0;
  let prev = 0;
  for (let j = 0; j < indices.length; j++) {
    const i = indices[j] as number;
    let d = j === 0 ? i : i - prev;
    prev = i;
    n++;
    while (d >= 0x80) {
      n++;
      d >>>= 7;
    }
  }
  return n;
}

/** Decodes `count` indexes, each below `limit`; `GaiaError` `PROTOCOL` on malformed bytes. */
export function decodeIndices(bytes: Uint8Array, count: number, limit: number): Uint32Array {
  const out = new Uint32Array(count);
  let at = 0;
  let prev = 0;
  for (let j = 0; j < count; j++) {
    let d = 0;
    let shift = 0;
    for (;;) {
      if (at >= bytes.length || shift > 28)
        throw new GaiaError('PROTOCOL', 'truncated or overlong index varint');
      const b = bytes[at++] as number;
      d += (b & 0x7f) * 2 ** shift;
      shift += 7;
      if (b < 0x80) break;
    }
    const i = j === 0 ? d : prev + d;
    if ((j > 0 && d === 0) || i >= limit) throw new GaiaError('PROTOCOL', `index ${i} out of order or range`);
    out[j] = i;
    prev = i;
  }
  if (at !== bytes.length) throw new GaiaError('PROTOCOL', 'trailing bytes after indices');
  return out;
}

/** One bit per key of a `size`-key shard, set for `indices` (any order). */
export function encodeBitmap(indices: ArrayLike<number>, size: number): Uint8Array {
  const b = new Uint8Array(Math.ceil(size / 8));
  for (let j = 0; j < indices.length; j++) {
    const i = indices[j] as number;
    b[i >>> 3] = (b[i >>> 3] as number) | (1 << (i & 7));
  }
  return b;
}

/**
 * The `count` keys a bitmap of a `size`-key shard sets, ascending; `GaiaError` `PROTOCOL` when its
 * length is not the shard's, or it sets another number of keys or one past the shard.
 */
export function decodeBitmap(bits: Uint8Array, size: number, count: number): Uint32Array {
  if (bits.length !== Math.ceil(size / 8)) {
    throw new GaiaError('PROTOCOL', `bitmap of a ${size}-key shard must hold ${Math.ceil(size / 8)} bytes`);
  }
  const out = new Uint32Array(count);
  let j = 0;
  for (let i = 0; i < size; i++) {
    if (((bits[i >>> 3] as number) >>> (i & 7)) & 1) {
      if (j === count) throw new GaiaError('PROTOCOL', `bitmap sets more keys than its ${count} values`);
      out[j++] = i;
    }
  }
  for (let i = size; i < bits.length * 8; i++) {
    if (((bits[i >>> 3] as number) >>> (i & 7)) & 1)
      throw new GaiaError('PROTOCOL', 'bitmap sets a key past the shard');
  }
  if (j !== count) throw new GaiaError('PROTOCOL', `bitmap sets ${j} keys for ${count} values`);
  return out;
}
