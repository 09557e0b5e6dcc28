import { tensor, type UpdateMap } from '@geoml/core';
import { GaiaError } from './errors.js';
import { decodeBitmap, decodeIndices, encodeBitmap, encodeIndices, indexBytes } from './index-coding.js';
import { encodeMessage, reheaded } from './wire.js';

/**
 * The headers of the mirror protocol between the same shard in different regions (reference/gaia.md
 * §1.2: data on the data lane; clocks and barrier indexes on the control lane).
 */

/** Significant updates of region (or, from a hub, group) `from`: its `seq`-th, made at clock `t`. */
export interface DataMeta {
  from: string;
  seq: number;
  t: number;
  /** int8 codes: their scale (one per message). */
  scale?: number;
  /** Its number on the link it travels (absent: `seq`, as on every link from a region that is no hub). */
  n?: number;
}

/**
 * Sender `from` reached clock `t` (`g` set: the group of hub `g` did); `ack`: the last data message
 * it received on this link; `h`: ms between that message's arrival and this report (the ack delay,
 * absent before any arrived); `sent`: data messages it sent on this link before this clock.
 */
export interface ClockMeta {
  from: string;
  t: number;
  ack: number;
  h?: number;
  sent: number;
  g?: string;
  /** Sent again (no news from the peer): its clock counts only if newer than one already counted. */
  r?: 1;
  /** Data after `ack` went missing (a later message arrived): the receiver of this sends it again. */
  nack?: 1;
}

/** The `n` keys (`all`: every key) of `from`'s message `seq` are on their way. */
export interface BarrierMeta {
  from: string;
  seq: number;
  n: number;
  all?: true;
}

/**
 * The control message announcing `keys` (sorted; `undefined`: every key) of `from`'s message `seq` to
 * a `size`-key shard: the keys as delta varints, or as a bitmap when that is smaller.
 */
export function barrierMessage(
  from: string,
  seq: number,
  keys: Uint32Array | undefined,
  size: number,
): Uint8Array {
  if (!keys) return encodeMessage<BarrierMeta>({ from, seq, n: 0, all: true });
  const bitmap = Math.ceil(size / 8) < indexBytes(keys);
  const x = bitmap ? encodeBitmap(keys, size) : encodeIndices(keys);
  return encodeMessage<BarrierMeta>(
    { from, seq, n: keys.length },
    new Map([[bitmap ? 'b' : 'x', tensor('uint8', [x.length], x)]]),
  );
}

/** The keys a barrier message announces, each below `size`; `GaiaError` `PROTOCOL` when malformed. */
export function announcedKeys(meta: BarrierMeta, tensors: UpdateMap, size: number): Uint32Array {
  if (meta.all) {
    const all = new Uint32Array(size);
    for (let i = 0; i < size; i++) all[i] = i;
    return all;
  }
  const x = tensors.get('x') ?? tensors.get('b');
  if (!x || 'indices' in x || x.dtype !== 'uint8') throw new GaiaError('PROTOCOL', 'bad barrier message');
  const bytes = x.data as Uint8Array;
  return tensors.has('x') ? decodeIndices(bytes, meta.n, size) : decodeBitmap(bytes, size, meta.n);
}

/** Data message `data` numbered `n` on its link: the same bytes when `n` is its `seq`, else re-headed. */
export function onLink(data: Uint8Array, meta: DataMeta, n: number): Uint8Array {
  if (n === (meta.n ?? meta.seq)) return data;
  const { n: _, ...rest } = meta;
  return reheaded<DataMeta>(data, n === meta.seq ? rest : { ...rest, n });
}
