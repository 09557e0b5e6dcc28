import type { Clock } from '@geoml/core';
import { TransportError } from './errors.js';
import { InProcessBlobStore } from './in-process-blobs.js';
import { copyBytes } from './in-process-copy.js';
import { type HubMessage, type HubSubscriber, InProcessHub } from './in-process-hub.js';
import { InProcessKvStore, validateBucketName } from './in-process-kv.js';
import { InProcessQueue } from './in-process-queue.js';
import { InProcessSubscription, receive } from './in-process-subscription.js';
import { validateQueue, validateSubject } from './subject.js';
import type {
  BlobStore,
  Headers,
  KvOptions,
  KvStore,
  Msg,
  PublishOptions,
  RequestOptions,
  SubscribeOptions,
  Subscription,
  Transport,
  TransportStatus,
} from './transport.js';

export interface InProcessTransportOptions {
  /** The hub to join; a private one (with `clock`) when absent. */
  hub?: InProcessHub;
  /** Region of this connection; `'local'` by default. */
  region?: string;
  /** Clock of the private hub; ignored when `hub` is given. */
  clock?: Clock;
}

const encoder = new TextEncoder();

const HEADER_KEY = /^[!-9;-~]+$/;

/** NATS headers travel as text lines: printable keys without `:`, values without line breaks. */
function checkHeaders(headers: Headers | undefined): void {
  if (headers === undefined) return;
  for (const [key, value] of Object.entries(headers)) {
    if (!HEADER_KEY.test(key))
      throw new TypeError(`header name '${key}' must be printable ASCII without ':'`);
    if (typeof value !== 'string' || /[\r\n]/.test(value)) {
      throw new TypeError(`header '${key}' must be a string without line breaks`);
    }
  }
}

function headerBytes(headers: Headers | undefined): number {
  if (!headers) return 0;
  let n = 0;
  for (const [key, value] of Object.entries(headers))
    n += encoder.encode(key).length + encoder.encode(value).length;
  return n;
}

/**
 * A `Transport` connection inside one process, the embedded default: no server, same semantics as NATS.
 * Payloads are copied on publish and each receiver owns its bytes. Delivery is asynchronous and FIFO per
 * publisher and subscriber. `flush()` resolves when everything this connection published so far has
 * reached its receivers (through the emulated network, when the hub has one).
 */
export class InProcessTransport implements Transport {
  readonly hub: InProcessHub;
  readonly region: string;
  private readonly id: number;
  private closed = false;
  private draining: Promise<void> | undefined;
  private inboxes = 0;
  private readonly subscriptions = new Set<InProcessSubscription>();
  private readonly outstanding = new Set<Promise<void>>();
  private readonly closers = new Set<() => void>();
  private readonly statusStreams = new Set<InProcessQueue<TransportStatus>>();

  constructor(options: InProcessTransportOptions = {}) {
    this.hub = options.hub ?? new InProcessHub({ clock: options.clock });
    this.region = options.region ?? 'local';
    this.hub.checkRegion(this.region);
    this.id = this.hub.nextConnectionId();
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Unread messages one subscription may hold; see `InProcessHubOptions.pendingLimit`. */
  get pendingLimit(): number {
    return this.hub.pendingLimit;
  }

  publish(subject: string, data: Uint8Array, options: PublishOptions = {}): void {
    this.ensureOpen();
    validateSubject(subject, false);
    if (options.reply !== undefined) validateSubject(options.reply, false, 'reply subject');
    if (!(data instanceof Uint8Array)) throw new TypeError('data must be a Uint8Array');
    if (data.byteLength > this.hub.maxPayload) {
      throw new TransportError(
        'TOO_LARGE',
        `payload of ${data.byteLength} bytes exceeds the maximum of ${this.hub.maxPayload}`,
      );
    }
    checkHeaders(options.headers);
    const headers = options.headers ? { ...options.headers } : undefined;
    const msg: HubMessage = {
      subject,
      data: copyBytes(data),
      headers,
      reply: options.reply,
      lane: options.lane ?? 'data',
      bytes: data.byteLength + encoder.encode(subject).length + headerBytes(headers),
    };
    this.track(this.hub.route(this.region, msg));
  }

  subscribe(subject: string, options: SubscribeOptions = {}): Subscription {
    this.ensureOpen();
    if (this.draining) throw new TransportError('CLOSED', 'connection is draining');
    validateSubject(subject, true);
    if (options.queue !== undefined) validateQueue(options.queue);
    if (options.max !== undefined && !(Number.isInteger(options.max) && options.max > 0)) {
      throw new RangeError(`max must be a positive integer, got ${options.max}`);
    }
    const sub = new InProcessSubscription(subject, options.queue, options.max, this.hub.pendingLimit, this);
    this.subscriptions.add(sub);
    this.hub.add(sub);
    return sub;
  }

  async request(subject: string, data: Uint8Array, options: RequestOptions = {}): Promise<Msg> {
    this.ensureOpen();
    validateSubject(subject, false);
    const timeoutMs = options.timeoutMs ?? 5000;
    if (!(timeoutMs > 0)) throw new RangeError(`timeoutMs must be positive, got ${timeoutMs}`);
    if (!this.hub.hasInterest(subject)) {
      throw new TransportError('NO_RESPONDERS', `no responders for '${subject}'`);
    }
    const inbox = `_INBOX.${this.id}.${++this.inboxes}`;
    const timer = new AbortController();
    let settle!: (result: Msg | Error) => void;
    const answer = new Promise<Msg | Error>((resolve) => {
      settle = resolve;
    });
    const catcher: HubSubscriber = {
      subject: inbox,
      tokens: inbox.split('.'),
      queue: undefined,
      region: this.region,
      expect: () => {},
      arrive: (msg) => {
        if (msg) settle(receive(msg, this));
      },
    };
    const removeCloser = this.onClose(() =>
      settle(new TransportError('CLOSED', `connection closed while requesting '${subject}'`)),
    );
    this.hub.add(catcher);
    try {
      this.hub.clock.sleep(timeoutMs, timer.signal).then(
        () => settle(new TransportError('TIMEOUT', `request '${subject}' timed out after ${timeoutMs} ms`)),
        () => {},
      );
      this.publish(subject, data, { reply: inbox, headers: options.headers, lane: options.lane });
      const result = await answer;
      if (result instanceof Error) throw result;
      return result;
    } finally {
      timer.abort();
      removeCloser();
      this.hub.remove(catcher);
    }
  }

  async kv(bucket: string, options: KvOptions = {}): Promise<KvStore> {
    this.ensureOpen();
    validateBucketName(bucket, 'kv bucket');
    const history = options.history ?? 1;
    if (!(Number.isInteger(history) && history >= 1 && history <= 64)) {
      throw new RangeError(`kv history must be an integer in 1..64, got ${history}`);
    }
    return new InProcessKvStore(this, this.hub.kvBucket(bucket, { history }));
  }

  async blobs(bucket: string): Promise<BlobStore> {
    this.ensureOpen();
    validateBucketName(bucket, 'blob bucket');
    return new InProcessBlobStore(this, this.hub.blobBucket(bucket));
  }

  async flush(): Promise<void> {
    this.ensureOpen();
    await this.settled();
  }

  status(): AsyncIterable<TransportStatus> {
    const stream = new InProcessQueue<TransportStatus>(1024, () => this.statusStreams.delete(stream));
    if (this.closed) stream.end();
    else this.statusStreams.add(stream);
    return stream;
  }

  drain(): Promise<void> {
    if (this.draining) return this.draining;
    if (this.closed) return Promise.reject(new TransportError('CLOSED', 'connection is closed'));
    this.draining = (async () => {
      // Like nats.js: subscriptions first (they take what is already on its way), then our own publishes.
      await Promise.all([...this.subscriptions].map((s) => s.drain()));
      await this.settled();
      this.shutdown();
    })();
    return this.draining;
  }

  async close(): Promise<void> {
    this.shutdown();
  }

  /** Throws `TransportError` `CLOSED` once the connection is closed. */
  ensureOpen(): void {
    if (this.closed) throw new TransportError('CLOSED', 'connection is closed');
  }

  /** Runs `callback` when the connection closes; returns its remover. */
  onClose(callback: () => void): () => void {
    this.closers.add(callback);
    return () => this.closers.delete(callback);
  }

  /** @internal Puts `error` on the status streams. */
  report(error: Error): void {
    for (const stream of this.statusStreams) stream.push({ type: 'error', error });
  }

  /** @internal A subscription has ended. */
  forget(subscription: InProcessSubscription): void {
    this.subscriptions.delete(subscription);
  }

  /** @internal */
  detach(subscriber: HubSubscriber): void {
    this.hub.remove(subscriber);
  }

  private track(delivery: Promise<void>): void {
    this.outstanding.add(delivery);
    delivery.then(() => this.outstanding.delete(delivery));
  }

  /** Resolves when the messages published so far have reached their receivers. */
  private async settled(): Promise<void> {
    await Promise.all([...this.outstanding]);
  }

  private shutdown(): void {
    if (this.closed) return;
    this.closed = true;
    for (const sub of [...this.subscriptions]) sub.stop();
    for (const close of [...this.closers]) close();
    this.closers.clear();
    for (const stream of this.statusStreams) {
      stream.push({ type: 'closed' });
      stream.end();
    }
    this.statusStreams.clear();
  }
}
