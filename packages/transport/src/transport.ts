/**
 * The one interface everything that crosses a process or a region goes through. `InProcessTransport`
 * and `NatsTransport` implement it with the same semantics; `test/conformance.ts` holds them to it.
 * Subjects follow NATS: dot-separated tokens, `*` matches one token, `>` matches the rest.
 */

/** Message headers: NATS allows several values per key; most callers need one. */
export type Headers = Record<string, string>;

/**
 * `control` is the priority lane: on an emulated WAN link, control messages (clocks, barrier indexes)
 * overtake queued data. Transports without lanes treat both alike.
 */
export type Lane = 'data' | 'control';

export interface PublishOptions {
  headers?: Headers;
  /** Subject a responder should answer to. */
  reply?: string;
  lane?: Lane;
}

export interface Msg {
  readonly subject: string;
  readonly data: Uint8Array;
  readonly headers: Headers | undefined;
  readonly reply: string | undefined;
  /** Publishes `data` to `reply`; returns false when the message has no reply subject. */
  respond(data: Uint8Array, options?: { headers?: Headers }): boolean;
}

export interface SubscribeOptions {
  /** Members of one queue group share the messages of a subject: each goes to one of them. */
  queue?: string;
  /** Unsubscribe automatically after this many messages. */
  max?: number;
}

/** An async iterable of messages; iteration ends after `unsubscribe()`, `drain()` or `close()`. */
export interface Subscription extends AsyncIterable<Msg> {
  readonly subject: string;
  unsubscribe(): void;
  /** Resolves when the subscription has ended. */
  readonly closed: Promise<void>;
}

export interface RequestOptions {
  /** Milliseconds before the request fails with `TransportError` code `TIMEOUT`. Default 5000. */
  timeoutMs?: number;
  headers?: Headers;
  lane?: Lane;
}

export type KvOperation = 'PUT' | 'DEL';

export interface KvEntry {
  readonly bucket: string;
  readonly key: string;
  /** Empty for a delete. */
  readonly value: Uint8Array;
  /** Bucket-wide sequence number, increasing with every put and delete. */
  readonly revision: number;
  readonly operation: KvOperation;
}

export interface KvWatchOptions {
  /** A key or a wildcard pattern (`model.*`, `>`); default all keys. */
  key?: string;
  /** Deliver the latest value of each matching key before live updates. Default true. */
  includeHistory?: boolean;
}

/** Live updates; iteration ends after `stop()`. */
export interface KvWatch extends AsyncIterable<KvEntry> {
  stop(): void;
}

export interface KvOptions {
  /** Values kept per key (JetStream KV `history`). Default 1. */
  history?: number;
}

export interface KvStore {
  readonly bucket: string;
  /** The current entry of `key`, or null when it is absent or deleted. */
  get(key: string): Promise<KvEntry | null>;
  /** Stores `value`; returns the new revision. */
  put(key: string, value: Uint8Array): Promise<number>;
  /**
   * Stores `value` only when the key's current revision is `previousRevision` (0: the key must not
   * exist); otherwise fails with `TransportError` code `WRONG_REVISION`. For read-modify-write state.
   */
  update(key: string, value: Uint8Array, previousRevision: number): Promise<number>;
  delete(key: string): Promise<void>;
  /** Keys that currently hold a value, optionally matching a wildcard pattern. */
  keys(filter?: string): Promise<string[]>;
  watch(options?: KvWatchOptions): Promise<KvWatch>;
}

export interface BlobInfo {
  readonly bucket: string;
  readonly name: string;
  readonly size: number;
  /** Hex sha256 of the bytes. */
  readonly sha256: string;
}

/** Large byte arrays (tens of MiB): model files, checkpoints. */
export interface BlobStore {
  readonly bucket: string;
  put(name: string, data: Uint8Array): Promise<BlobInfo>;
  /** The bytes, or null when no blob has that name. */
  get(name: string): Promise<Uint8Array | null>;
  /**
   * The stored bytes themselves, not a copy, in memory every thread of this process can read (a view of
   * a `SharedArrayBuffer`), or null when no blob has that name: a large blob goes to a worker thread
   * without the caller's thread copying it. Read-only: writing to the view would change the stored
   * blob. Only stores that keep blobs in this process have it (`InProcessTransport`); use `get` elsewhere.
   */
  share?(name: string): Promise<Uint8Array | null>;
  info(name: string): Promise<BlobInfo | null>;
  delete(name: string): Promise<boolean>;
  list(): Promise<BlobInfo[]>;
}

export type TransportStatus =
  | { type: 'disconnect' }
  | { type: 'reconnecting' }
  | { type: 'reconnect' }
  | { type: 'error'; error: Error }
  | { type: 'closed' };

export interface Transport {
  /** Name of the region this connection belongs to. */
  readonly region: string;
  publish(subject: string, data: Uint8Array, options?: PublishOptions): void;
  subscribe(subject: string, options?: SubscribeOptions): Subscription;
  /**
   * Sends `data` and waits for the first reply. Fails with `TransportError` code `NO_RESPONDERS` at
   * once when nobody subscribes to `subject`, and `TIMEOUT` when nobody answers in time.
   */
  request(subject: string, data: Uint8Array, options?: RequestOptions): Promise<Msg>;
  kv(bucket: string, options?: KvOptions): Promise<KvStore>;
  blobs(bucket: string): Promise<BlobStore>;
  /** Resolves when everything published so far has reached the server (or the emulated network). */
  flush(): Promise<void>;
  /** Connection state changes, as they happen. Ends when the transport closes. */
  status(): AsyncIterable<TransportStatus>;
  /** Lets subscriptions finish the messages they hold, then closes. */
  drain(): Promise<void>;
  close(): Promise<void>;
  readonly isClosed: boolean;
}
