import { InProcessTransport, type KvStore, type Transport, TransportError } from '@geoml/transport';
import type { JsonValue, SelectionPolicy } from './policy.js';
import { SelectionError } from './selection-error.js';

/** The kv bucket selection state lives in unless told otherwise. */
export const SELECTION_BUCKET = 'geoml-selection';

/** The context key of state shared by every user of an application (a query without `uid`/`context`). */
export const SHARED_CONTEXT = '_';

/** What one kv entry holds: a policy's state for one application and one user or context. */
export interface StoredSelectionState<S extends JsonValue = JsonValue> {
  readonly policy: string;
  readonly models: readonly string[];
  readonly state: S;
}

/** A state as read, with the kv revision it was read at (0 when absent: a fresh state). */
export interface VersionedState<S extends JsonValue = JsonValue> {
  readonly state: S;
  readonly revision: number;
}

export interface SelectionStateStoreOptions {
  /** Compare-and-set attempts before an update fails with `CONFLICT`. Default 64. */
  readonly maxAttempts?: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Selection state per application and per user/context key, kept in a transport kv bucket under
 * `<app>.<context>`, so every frontend sharing the transport shares it and a restarted frontend finds it.
 * Updates are read-modify-write with `kv.update(key, value, previousRevision)`, retried when another writer
 * got there first (`WRONG_REVISION`), so concurrent feedback on two frontends is never lost.
 *
 * A stored state made by another policy or for another set of linked models is replaced by a fresh one.
 */
export class SelectionStateStore {
  private readonly kv: Promise<KvStore>;
  private readonly maxAttempts: number;

  constructor(kv: KvStore | Promise<KvStore>, options: SelectionStateStoreOptions = {}) {
    this.kv = Promise.resolve(kv);
    this.kv.catch(() => undefined);
    this.maxAttempts = options.maxAttempts ?? 64;
    if (!(Number.isInteger(this.maxAttempts) && this.maxAttempts >= 1)) {
      throw new RangeError(`maxAttempts must be a positive integer, got ${options.maxAttempts}`);
    }
  }

  /** A store in `transport`'s kv bucket `bucket`. */
  static over(
    transport: Transport,
    bucket = SELECTION_BUCKET,
    options?: SelectionStateStoreOptions,
  ): SelectionStateStore {
    return new SelectionStateStore(transport.kv(bucket), options);
  }

  /** A store private to this process (a fresh in-process transport): nothing shared, nothing persisted. */
  static inMemory(): SelectionStateStore {
    return SelectionStateStore.over(new InProcessTransport());
  }

  /** The kv key of an application's state for a user or context (any text; escaped to kv-safe tokens). */
  static key(app: string, context: string): string {
    return `${app}.${escapeToken(context)}`;
  }

  /** The current state, or `policy.init(models)` (revision 0) when none fits. */
  async read<S extends JsonValue>(
    app: string,
    context: string,
    policy: SelectionPolicy<S>,
    models: readonly string[],
  ): Promise<VersionedState<S>> {
    const kv = await this.kv;
    const entry = await kv.get(SelectionStateStore.key(app, context));
    return this.decode(entry, policy, models);
  }

  /**
   * Applies `change` to the current state and stores the result, retrying on concurrent writes. Returns
   * the stored state and its revision.
   */
  async modify<S extends JsonValue>(
    app: string,
    context: string,
    policy: SelectionPolicy<S>,
    models: readonly string[],
    change: (state: S) => S,
  ): Promise<VersionedState<S> & { attempts: number }> {
    const kv = await this.kv;
    const key = SelectionStateStore.key(app, context);
    for (let attempt = 1; attempt <= this.maxAttempts; attempt++) {
      const entry = await kv.get(key);
      const current = this.decode(entry, policy, models);
      const next = change(current.state);
      const record: StoredSelectionState<S> = { policy: policy.name, models: [...models], state: next };
      try {
        // A key that was deleted still has a revision; 0 only when there is no entry at all.
        const revision = await kv.update(key, encoder.encode(JSON.stringify(record)), entry?.revision ?? 0);
        return { state: next, revision, attempts: attempt };
      } catch (err) {
        if (err instanceof TransportError && err.code === 'WRONG_REVISION') continue;
        throw err;
      }
    }
    throw new SelectionError(
      'CONFLICT',
      `selection state ${key}: ${this.maxAttempts} concurrent writers in a row won the update; giving up`,
    );
  }

  /** Forgets an application's state for one context (or, with no context, the shared one). */
  async reset(app: string, context = SHARED_CONTEXT): Promise<void> {
    const kv = await this.kv;
    await kv.delete(SelectionStateStore.key(app, context));
  }

  private decode<S extends JsonValue>(
    entry: { value: Uint8Array; revision: number } | null,
    policy: SelectionPolicy<S>,
    models: readonly string[],
  ): VersionedState<S> {
    if (!entry || entry.value.length === 0) return { state: policy.init(models), revision: 0 };
    let record: StoredSelectionState<S>;
    try {
      record = JSON.parse(decoder.decode(entry.value)) as StoredSelectionState<S>;
    } catch (cause) {
      throw new SelectionError('CORRUPT_STATE', 'stored selection state is not JSON', { cause });
    }
    const fits =
      record !== null &&
      typeof record === 'object' &&
      record.policy === policy.name &&
      Array.isArray(record.models) &&
      record.models.length === models.length &&
      record.models.every((m, i) => m === models[i]);
    return { state: fits ? record.state : policy.init(models), revision: entry.revision };
  }
}

/** Text as one kv key token: letters, digits, `-` and `_` kept, every other UTF-8 byte as `=XX`. */
function escapeToken(text: string): string {
  if (text.length === 0) return SHARED_CONTEXT;
  let out = '';
  for (const byte of encoder.encode(text)) {
    const c = String.fromCharCode(byte);
    out += /[A-Za-z0-9_-]/.test(c) ? c : `=${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}
