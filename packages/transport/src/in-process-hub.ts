import { type Clock, ConfigError, systemClock } from '@geoml/core';
import { InProcessBlobBucket } from './in-process-blobs.js';
import { copyBytes } from './in-process-copy.js';
import { InProcessKvBucket } from './in-process-kv.js';
import { InProcessTransport } from './in-process-transport.js';
import type { Network } from './network.js';
import { matchTokens } from './subject.js';
import type { Headers, KvOptions, Lane } from './transport.js';

/** A message as the hub routes it: the payload is already the publisher's private copy. */
export interface HubMessage {
  readonly subject: string;
  readonly data: Uint8Array;
  readonly headers: Headers | undefined;
  readonly reply: string | undefined;
  readonly lane: Lane;
  /** Wire size charged to the network: payload + subject + headers. */
  readonly bytes: number;
  /** Receivers still to come: the last one takes `data` itself, the others copies made before that. */
  receivers?: number;
}

/** A delivery target registered with the hub (a subscription or a request's reply catcher). */
export interface HubSubscriber {
  readonly subject: string;
  readonly tokens: readonly string[];
  readonly queue: string | undefined;
  readonly region: string;
  /** A message matched this subscriber and is on its way. */
  expect(): void;
  /** The message expected earlier arrives, or is lost (`undefined`) on a failed link. */
  arrive(msg: HubMessage | undefined): void;
}

export interface InProcessHubOptions {
  /** Time for request timeouts; the network's clock, else `systemClock`, by default. */
  clock?: Clock;
  /** Delays messages between regions; without one, delivery is immediate (but never re-entrant). */
  network?: Network;
  /** Largest accepted payload in bytes (`TOO_LARGE` beyond); 64 MiB, NATS's ceiling, by default. */
  maxPayload?: number;
  /** Unread messages a subscription holds before dropping more (a NATS slow consumer); 65536 by default. */
  pendingLimit?: number;
}

/**
 * The payload bytes a receiver may own. Receivers arrive at different times (regions), and an earlier one
 * may already be changing its bytes, so every receiver but the last gets a copy of the untouched original.
 */
export function takeData(msg: HubMessage): Uint8Array {
  msg.receivers = (msg.receivers ?? 1) - 1;
  return msg.receivers === 0 ? msg.data : copyBytes(msg.data);
}

/**
 * The in-process "server": routes messages between connections by subject (wildcards, queue groups),
 * through an optional emulated network between regions, and holds the kv buckets and blob stores that all
 * its connections share. kv and blobs are not delayed by the network: they stand for a replicated store.
 */
export class InProcessHub {
  readonly clock: Clock;
  readonly network: Network | undefined;
  readonly maxPayload: number;
  readonly pendingLimit: number;
  private readonly subscribers = new Set<HubSubscriber>();
  private readonly queueCursors = new Map<string, number>();
  private readonly kvBuckets = new Map<string, InProcessKvBucket>();
  private readonly blobBuckets = new Map<string, InProcessBlobBucket>();
  private connections = 0;

  constructor(options: InProcessHubOptions = {}) {
    this.clock = options.clock ?? options.network?.clock ?? systemClock;
    this.network = options.network;
    this.maxPayload = options.maxPayload ?? 64 * 1024 * 1024;
    this.pendingLimit = options.pendingLimit ?? 65_536;
  }

  /** A new connection in `region`; fails with `ConfigError` for a region the network does not know. */
  connect(region = 'local'): InProcessTransport {
    return new InProcessTransport({ hub: this, region });
  }

  /** Throws `ConfigError` unless connections may live in `region`. */
  checkRegion(region: string): void {
    if (typeof region !== 'string' || region.length === 0) {
      throw new ConfigError('region must be a non-empty string', ['region']);
    }
    const known = this.network?.regions;
    if (known && !known.includes(region)) {
      throw new ConfigError(`region '${region}' is not in the network (${known.join(', ')})`, ['region']);
    }
  }

  /** A unique id for a new connection, for its reply inboxes. */
  nextConnectionId(): number {
    return ++this.connections;
  }

  add(subscriber: HubSubscriber): void {
    this.subscribers.add(subscriber);
  }

  remove(subscriber: HubSubscriber): void {
    this.subscribers.delete(subscriber);
  }

  /** Whether anybody subscribes to `subject` (for the NO_RESPONDERS check of requests). */
  hasInterest(subject: string): boolean {
    const tokens = subject.split('.');
    for (const s of this.subscribers) if (matchTokens(s.tokens, tokens)) return true;
    return false;
  }

  /**
   * Routes `msg` from `region` to every matching subscriber (one member per queue group, preferring the
   * publisher's region as NATS gateways do). Crosses the network once per receiving region, like a
   * gateway. Resolves when every receiver holds the message.
   */
  route(region: string, msg: HubMessage): Promise<void> {
    const tokens = msg.subject.split('.');
    const byRegion = new Map<string, HubSubscriber[]>();
    const groups = new Map<string, HubSubscriber[]>();
    const add = (s: HubSubscriber) => {
      const list = byRegion.get(s.region);
      if (list) list.push(s);
      else byRegion.set(s.region, [s]);
    };
    for (const s of this.subscribers) {
      if (!matchTokens(s.tokens, tokens)) continue;
      if (s.queue === undefined) {
        add(s);
        continue;
      }
      // A queue group is a (subject, queue name) pair, as in NATS.
      const key = `${s.queue}\u0000${s.subject}`;
      const members = groups.get(key);
      if (members) members.push(s);
      else groups.set(key, [s]);
    }
    for (const [key, members] of groups) {
      const local = members.filter((m) => m.region === region);
      const candidates = local.length > 0 ? local : members;
      // Round robin instead of NATS's random pick: spreads the same way and stays deterministic.
      const cursor = this.queueCursors.get(key) ?? 0;
      this.queueCursors.set(key, cursor + 1);
      add(candidates[cursor % candidates.length]!);
    }
    msg.receivers = 0;
    for (const [to, receivers] of byRegion) {
      this.network?.check?.(region, to);
      msg.receivers += receivers.length;
    }
    const arrivals: Promise<void>[] = [];
    for (const [to, receivers] of byRegion) {
      const arrived = this.network
        ? this.network.transmit(region, to, msg.bytes, msg.lane)
        : Promise.resolve();
      for (const r of receivers) r.expect();
      arrivals.push(
        arrived.then(
          () => {
            for (const r of receivers) r.arrive(msg);
          },
          () => {
            for (const r of receivers) r.arrive(undefined);
          },
        ),
      );
    }
    return arrivals.length === 1 ? arrivals[0]! : Promise.all(arrivals).then(() => undefined);
  }

  /** The bucket named `name`, created on first use with `options`. */
  kvBucket(name: string, options: KvOptions = {}): InProcessKvBucket {
    let bucket = this.kvBuckets.get(name);
    if (!bucket) {
      bucket = new InProcessKvBucket(name, options.history ?? 1);
      this.kvBuckets.set(name, bucket);
    }
    return bucket;
  }

  /** The blob bucket named `name`, created on first use. */
  blobBucket(name: string): InProcessBlobBucket {
    let bucket = this.blobBuckets.get(name);
    if (!bucket) {
      bucket = new InProcessBlobBucket(name);
      this.blobBuckets.set(name, bucket);
    }
    return bucket;
  }
}
