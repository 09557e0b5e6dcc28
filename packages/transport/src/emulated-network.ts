import { type Clock, ConfigError, systemClock } from '@geoml/core';
import type { Network } from './network.js';
import { parseTopology, type Topology } from './topology.js';
import type { Lane } from './transport.js';

/** Traffic of one directed link: `bytes`/`messages` on the data lane, `control*` on the control lane. */
export interface LinkStats {
  readonly from: string;
  readonly to: string;
  bytes: number;
  messages: number;
  controlBytes: number;
  controlMessages: number;
}

export interface EmulatedNetworkOptions {
  /** Validated with `topologySchema`; see `topologyProfile` for the built-in ones. */
  topology: Topology;
  /** `systemClock` (real delays) by default; a `VirtualClock` makes every run repeat exactly. */
  clock?: Clock;
}

interface LaneState {
  /** When the link has finished serializing what was queued on this lane. */
  freeAt: number;
  /** Arrival of the last message sent on this lane: the next one arrives after it. */
  last: Promise<void>;
}

interface LinkState {
  readonly bitsPerMs: number;
  readonly latencyMs: number;
  readonly data: LaneState;
  readonly control: LaneState;
  readonly stats: LinkStats;
}

const key = (from: string, to: string) => `${from}\u0000${to}`;

/**
 * A WAN emulator in the manner of Bösen's and Gaia's: every directed link is a queue that serializes
 * messages at its bandwidth, then delays them by its one-way latency:
 *
 *   deliver_at = max(now, link_free_at) + bytes·8/bandwidth + latency;  link_free_at = that start + bytes·8/bandwidth
 *
 * Control messages (clocks, barriers) use a second queue on the link, so they never wait behind data;
 * their few bytes are not charged to the data lane. All timing goes through the injected clock.
 *
 * Only messages cross it (the hub's publish, request and reply): kv and blobs are not delayed or counted,
 * they stand for a store every region reaches directly.
 */
export class EmulatedNetwork implements Network {
  readonly topology: Topology;
  readonly regions: readonly string[];
  readonly clock: Clock;
  private readonly links = new Map<string, LinkState>();

  constructor(options: EmulatedNetworkOptions) {
    this.topology = parseTopology(options.topology);
    this.regions = this.topology.regions;
    this.clock = options.clock ?? systemClock;
    for (const link of this.topology.links)
      this.addLink(link.from, link.to, link.bandwidthMbps, link.latencyMs);
    for (const [region, lan] of Object.entries(this.topology.lan ?? {})) {
      this.addLink(region, region, lan.bandwidthMbps, lan.latencyMs);
    }
  }

  check(from: string, to: string): void {
    if (this.links.has(key(from, to))) return;
    for (const [field, region] of [
      ['from', from],
      ['to', to],
    ] as const) {
      if (!this.regions.includes(region)) {
        throw new ConfigError(`region '${region}' is not in the topology (${this.regions.join(', ')})`, [
          field,
        ]);
      }
    }
    // Within a region whose own network is not modelled, messages are not delayed.
    if (from !== to) throw new ConfigError(`the topology has no link from '${from}' to '${to}'`, ['links']);
  }

  transmit(from: string, to: string, bytes: number, lane: Lane = 'data'): Promise<void> {
    if (!(Number.isFinite(bytes) && bytes >= 0)) throw new RangeError(`bytes must be >= 0, got ${bytes}`);
    const link = this.links.get(key(from, to));
    if (!link) {
      this.check(from, to);
      return Promise.resolve();
    }
    const state = lane === 'control' ? link.control : link.data;
    const serialization = (bytes * 8) / link.bitsPerMs;
    const start = Math.max(this.clock.now(), state.freeAt);
    state.freeAt = start + serialization;
    const deliverAt = state.freeAt + link.latencyMs;
    if (lane === 'control') {
      link.stats.controlBytes += bytes;
      link.stats.controlMessages++;
    } else {
      link.stats.bytes += bytes;
      link.stats.messages++;
    }
    // Chained on the previous arrival, so messages of one lane arrive in order even when a real clock's
    // timers due in the same millisecond would fire out of order.
    const arrival = state.last.then(() => this.until(deliverAt));
    state.last = arrival;
    return arrival;
  }

  /**
   * Sleeps until `at` by the clock. Node's timers count from the event loop's cached time, so on the
   * system clock a timer can fire a little before `at`: sleep again for the rest (a few rounds at most).
   */
  private async until(at: number): Promise<void> {
    for (let round = 0; round < 100; round++) {
      const wait = at - this.clock.now();
      if (wait <= 0) return;
      await this.clock.sleep(wait);
    }
  }

  /** Traffic per directed link (a region's own LAN link has `from === to`), in topology order. */
  stats(): LinkStats[] {
    return [...this.links.values()].map((l) => ({ ...l.stats }));
  }

  /** Zeroes the counters (queues and arrival times are untouched). */
  resetStats(): void {
    for (const link of this.links.values()) {
      Object.assign(link.stats, { bytes: 0, messages: 0, controlBytes: 0, controlMessages: 0 });
    }
  }

  private addLink(from: string, to: string, bandwidthMbps: number, latencyMs: number): void {
    const lane = (): LaneState => ({ freeAt: Number.NEGATIVE_INFINITY, last: Promise.resolve() });
    this.links.set(key(from, to), {
      bitsPerMs: bandwidthMbps * 1000,
      latencyMs,
      data: lane(),
      control: lane(),
      stats: { from, to, bytes: 0, messages: 0, controlBytes: 0, controlMessages: 0 },
    });
  }
}
