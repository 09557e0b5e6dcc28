/**
 * `Transport` over a real NATS deployment (`@nats-io/transport-node` 3.x): subjects, queue groups and
 * headers map one to one; kv is JetStream KV, blobs the JetStream Object Store. Reconnects forever by
 * default, and the client re-subscribes after a reconnect, so subscriptions survive a server restart.
 * Lanes are ignored: a real network has no priority lane.
 */
import { parseConfig } from '@geoml/core';
import { JetStreamApiError } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { fromSeed } from '@nats-io/nkeys';
import { Objm } from '@nats-io/obj';
import {
  type ConnectionOptions,
  connect,
  credsAuthenticator,
  errors,
  type MsgHdrs,
  type NatsConnection,
  type Msg as NatsMsg,
  type Subscription as NatsSub,
  headers as natsHeaders,
  nkeyAuthenticator,
} from '@nats-io/transport-node';
import { z } from 'zod';
import { TransportError } from './errors.js';
import { NatsBlobStore } from './nats-blobs.js';
import { sharedIterable } from './nats-iterator.js';
import { NatsKvStore, type NatsStoreContext, validateBucketName } from './nats-kv.js';
import { StatusFeed } from './nats-status.js';
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

const tlsSchema = z
  .object({
    certFile: z.string().optional(),
    keyFile: z.string().optional(),
    caFile: z.string().optional(),
    cert: z.string().optional(),
    key: z.string().optional(),
    ca: z.string().optional(),
    /** The server must have `handshake_first` set. */
    handshakeFirst: z.boolean().optional(),
  })
  .strict();

const natsTransportOptionsSchema = z
  .object({
    /** One URL or several (`nats://host:4222`, `tls://host:4222`, `host:4222`). */
    servers: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]),
    region: z.string().min(1),
    /** Client name shown by the server's monitoring; default `geoml-<region>`. */
    name: z.string().min(1).optional(),
    user: z.string().optional(),
    pass: z.string().optional(),
    token: z.string().optional(),
    /** An nkey user seed (`SU...`); the client signs the server's nonce with it. */
    nkeySeed: z.string().startsWith('SU', 'an nkey user seed starts with SU').optional(),
    /** Contents of a `.creds` file (JWT + seed), for operator-mode deployments. */
    creds: z.string().optional(),
    /** `true` requires TLS with the system CAs; an object passes files or PEM strings through. */
    tls: z.union([z.boolean(), tlsSchema]).optional(),
    reconnect: z
      .union([
        z.literal(false),
        z
          .object({
            /** -1 (default): never give up. */
            maxAttempts: z.number().int().min(-1).default(-1),
            waitMs: z.number().int().min(0).default(1000),
            /** Random extra wait, so many clients do not reconnect in lockstep. */
            jitterMs: z.number().int().min(0).default(250),
          })
          .strict(),
      ])
      .default({ maxAttempts: -1, waitMs: 1000, jitterMs: 250 }),
    /** Handshake timeout of each connection attempt. Default 20000. */
    connectTimeoutMs: z.number().int().positive().optional(),
    /** Default request timeout. Default 5000. */
    requestTimeoutMs: z.number().int().positive().default(5000),
    pingIntervalMs: z.number().int().positive().optional(),
  })
  .strict();

export type NatsTransportOptions = z.input<typeof natsTransportOptionsSchema>;

const kvOptionsSchema = z.object({ history: z.number().int().min(1).max(64).default(1) }).strict();

function toNatsHeaders(h: Headers | undefined): MsgHdrs | undefined {
  if (!h) return undefined;
  const out = natsHeaders();
  for (const [k, v] of Object.entries(h)) out.set(k, v);
  return out;
}

function fromNatsHeaders(h: MsgHdrs | undefined): Headers | undefined {
  if (!h) return undefined;
  const out: Headers = {};
  for (const k of h.keys()) out[k] = h.get(k);
  return out;
}

/** Maps a client error to a `TransportError` whose message says what was attempted. */
export function mapNatsError(err: unknown, what: string): TransportError {
  if (err instanceof TransportError) return err;
  const message = err instanceof Error ? err.message : String(err);
  const fail = (code: ConstructorParameters<typeof TransportError>[0], text: string) =>
    new TransportError(code, `${what}: ${text}`, { cause: err });
  if (err instanceof errors.RequestError) {
    if (err.isNoResponders()) return fail('NO_RESPONDERS', 'no responders');
    if (err.cause instanceof errors.TimeoutError) return fail('TIMEOUT', 'timed out');
  }
  if (err instanceof errors.NoRespondersError) return fail('NO_RESPONDERS', 'no responders');
  if (err instanceof errors.TimeoutError) return fail('TIMEOUT', 'timed out');
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    // A request pending when its connection closes fails with RequestError 'connection closed'.
    const closing = e instanceof errors.RequestError && e.message === 'connection closed';
    if (closing || e instanceof errors.ClosedConnectionError || e instanceof errors.DrainingConnectionError) {
      return fail('CLOSED', 'the transport is closed');
    }
  }
  if (err instanceof errors.InvalidSubjectError) return fail('BAD_SUBJECT', message);
  if (message.includes('max_payload')) return fail('TOO_LARGE', message);
  if (/jetstream (is )?not enabled/i.test(message)) {
    return fail(
      'SERVER',
      'JetStream is not enabled on the server (run nats-server with -js or a jetstream block)',
    );
  }
  if (err instanceof errors.AuthorizationError || err instanceof errors.ConnectionError)
    return fail('CONNECTION', message);
  if (err instanceof JetStreamApiError) return fail('SERVER', message);
  return fail('SERVER', message);
}

/** A received message; headers are converted only when read. */
class NatsTransportMsg implements Msg {
  private hdrs: Headers | undefined | null = null;
  constructor(
    private readonly m: NatsMsg,
    private readonly checkSize: (bytes: number, what: string) => void,
  ) {}
  get subject(): string {
    return this.m.subject;
  }
  get data(): Uint8Array {
    return this.m.data;
  }
  get reply(): string | undefined {
    return this.m.reply || undefined;
  }
  get headers(): Headers | undefined {
    if (this.hdrs === null) this.hdrs = fromNatsHeaders(this.m.headers);
    return this.hdrs;
  }
  respond(data: Uint8Array, options?: { headers?: Headers }): boolean {
    if (!this.m.reply) return false;
    this.checkSize(data.length, `respond on ${this.m.subject}`);
    try {
      return this.m.respond(data, { headers: toNatsHeaders(options?.headers) });
    } catch (err) {
      throw mapNatsError(err, `respond on ${this.m.subject}`);
    }
  }
}

class NatsTransportSubscription implements Subscription {
  readonly closed: Promise<void>;
  private ended!: () => void;
  private readonly messages: AsyncIterable<Msg>;
  constructor(
    private readonly sub: NatsSub,
    readonly subject: string,
    checkSize: (bytes: number, what: string) => void,
  ) {
    // nats.js settles `closed` only once an iterator has consumed everything; ours ends at unsubscribe.
    this.closed = Promise.race([
      sub.closed.then(() => undefined),
      new Promise<void>((r) => (this.ended = r)),
    ]);
    this.messages = sharedIterable(
      sub,
      (m) => new NatsTransportMsg(m, checkSize),
      () => this.unsubscribe(),
    );
  }
  unsubscribe(): void {
    if (!this.sub.isClosed()) this.sub.unsubscribe();
    this.ended();
  }
  [Symbol.asyncIterator](): AsyncIterator<Msg> {
    return this.messages[Symbol.asyncIterator]();
  }
}

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
    const o = parseConfig(natsTransportOptionsSchema, options, 'NatsTransport options');
    const authenticator = [];
    if (o.nkeySeed) {
      const seed = new TextEncoder().encode(o.nkeySeed);
      try {
        fromSeed(seed);
      } catch (err) {
        throw new TransportError('CONNECTION', 'NatsTransport options: nkeySeed is not a valid nkey seed', {
          cause: err,
        });
      }
      authenticator.push(nkeyAuthenticator(seed));
    }
    if (o.creds) authenticator.push(credsAuthenticator(new TextEncoder().encode(o.creds)));
    const co: ConnectionOptions = {
      servers: o.servers,
      name: o.name ?? `geoml-${o.region}`,
      user: o.user,
      pass: o.pass,
      token: o.token,
      authenticator: authenticator.length > 0 ? authenticator : undefined,
      tls: o.tls === true ? {} : o.tls === false ? undefined : o.tls,
      reconnect: o.reconnect !== false,
      maxReconnectAttempts: o.reconnect === false ? 0 : o.reconnect.maxAttempts,
      reconnectTimeWait: o.reconnect === false ? undefined : o.reconnect.waitMs,
      reconnectJitter: o.reconnect === false ? undefined : o.reconnect.jitterMs,
      timeout: o.connectTimeoutMs,
      pingInterval: o.pingIntervalMs,
      // Stack traces captured per request cost more than they tell in a transport layer.
      noAsyncTraces: true,
    };
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
      const m = await this.nc.request(subject, data, {
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
