import { WorkloadError } from './workload.js';

/**
 * LDA's shard-local state: each training document's token–topic assignments and topic counts. They never
 * go to the parameter servers (only the counts' deltas do), so a checkpoint saves them with the shard.
 */

/** A training document and its sampler state, owned by one shard. */
export interface LdaDocument {
  /** Word ids in text order. */
  readonly words: Uint16Array;
  /** Topic of each token; -1 until the token is first sampled. */
  readonly topics: Int16Array;
  /** Tokens of this document per topic (kept in step with `topics`). */
  readonly topicCounts: Int32Array;
}

/** A document none of whose tokens has been sampled yet. */
export function newDocument(words: Uint16Array, topics: number): LdaDocument {
  return { words, topics: new Int16Array(words.length).fill(-1), topicCounts: new Int32Array(topics) };
}

/** The token–topic assignments of `docs`, in order, as little-endian int16. */
export function saveTopics(docs: Iterable<LdaDocument>): Uint8Array {
  const list = [...docs];
  const out = new Uint8Array(list.reduce((n, d) => n + d.topics.length * 2, 0));
  const view = new DataView(out.buffer);
  let at = 0;
  for (const d of list) {
    for (const z of d.topics) {
      view.setInt16(at, z, true);
      at += 2;
    }
  }
  return out;
}

/** Sets the assignments saved by `saveTopics` and recounts each document's topics; checks before writing. */
export function restoreTopics(docs: readonly LdaDocument[], bytes: Uint8Array, topics: number): void {
  const tokens = docs.reduce((n, d) => n + d.topics.length, 0);
  if (bytes.length !== tokens * 2) {
    throw new WorkloadError(
      'INVALID_ARGUMENT',
      `LDA shard state holds ${bytes.length / 2} tokens, the shard ${tokens}`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < tokens; i++) {
    const z = view.getInt16(i * 2, true);
    if (z < -1 || z >= topics) throw new WorkloadError('INVALID_ARGUMENT', `LDA shard state has topic ${z}`);
  }
  let at = 0;
  for (const d of docs) {
    d.topicCounts.fill(0);
    for (let i = 0; i < d.topics.length; i++, at += 2) {
      const z = view.getInt16(at, true);
      d.topics[i] = z;
      if (z >= 0) d.topicCounts[z] = (d.topicCounts[z] as number) + 1;
    }
  }
}
