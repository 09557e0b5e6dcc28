import { decodeTensorMap, encodeTensorMap, type UpdateMap } from '@geoml/core';
import { GaiaError } from './errors.js';

/**
 * The engine's messages: a small JSON header (who, which clock, which sequence number) followed by the
 * tensors in core's binary codec, starting on an 8-byte boundary so they decode as views.
 *
 *   u32 header length H · H bytes UTF-8 JSON · zero padding to 8 · codec bytes (absent when no tensors)
 */
export interface Envelope<M> {
  readonly meta: M;
  readonly tensors: UpdateMap;
}

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

/** Where the codec bytes start after a header of `n` bytes. */
const bodyStart = (n: number) => (4 + n + 7) & ~7;

export function encodeMessage<M>(meta: M, tensors?: UpdateMap): Uint8Array {
  return frame(meta, tensors && tensors.size > 0 ? encodeTensorMap(tensors) : undefined);
}

/** Decodes a message; `GaiaError` `PROTOCOL` when it is malformed. */
export function decodeMessage<M>(bytes: Uint8Array): Envelope<M> {
  try {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const n = view.getUint32(0, true);
    if (4 + n > bytes.length) throw new RangeError('header longer than message');
    const meta = JSON.parse(utf8Decoder.decode(bytes.subarray(4, 4 + n))) as M;
    const start = bodyStart(n);
    const tensors: UpdateMap = start < bytes.length ? decodeTensorMap(bytes.subarray(start)) : new Map();
    return { meta, tensors };
  } catch (cause) {
    throw new GaiaError('PROTOCOL', `malformed engine message of ${bytes.length} bytes`, { cause });
  }
}

/** `bytes` (a valid message) under header `meta`, its tensors' bytes kept as they are. */
export function reheaded<M>(bytes: Uint8Array, meta: M): Uint8Array {
  const n = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(0, true);
  return frame(meta, bytes.subarray(Math.min(bytes.length, bodyStart(n))));
}

function frame<M>(meta: M, body: Uint8Array | undefined): Uint8Array {
  const head = utf8.encode(JSON.stringify(meta));
  const start = bodyStart(head.length);
  const out = new Uint8Array(start + (body?.length ?? 0));
  new DataView(out.buffer).setUint32(0, head.length, true);
  out.set(head, 4);
  if (body) out.set(body, start);
  return out;
}
