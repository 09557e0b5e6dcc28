import { TransportError } from './errors.js';
import { copyBytes } from './in-process-copy.js';
import { InProcessQueue } from './in-process-queue.js';
import { matchTokens, validateSubject } from './subject.js';
import type { KvEntry, KvOperation, KvStore, KvWatch, KvWatchOptions } from './transport.js';

/** JetStream KV naming rules, so a name that works in process also works against NATS. */
const BUCKET_NAME = /^[-\w]+$/;
const KEY = /^[-/=.\w]+$/;

/** Throws `BAD_SUBJECT` unless `name` is a valid kv bucket or blob store name. */
export function validateBucketName(name: string, what: string): void {
  if (typeof name !== 'string' || !BUCKET_NAME.test(name)) {
    throw new TransportError('BAD_SUBJECT', `${what} name '${name}' must match ${BUCKET_NAME}`);
  }
}

/** Throws `BAD_SUBJECT` unless `key` is a valid kv key (or, with `wildcards`, a key pattern). */
export function validateKey(key: string, wildcards: boolean): void {
  if (typeof key !== 'string') throw new TransportError('BAD_SUBJECT', 'kv key must be a string');
  validateSubject(key, wildcards, 'kv key');
  for (const token of key.split('.')) {
    if (wildcards && (token === '*' || token === '>')) continue;
    if (!KEY.test(token)) {
      throw new TransportError('BAD_SUBJECT', `kv key '${key}' may only hold letters, digits and -/=_.`);
    }
  }
}

/**
 * One kv bucket, shared by every connection of a hub: a log with bucket-wide revisions (like the JetStream
 * stream under a NATS KV bucket) that keeps the last `history` entries of each key.
 */
export class InProcessKvBucket {
  private revision = 0;
  private readonly entries = new Map<string, KvEntry[]>();
  private readonly watchers = new Set<(entry: KvEntry) => void>();

  constructor(
    readonly name: string,
    readonly history: number,
  ) {}

  /** The newest entry of `key`, a delete marker included. */
  latest(key: string): KvEntry | undefined {
    const list = this.entries.get(key);
    return list?.[list.length - 1];
  }

  /**
   * Appends an entry. With `expected`, only when the key's newest revision is `expected`; 0 means the key
   * is absent or deleted (what nats.js `kv.create` accepts).
   */
  write(key: string, value: Uint8Array, operation: KvOperation, expected?: number): number {
    if (expected !== undefined) {
      const last = this.latest(key);
      const ok =
        expected === 0 ? last === undefined || last.operation === 'DEL' : last?.revision === expected;
      if (!ok) {
        throw new TransportError(
          'WRONG_REVISION',
          `kv ${this.name}/${key}: expected revision ${expected}, found ${last?.revision ?? 0}`,
        );
      }
    }
    const entry: KvEntry = { bucket: this.name, key, value, revision: ++this.revision, operation };
    let list = this.entries.get(key);
    if (!list) {
      list = [];
      this.entries.set(key, list);
    }
    list.push(entry);
    if (list.length > this.history) list.splice(0, list.length - this.history);
    for (const watcher of this.watchers) watcher(entry);
    return entry.revision;
  }

  /** The newest entry of each key matching `tokens`, in revision order (delete markers included). */
  snapshot(tokens: readonly string[]): KvEntry[] {
    const out: KvEntry[] = [];
    for (const [key, list] of this.entries) {
      if (matchTokens(tokens, key.split('.'))) out.push(list[list.length - 1]!);
    }
    return out.sort((a, b) => a.revision - b.revision);
  }

  watch(listener: (entry: KvEntry) => void): () => void {
    this.watchers.add(listener);
    return () => this.watchers.delete(listener);
  }
}

/** What a kv store view needs from its connection. */
export interface KvOwner {
  /** Throws `CLOSED` once the connection is closed. */
  ensureOpen(): void;
  /** Registers a callback run when the connection closes; returns its remover. */
  onClose(callback: () => void): () => void;
  readonly pendingLimit: number;
  /** Reports a problem on the connection's status stream. */
  report(error: Error): void;
}

function copyEntry(entry: KvEntry): KvEntry {
  return { ...entry, value: copyBytes(entry.value) };
}

/** A connection's view of a bucket: every call fails with `CLOSED` after the connection closes. */
export class InProcessKvStore implements KvStore {
  constructor(
    private readonly owner: KvOwner,
    private readonly store: InProcessKvBucket,
  ) {}

  get bucket(): string {
    return this.store.name;
  }

  async get(key: string): Promise<KvEntry | null> {
    this.owner.ensureOpen();
    validateKey(key, false);
    const entry = this.store.latest(key);
    return entry && entry.operation === 'PUT' ? copyEntry(entry) : null;
  }

  async put(key: string, value: Uint8Array): Promise<number> {
    this.owner.ensureOpen();
    validateKey(key, false);
    return this.store.write(key, copyBytes(value), 'PUT');
  }

  async update(key: string, value: Uint8Array, previousRevision: number): Promise<number> {
    this.owner.ensureOpen();
    validateKey(key, false);
    if (!Number.isInteger(previousRevision) || previousRevision < 0) {
      throw new RangeError(`previousRevision must be an integer >= 0, got ${previousRevision}`);
    }
    return this.store.write(key, copyBytes(value), 'PUT', previousRevision);
  }

  async delete(key: string): Promise<void> {
    this.owner.ensureOpen();
    validateKey(key, false);
    this.store.write(key, new Uint8Array(0), 'DEL');
  }

  async keys(filter = '>'): Promise<string[]> {
    this.owner.ensureOpen();
    validateKey(filter, true);
    return this.store
      .snapshot(filter.split('.'))
      .filter((e) => e.operation === 'PUT')
      .map((e) => e.key);
  }

  async watch(options: KvWatchOptions = {}): Promise<KvWatch> {
    this.owner.ensureOpen();
    const pattern = options.key ?? '>';
    validateKey(pattern, true);
    const tokens = pattern.split('.');
    let stop = () => {};
    const queue = new InProcessQueue<KvEntry>(this.owner.pendingLimit, () => stop());
    if (options.includeHistory ?? true) {
      // The current values only: a key deleted before the watch has none (as NatsTransport does).
      for (const entry of this.store.snapshot(tokens)) {
        if (entry.operation === 'PUT') queue.push(copyEntry(entry));
      }
    }
    const unwatch = this.store.watch((entry) => {
      if (!matchTokens(tokens, entry.key.split('.'))) return;
      if (!queue.push(copyEntry(entry)) && !queue.isEnded) {
        this.owner.report(
          new TransportError(
            'TOO_LARGE',
            `slow consumer: kv watch of ${this.store.name}/${pattern} holds ${queue.size} unread entries; ` +
              `dropped revision ${entry.revision}`,
          ),
        );
      }
    });
    const removeCloser = this.owner.onClose(() => stop());
    stop = () => {
      unwatch();
      removeCloser();
      queue.end();
    };
    return {
      stop: () => stop(),
      [Symbol.asyncIterator]: () => queue[Symbol.asyncIterator](),
    };
  }
}
