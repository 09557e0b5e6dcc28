import { createHash, type Hash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { failure, type TaskOutcome } from './query.js';

export interface PredictionCacheOptions {
  /** Most completed outputs held. */
  readonly maxEntries: number;
  /** Byte budget of completed outputs (their estimated size plus key). */
  readonly maxBytes: number;
}

/** How a lookup was served: from a stored output, by joining an identical query's execution, or not. */
export type CacheLookup = 'hit' | 'coalesced' | 'miss';

export interface CacheStats {
  readonly hits: number;
  /** Lookups that joined an identical query already executing (no extra model execution). */
  readonly coalesced: number;
  readonly misses: number;
  /** Completed outputs held, and their estimated bytes. */
  readonly entries: number;
  readonly bytes: number;
  /** Executions in flight that later identical queries can join. */
  readonly pending: number;
}

interface Pending {
  readonly outcome: Promise<TaskOutcome>;
  /** Past this (clock ms) the execution is presumed lost: later queries start their own. */
  readonly deadline: number;
}

/**
 * Clipper's prediction cache: outputs keyed by model, version and a hash of the input, so a new version
 * misses naturally; an identical query arriving while the first still executes joins that execution (one
 * pending entry, a promise) instead of running the model again.
 *
 * Unlike Clipper's open-source cache (reference/clipper.md §1.6), a pending entry never outlives its
 * execution: it leaves as soon as the execution fails, is dropped or expires, and every query waiting on it
 * gets that failure; and one still pending past its task's deadline (a replica that hangs) is bypassed, so
 * no later query can attach to a promise that never settles. Only successful outputs are stored, in an LRU
 * bounded by entries and bytes.
 *
 * Outputs are shared, not copied: every hit and every joined query receives the same object, so callers
 * must treat outputs as read-only.
 */
export class PredictionCache {
  private readonly outputs: LRUCache<string, { readonly output: unknown }>;
  private readonly pending = new Map<string, Pending>();
  private hits = 0;
  private coalesced = 0;
  private misses = 0;

  constructor(options: PredictionCacheOptions) {
    this.outputs = new LRUCache<string, { readonly output: unknown }>({
      max: options.maxEntries,
      maxSize: options.maxBytes,
      sizeCalculation: (value, key) => Math.max(1, estimateBytes(value.output) + key.length),
    });
  }

  /**
   * The cache key of `input` for a model version: `model`, `version` and a SHA-256 of the input. A
   * multi-row query (`rows` given) is one entry, as Triton's response cache keys a whole request; its key
   * never equals a one-input query's, whose output has no row dimension.
   */
  key(model: string, version: string, input: unknown, rows?: number): string {
    const key = `${model}\u0000${version}\u0000${hashInput(input)}`;
    return rows === undefined ? key : `${key}\u0000${rows}`;
  }

  /**
   * Answers from the cache, or joins the identical pending execution, or starts `execute` (a task whose
   * deadline is `deadline`) and makes it the pending entry for `key`. `now` is the caller's clock time.
   * The returned outcome settles when the stored output, the joined execution or `execute` does.
   */
  fetch<O>(
    key: string,
    now: number,
    deadline: number,
    execute: () => Promise<TaskOutcome<O>>,
  ): { lookup: CacheLookup; outcome: Promise<TaskOutcome<O>> } {
    const stored = this.outputs.get(key);
    if (stored) {
      this.hits++;
      return { lookup: 'hit', outcome: Promise.resolve({ ok: true, output: stored.output as O }) };
    }
    const joined = this.pending.get(key);
    if (joined && joined.deadline > now) {
      this.coalesced++;
      return { lookup: 'coalesced', outcome: joined.outcome as Promise<TaskOutcome<O>> };
    }
    this.misses++;
    const outcome = settleSafely(execute);
    const entry: Pending = { outcome, deadline };
    this.pending.set(key, entry);
    void outcome.then((result) => {
      // Only this execution's entry leaves: a newer one may have replaced it after it went stale.
      if (this.pending.get(key) === entry) this.pending.delete(key);
      // A late success is still stored: the next identical query is then a hit (as in Clipper).
      if (result.ok) this.outputs.set(key, { output: result.output });
    });
    return { lookup: 'miss', outcome };
  }

  /** A stored output for `key`, counting neither hit nor miss. */
  peek(key: string): unknown {
    return this.outputs.peek(key)?.output;
  }

  /** Forgets the stored outputs of a model (one version, or all); pending executions finish normally. */
  invalidate(model: string, version?: string): number {
    const prefix = version === undefined ? `${model}\u0000` : `${model}\u0000${version}\u0000`;
    let n = 0;
    for (const key of [...this.outputs.keys()]) {
      if (key.startsWith(prefix)) {
        this.outputs.delete(key);
        n++;
      }
    }
    return n;
  }

  stats(): CacheStats {
    return {
      hits: this.hits,
      coalesced: this.coalesced,
      misses: this.misses,
      entries: this.outputs.size,
      bytes: this.outputs.calculatedSize,
      pending: this.pending.size,
    };
  }
}

/** Runs `execute` so that a throw or a rejection becomes a failed outcome: waiters never see a rejection. */
function settleSafely<O>(execute: () => Promise<TaskOutcome<O>>): Promise<TaskOutcome<O>> {
  const asFailure = (cause: unknown) =>
    failure(
      'model-error',
      `shared execution failed: ${cause instanceof Error ? cause.message : String(cause)}`,
      cause,
    );
  try {
    return execute().then((outcome) => outcome, asFailure);
  } catch (cause) {
    return Promise.resolve(asFailure(cause));
  }
}

/**
 * A SHA-256 of an input's content: typed arrays by their bytes (with their type and length, so a tensor's
 * dtype, shape and data all count), strings, numbers and the rest as canonical JSON (object keys sorted).
 * Every field is length- or type-prefixed, so distinct inputs never serialise alike.
 */
export function hashInput(input: unknown): string {
  const hash = createHash('sha256');
  const text: string[] = [];
  feed(hash, text, input, 0);
  if (text.length > 0) hash.update(text.join(''));
  return hash.digest('base64url');
}

function feed(hash: Hash, text: string[], value: unknown, depth: number): void {
  if (depth > 64) throw new RangeError('input nested deeper than 64 levels');
  if (value === null) text.push('n');
  else if (value === undefined) text.push('u');
  else if (typeof value === 'string') text.push(`s${value.length}:`, value);
  else if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') {
    text.push(`${typeof value}:${String(value)};`);
  } else if (ArrayBuffer.isView(value)) {
    text.push(`${value.constructor.name}${value.byteLength}:`);
    hash.update(text.join(''));
    text.length = 0;
    hash.update(new Uint8Array(value.buffer, value.byteOffset, value.byteLength));
  } else if (Array.isArray(value)) {
    text.push(`[${value.length}:`);
    for (const item of value) feed(hash, text, item, depth + 1);
    text.push(']');
  } else if (typeof value === 'object') {
    const keys = Object.keys(value).sort();
    text.push(`{${keys.length}:`);
    for (const key of keys) {
      text.push(`${key.length}:`, key);
      feed(hash, text, (value as Record<string, unknown>)[key], depth + 1);
    }
    text.push('}');
  } else {
    text.push(`${typeof value};`);
  }
}

/** A rough size of an output in bytes, for the cache's byte budget. */
export function estimateBytes(value: unknown, depth = 0): number {
  if (value === null || value === undefined) return 8;
  if (typeof value === 'string') return 2 * value.length + 16;
  if (typeof value !== 'object') return 16;
  if (ArrayBuffer.isView(value)) return value.byteLength + 64;
  if (depth > 16) return 64;
  let n = 32;
  if (Array.isArray(value)) for (const item of value) n += estimateBytes(item, depth + 1);
  else {
    for (const [key, item] of Object.entries(value)) n += 2 * key.length + estimateBytes(item, depth + 1);
  }
  return n;
}
