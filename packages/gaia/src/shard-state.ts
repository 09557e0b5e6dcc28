import { WorkloadError } from './workload.js';

// Layout (little-endian): magic, sampler word count, sampler words (u32), then the workload's local bytes.
const MAGIC = 0x31535347; // "GSS1"

/** One shard's checkpoint bytes: its sampler words and the workload's local state. */
export function encodeShardState(sampler: Uint32Array, local: Uint8Array): Uint8Array {
  const head = 8 + sampler.length * 4;
  const out = new Uint8Array(head + local.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, MAGIC, true);
  view.setUint32(4, sampler.length, true);
  for (let i = 0; i < sampler.length; i++) view.setUint32(8 + i * 4, sampler[i] as number, true);
  out.set(local, head);
  return out;
}

/** The parts of `encodeShardState`'s bytes; `WorkloadError` `INVALID_ARGUMENT` for anything else. */
export function decodeShardState(bytes: Uint8Array): { sampler: Uint32Array; local: Uint8Array } {
  if (!(bytes instanceof Uint8Array) || bytes.length < 8) {
    throw new WorkloadError('INVALID_ARGUMENT', 'shard state must be the bytes saveState() returned');
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const words = view.getUint32(4, true);
  if (view.getUint32(0, true) !== MAGIC || bytes.length < 8 + words * 4) {
    throw new WorkloadError('INVALID_ARGUMENT', 'shard state is not a saved shard state, or is truncated');
  }
  const sampler = new Uint32Array(words);
  for (let i = 0; i < words; i++) sampler[i] = view.getUint32(8 + i * 4, true);
  return { sampler, local: bytes.subarray(8 + words * 4) };
}
