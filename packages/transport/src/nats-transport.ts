/**
 * `Transport` over a real NATS deployment (`@nats-io/transport-node` 3.x): subjects, queue groups and
 * headers map one to one; kv is JetStream KV, blobs the JetStream Object Store. Reconnects forever by
 * default, and the client re-subscribes after a reconnect, so subscriptions survive a server restart.
 * Lanes are ignored: a real network has no priority lane.
 */
import { parseConfig } from '@geoml/core';
import { Kvm } from '@nats-io/kv';
import { Objm } from '@nats-io/obj';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { z } from 'zod';
import { TransportError } from './errors.js';
import { NatsBlobStore } from './nats-blobs.js';
import { mapNatsError } from './nats-errors.js';
import { NatsKvStore, type NatsStoreContext, validateBucketName } from './nats-kv.js';
import { type NatsTransportOptions, natsConnectionOptions } from './nats-options.js';
import { StatusFeed } from './nats-status.js';
import { NatsTransportMsg, NatsTransportSubscription, toNatsHeaders } from './nats-subscription.js';
import { validateQueue, validateSubject } from './subject.js';
import type {
  BlobStore,
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

export type { NatsTransportOptions };

const kvOptionsSchema = z.object({ history: z.number().int().min(1).max(64).default(1) }).strict();

/**
 * A connection to a NATS deployment as a geoml `Transport`. Create with `NatsTransport.connect(options)`;
 * `nc` exposes the nats.js connection for what the interface does not cover.
 */
export class NatsTransport implements Transport {
  private readonly kvs = new Map<string, Promise<KvStore>>();
  private readonly stores = new Map<string, Promise<BlobStore>>();
  private readonly feed = new StatusFeed();
  private readonly checkSize = (bytes: number, what: string) => {
    const max = this.nc.info?.max_payload;
    if (max !== undefined && bytes > max) {
      throw new TransportError(
        'TOO_LARGE',
        `${what}: ${bytes} bytes exceed the server's max_payload of ${max}; send large data through blobs()`,
      );
    }
  };

  private constructor(
    /** The underlying nats.js connection, for what the Transport interface does not cover. */
    readonly nc: NatsConnection,
    readonly region: string,
    private readonly requestTimeoutMs: number,
  ) {
    this.watchStatus();
  }

  /** Connects to a NATS deployment; fails with `TransportError` `CONNECTION` when no server accepts. */
  static async connect(options: NatsTransportOptions): Promise<NatsTransport> {
    const { parsed: o, connection: co } = natsConnectionOptions(options);
    let nc: NatsConnection;
    try {
      nc = await connect(co);
    } catch (err) {
      const servers = Array.isArray(o.servers) ? o.servers.join(', ') : o.servers;
      const message = err instanceof Error ? err.message : String(err);
      throw new TransportError('CONNECTION', `cannot connect to NATS at ${servers}: ${message}`, {
        cause: err,
      });
    }
    return new NatsTransport(nc, o.region, o.requestTimeoutMs);
  }

  /** What the kv and blob stores need from their connection. */
  private readonly context: NatsStoreContext = {
    ensureOpen: (what) => this.ensureOpen(what),
    fail: (err, what) => this.fail(err, what),
  };

  /** Maps a client error; any failure once the connection is closed is `CLOSED`. */
  private fail(err: unknown, what: string): TransportError {
    if (!(err instanceof TransportError) && this.nc.isClosed()) {
      return new TransportError('CLOSED', `${what}: the transport is closed`, { cause: err });
    }
    return mapNatsError(err, what);
  }

  /** Largest message payload the connected server accepts, in bytes. */
  get maxPayload(): number {
    return this.nc.info?.max_payload ?? 1024 * 1024;
  }

  get isClosed(): boolean {
    return this.nc.isClosed();
  }

  private ensureOpen(what: string): void {
    if (this.nc.isClosed()) throw new TransportError('CLOSED', `${what}: the transport is closed`);
  }

  publish(subject: string, data: Uint8Array, options?: PublishOptions): void {
    this.ensureOpen(`publish to ${subject}`);
    validateSubject(subject, false);
    if (options?.reply !== undefined) validateSubject(options.reply, false, 'reply subject');
    this.checkSize(data.length, `publish to ${subject}`);
    try {
      // nats.js queues the caller's buffer until the next flush; copy so later changes cannot leak out.
      this.nc.publish(subject, data.slice(), {
        headers: toNatsHeaders(options?.headers),
        reply: options?.reply,
      });
    } catch (err) {
      throw this.fail(err, `publish to ${subject}`);
    }
  }

  subscribe(subject: string, options?: SubscribeOptions): Subscription {
    this.ensureOpen(`subscribe to ${subject}`);
    validateSubject(subject, true);
    if (options?.queue !== undefined) validateQueue(options.queue);
    try {
      const sub = this.nc.subscribe(subject, { queue: options?.queue, max: options?.max });
      return new NatsTransportSubscription(sub, subject, this.checkSize);
    } catch (err) {
      throw this.fail(err, `subscribe to ${subject}`);
    }
  }

  async request(subject: string, data: Uint8Array, options?: RequestOptions): Promise<Msg> {
    this.ensureOpen(`request to ${subject}`);
    validateSubject(subject, false);
    this.checkSize(data.length, `request to ${subject}`);
    try {
      const m = await this.nc.request(subject, data.slice(), {
        timeout: options?.timeoutMs ?? this.requestTimeoutMs,
        headers: toNatsHeaders(options?.headers),
      });
      return new NatsTransportMsg(m, this.checkSize);
    } catch (err) {
      throw this.fail(err, `request to ${subject}`);
    }
  }

  async kv(bucket: string, options?: KvOptions): Promise<KvStore> {
    validateBucketName(bucket, 'kv bucket');
    const { history } = parseConfig(kvOptionsSchema, options ?? {}, `kv(${bucket}) options`);
    this.ensureOpen(`kv ${bucket}`);
    let store = this.kvs.get(bucket);
    if (!store) {
      // An existing bucket is opened as it is; `history` only applies when this call creates it.
      store = new Kvm(this.nc).create(bucket, { history }).then(
        (kv) => new NatsKvStore(bucket, kv, this.context),
        (err) => {
          this.kvs.delete(bucket);
          throw this.fail(err, `kv ${bucket}`);
        },
      );
      this.kvs.set(bucket, store);
    }
    return store;
  }

  async blobs(bucket: string): Promise<BlobStore> {
    validateBucketName(bucket, 'blob bucket');
    this.ensureOpen(`blobs ${bucket}`);
    let store = this.stores.get(bucket);
    if (!store) {
      store = new Objm(this.nc).create(bucket).then(
        (os) => new NatsBlobStore(bucket, os, this.context),
        (err) => {
          this.stores.delete(bucket);
          throw this.fail(err, `blobs ${bucket}`);
        },
      );
      this.stores.set(bucket, store);
    }
    return store;
  }

  async flush(): Promise<void> {
    this.ensureOpen('flush');
    try {
      await this.nc.flush();
    } catch (err) {
      throw this.fail(err, 'flush');
    }
  }

  status(): AsyncIterable<TransportStatus> {
    return this.feed.subscribe();
  }

  async drain(): Promise<void> {
    this.ensureOpen('drain');
    if (this.nc.isDraining()) return this.nc.closed().then(() => undefined);
    try {
      await this.nc.drain();
    } catch (err) {
      throw this.fail(err, 'drain');
    }
  }

  async close(): Promise<void> {
    await this.nc.close();
    await this.nc.closed();
  }

  /** Forwards the client's connection events; the transport's own `closed` comes last. */
  private watchStatus(): void {
    void (async () => {
      for await (const s of this.nc.status()) {
        if (this.feed.ended) break;
        if (s.type === 'disconnect' || s.type === 'reconnecting' || s.type === 'reconnect') {
          this.feed.emit({ type: s.type });
        } else if (s.type === 'error') {
          this.feed.emit({ type: 'error', error: s.error });
        } else if (s.type === 'slowConsumer') {
          this.feed.emit({
            type: 'error',
            error: new TransportError('SERVER', 'slow consumer: a subscription fell behind'),
          });
        }
      }
    })();
    void this.nc.closed().then((err) => {
      if (err) this.feed.emit({ type: 'error', error: err });
      this.feed.emit({ type: 'closed' });
      this.feed.end();
    });
  }
}
