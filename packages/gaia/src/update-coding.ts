import { tensor, type UpdateMap } from '@geoml/core';
import { GaiaError } from './errors.js';
import { decodeBitmap, decodeIndices, encodeBitmap, encodeIndices } from './index-coding.js';
import type { Delta } from './parameter-shard.js';

/**
 * How a shard's shipped update is laid out on the wire (reference/gaia.md §1.3, "Wire-format detail"):
 * - `sparse`: (index, value) pairs, the indexes as delta varints (1–2 bytes each when keys are close);
 * - `bitmap`: one bit per key of the shard, then the values of the set bits in key order;
 * - `dense`: one value per key: the whole accumulator (the authors' `send_col=false`), which costs no
 *   more than the others at that size and also ships the insignificant residue.
 */
export type UpdateLayout = 'sparse' | 'bitmap' | 'dense';

/** Messages shipped in each layout. */
export type LayoutCounts = Record<UpdateLayout, number>;

export const noLayouts = (): LayoutCounts => ({ sparse: 0, bitmap: 0, dense: 0 });

/**
 * The smallest layout for `count` entries of a `size`-key shard whose varint indexes take `varintBytes`,
 * with `valueBytes` per value (4 float32, 1 int8). Ties go to the layout that ships more: dense, then
 * bitmap — the sparse pairs win only when strictly smaller than both.
 */
export function chooseLayout(
  count: number,
  varintBytes: number,
  size: number,
  valueBytes: number,
): UpdateLayout {
  const dense = size * valueBytes;
  const bitmap = Math.ceil(size / 8) + count * valueBytes;
  const sparse = varintBytes + count * valueBytes;
  if (dense <= bitmap && dense <= sparse) return 'dense';
  if (bitmap <= sparse) return 'bitmap';
  return 'sparse';
}

/** What a mirror ships: sorted shard-local `indices`, their values, and the int8 codes when quantized. */
export interface ShippedUpdate {
  readonly layout: UpdateLayout;
  readonly indices: Uint32Array;
  readonly values: Float32Array;
  readonly int8?: { readonly q: Int8Array; readonly scale: number };
}

/** The tensors of a shipped update of a `size`-key shard (the int8 scale travels in the message header). */
export function encodeShipped(u: ShippedUpdate, size: number): UpdateMap {
  const out: UpdateMap = new Map();
  const q = u.int8?.q;
  if (u.layout === 'dense') {
    if (q) {
      const d = new Int8Array(size);
      for (let j = 0; j < u.indices.length; j++) d[u.indices[j] as number] = q[j] as number;
      out.set('q', tensor('int8', [size], d));
    } else {
      const d = new Float32Array(size);
      for (let j = 0; j < u.indices.length; j++) d[u.indices[j] as number] = u.values[j] as number;
      out.set('v', tensor('float32', [size], d));
    }
    return out;
  }
  if (u.layout === 'bitmap') {
    const b = encodeBitmap(u.indices, size);
    out.set('b', tensor('uint8', [b.length], b));
  } else {
    const x = encodeIndices(u.indices);
    out.set('x', tensor('uint8', [x.length], x));
  }
  if (q) out.set('q', tensor('int8', [q.length], q));
  else out.set('v', tensor('float32', [u.values.length], u.values));
  return out;
}

/**
 * The delta a shipped update adds to a `size`-key shard, in whichever layout it came; `scale` is the
 * int8 scale from the header. `GaiaError` `PROTOCOL` on a malformed message. Values are not checked
 * here: the shard refuses a delta holding NaN/Inf, whatever its layout.
 */
export function decodeShipped(tensors: UpdateMap, size: number, scale: number | undefined): Delta {
  const v = tensors.get('v');
  const qt = tensors.get('q');
  const raw = v ?? qt;
  if (!raw || 'indices' in raw || (v && v.dtype !== 'float32') || (!v && qt?.dtype !== 'int8')) {
    throw new GaiaError('PROTOCOL', 'mirror update without float32 or int8 values');
  }
  const values = v
    ? (raw.data as Float32Array)
    : Float32Array.from(raw.data as Int8Array, (c) => c * (scale ?? Number.NaN));
  const x = tensors.get('x');
  const b = tensors.get('b');
  if (x) {
    if ('indices' in x || x.dtype !== 'uint8') throw new GaiaError('PROTOCOL', 'bad index tensor');
    return { indices: decodeIndices(x.data as Uint8Array, values.length, size), values };
  }
  if (b) {
    if ('indices' in b || b.dtype !== 'uint8') throw new GaiaError('PROTOCOL', 'bad bitmap tensor');
    return { indices: decodeBitmap(b.data as Uint8Array, size, values.length), values };
  }
  if (values.length !== size) {
    throw new GaiaError('PROTOCOL', `dense update has ${values.length} values, shard has ${size} keys`);
  }
  return values;
}
