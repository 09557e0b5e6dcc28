import type { Clock, UpdateMap } from '@geoml/core';
import type { Msg, Subscription, Transport } from '@geoml/transport';
import { GaiaError } from './errors.js';
import { GroupClock } from './group-clock.js';
import type { LinkBacklog } from './link-backlog.js';
import type { LinkMeter } from './link-meter.js';
import { listen } from './listen.js';
import { MirrorClock } from './mirror-clock.js';
import { MirrorLink } from './mirror-link.js';
import {
  announcedKeys,
  type BarrierMeta,
  barrierMessage,
  type ClockMeta,
  type DataMeta,
} from './mirror-messages.js';
import { type MirrorOptions, resendDefaults } from './mirror-options.js';
import { MirrorSender } from './mirror-sender.js';
import type { Delta, ParameterShard } from './parameter-shard.js';
import type { ResendTiming } from './resend-queue.js';
import { Retransmit } from './retransmit.js';
import { SelectiveBarrier } from './selective-barrier.js';
import { SignificanceFilter } from './significance-filter.js';
import { ThresholdController } from './threshold-controller.js';
import { decodeShipped, type LayoutCounts } from './update-coding.js';
import { decodeMessage } from './wire.js';

const groupKey = (hub: string) => `group:${hub}`;

/**
 * The mirror client and mirror server of one shard (Gaia §3): at each region clock it ships the
 * significant part of the accumulated local updates to the same shard in the regions it mirrors (data
 * lane), then its clock (control lane, acknowledging what it received); it applies what they ship, and
 * keeps the mirror clock and selective barrier that gate local reads.
 *
 * With an overlay (reference §1.6) a region mirrors its group; its group's hub also adds what the group
 * shipped into an inter-group accumulator, ships that accumulator's significant part to the other hubs
 * once its group clock passes each clock, and forwards what other hubs send (data, barrier indexes,
 * group clocks) to its members, so every update reaches every region once. Mirror clocks then count
 * each other group as one clock: a reader at `t` waits for its group's regions and every other group
 * to reach `t - DS`, which bounds every pair's staleness by DS clocks as without the overlay.
 *
 * Over a lossy transport (NATS core drops messages across a server restart) each data message is kept
 * until acknowledged and sent again after a timeout (`ResendQueue`); receivers apply them in per-link
 * order, once each. A peer silent past the give-up time ends the run with `GaiaError` `LINK_LOST`.
 * Putting messages on the wire (numbering, announcements, acknowledging clocks) is `MirrorSender`'s.
 */
export class Mirror {
  readonly filter: SignificanceFilter;
  readonly barrier = new SelectiveBarrier();
  readonly mirrorClock: MirrorClock | undefined;
  readonly controller: ThresholdController | undefined;
  /** A hub's inter-group accumulator: what its group shipped and the other groups have not got. */
  readonly interFilter: SignificanceFilter | undefined;
  /** Mirrored messages rejected (NaN/Inf or malformed). */
  rejected = 0;
  private readonly links = new Map<string, MirrorLink>();
  private readonly peers: ReadonlySet<string>;
  private readonly otherHubs: ReadonlySet<string>;
  private readonly isHub: boolean;
  /** A member's hub, through which the other groups' updates arrive. */
  private readonly viaHub: string | undefined;
  private readonly groupClock: GroupClock | undefined;
  private lastTickAt: number;
  private readonly subs: Subscription[] = [];
  /** Loss recovery: its timer, and counts of messages sent again and duplicates dropped. */
  readonly retransmit: Retransmit;
  private readonly resendTiming: ResendTiming;
  private readonly out: MirrorSender;

  constructor(
    private readonly transport: Transport,
    private readonly clock: Clock,
    private readonly shard: ParameterShard,
    private readonly options: MirrorOptions,
    meter?: LinkMeter,
    /** Called once when a neighbour is given up on; the run should end with this error. */
    onFailure?: (error: GaiaError) => void,
  ) {
    const o = options.overlay;
    this.isHub = o?.hub === options.region;
    this.peers = new Set(options.peers);
    this.otherHubs = new Set(o?.otherHubs ?? []);
    this.viaHub = o && !this.isHub ? o.hub : undefined;
    const neighbours = [...options.peers, ...(this.isHub ? this.otherHubs : [])];
    const resend = { ...resendDefaults, ...options.resend };
    // A queue whose peer waits for it sends no acknowledgements until it drains (ResendQueue).
    this.resendTiming = { congestedMs: resend.giveUpMs / 4, ...resend };
    // Acknowledgements ride on clocks: without a mirror clock (Gaia_Async) nothing is kept to resend.
    const timing = options.ds === null ? undefined : this.resendTiming;
    for (const n of neighbours) this.links.set(n, new MirrorLink(options.barrierBytes, clock.now(), timing));
    this.out = new MirrorSender(
      transport,
      clock,
      this.links,
      options,
      shard.size,
      () => this.retransmit.arm(),
      meter,
    );
    this.retransmit = new Retransmit(clock, this.links, {
      region: options.region,
      subjectOf: options.subjectOf,
      giveUpMs: resend.giveUpMs,
      ds: options.ds ?? 0,
      lastClock: options.lastClock,
      sendData: (to, data) => this.out.send(to, 'data', data, 'data'),
      clocksAgain: (to) => this.out.clocksAgain(to),
      onFailure,
    });
    this.filter = new SignificanceFilter(shard.size, options.filter);
    this.mirrorClock =
      options.ds === null
        ? undefined
        : new MirrorClock([...options.peers, ...[...this.otherHubs].map(groupKey)], options.ds);
    if (this.isHub && this.otherHubs.size > 0) {
      this.interFilter = new SignificanceFilter(shard.size, options.filter);
      // Without mirror clocks (Gaia_Async) the hub ships its aggregate at its own clock.
      if (this.mirrorClock) this.groupClock = new GroupClock(options.peers);
    }
    this.controller = options.controller
      ? new ThresholdController({ tau0: this.filter.tau0, ...options.controller })
      : undefined;
    this.lastTickAt = clock.now();
  }

  /** Selective-barrier announcements sent (index lists on the control lane, forwarded ones included). */
  get announced(): number {
    return this.out.announced;
  }

  /** Messages shipped in each wire layout. */
  get layouts(): LayoutCounts {
    return this.out.layouts;
  }

  /** The queue estimate of the link to neighbour `to` (undefined for a stranger). */
  backlogTo(to: string): LinkBacklog | undefined {
    return this.links.get(to)?.backlog;
  }

  /** Subscribes to what peers send this shard. */
  start(): void {
    const base = this.options.subjectOf(this.options.region);
    const reject = () => {
      this.rejected++;
    };
    this.subs.push(
      listen(this.transport, `${base}.data`, (m) => this.onData(m), reject),
      listen(this.transport, `${base}.clock`, (m) => this.onClock(m), reject),
      listen(this.transport, `${base}.barrier`, (m) => this.onBarrier(m), reject),
    );
  }

  stop(): void {
    this.retransmit.stop();
    for (const s of this.subs) s.unsubscribe();
  }

  /** A local update was applied to the shard. */
  accumulate(delta: Delta): void {
    this.filter.accumulate(delta);
  }

  /** The region reached clock `t`: ship what is significant, then tell the peers. */
  tick(t: number): void {
    if (this.links.size === 0) return;
    if (this.controller) {
      const elapsed = this.clock.now() - this.lastTickAt;
      this.controller.observe(
        [...this.links.values()].map((l) => l.sinceTick),
        elapsed,
        t + this.offset,
      );
    }
    this.lastTickAt = this.clock.now();
    for (const l of this.links.values()) l.sinceTick = 0;
    const out = this.filter.take(this.shard.values, t + this.offset, this.raise);
    if (out.indices.length > 0) {
      this.out.ship(this.peers, out, t);
      // What the group holds now and the other groups do not yet.
      this.interFilter?.accumulate({ indices: out.indices, values: out.values });
    }
    if (this.mirrorClock) for (const p of this.peers) this.out.sendClock(p, t);
    if (this.interFilter) for (const g of this.groupClock?.ownClock(t) ?? [t]) this.interTick(g);
  }

  private get offset(): number {
    return this.options.clockOffset ?? 0;
  }

  private get raise(): number {
    return this.controller?.raise ?? 0;
  }

  /** A hub's group reached clock `g`: the aggregate's significant part goes to the other hubs. */
  private interTick(g: number): void {
    const out = (this.interFilter as SignificanceFilter).take(this.shard.values, g + this.offset, this.raise);
    if (out.indices.length > 0) this.out.ship(this.otherHubs, out, g);
    if (this.mirrorClock) for (const h of this.otherHubs) this.out.sendClock(h, g, this.options.region);
  }

  /** The neighbour a message of `origin` arrives from; `GaiaError` `PROTOCOL` for a stranger. */
  private linkOf(origin: string): string {
    if (this.links.has(origin)) return origin;
    if (this.viaHub && this.otherHubs.has(origin)) return this.viaHub;
    throw new GaiaError('PROTOCOL', `mirror message from unknown region ${origin}`);
  }

  private onData(msg: Msg): void {
    const { meta, tensors } = decodeMessage<DataMeta>(msg.data);
    const via = this.linkOf(meta.from);
    const link = this.links.get(via) as MirrorLink;
    // In link order and once each: a resent message may arrive twice, or after later ones.
    const now = this.clock.now();
    link.accept(meta.n ?? meta.seq, now, () => this.applyData(msg.data, meta, tensors, via));
    if (this.options.ds !== null && link.gapToReport(now, this.resendTiming.minMs))
      this.out.clocksAgain(via, true);
  }

  private applyData(data: Uint8Array, meta: DataMeta, tensors: UpdateMap, via: string): void {
    try {
      let delta: Delta | undefined;
      try {
        delta = decodeShipped(tensors, this.shard.size, meta.scale);
      } finally {
        // Another group's aggregate goes on to the members even when refused here: each refuses it
        // too, and their barriers on it are released.
        if (this.isHub && this.otherHubs.has(via)) {
          const keys = delta instanceof Float32Array ? undefined : delta?.indices;
          for (const p of this.peers) {
            this.out.sendData(p, data, meta, () =>
              barrierMessage(meta.from, meta.seq, keys, this.shard.size),
            );
          }
        }
      }
      // Mirrored entries were counted where they arose; they do not feed this region's filter.
      this.shard.apply(delta as Delta, false);
      if (this.interFilter && this.peers.has(via)) this.interFilter.accumulate(delta as Delta);
    } finally {
      this.barrier.release(meta.from, meta.seq);
    }
  }

  private onClock(msg: Msg): void {
    const { meta } = decodeMessage<ClockMeta>(msg.data);
    const link = this.links.get(meta.from);
    if (!link) throw new GaiaError('PROTOCOL', `clock from unknown region ${meta.from}`);
    const now = this.clock.now();
    link.lastHeardAt = now;
    link.backlog.acknowledged(meta.ack, now, meta.h ?? 0);
    if (link.resend.acknowledged(meta.ack, now)) this.retransmit.arm();
    if (meta.nack) this.retransmit.requested(meta.from, link);
    const { t, g } = meta;
    if (g === undefined || g === meta.from) {
      link.peerClock = Math.max(link.peerClock, t);
      this.retransmit.arm();
    }
    if (g === undefined && !this.peers.has(meta.from)) {
      throw new GaiaError('PROTOCOL', `region clock from ${meta.from}`);
    }
    if (g !== undefined && !this.otherHubs.has(g))
      throw new GaiaError('PROTOCOL', `clock of unknown group ${g}`);
    // A clock sent again counts only if this one was lost (the peer could not tell).
    if (!link.freshClock(g ?? '', t) && meta.r) return;
    // A clock counts once the data sent before it has arrived: the control lane overtakes the data lane,
    // and DS bounds how stale the data a reader sees may be, not just the clocks it has heard of.
    link.afterReceived(meta.sent, () => {
      if (g === undefined) {
        this.mirrorClock?.report(meta.from, t);
        // The group clock moves only once the member's data for that clock is in the aggregate.
        if (this.groupClock) for (const c of this.groupClock.memberClock(meta.from, t)) this.interTick(c);
        return;
      }
      this.mirrorClock?.report(groupKey(g), t);
      // A hub passes another group's clock on after the data it covers, as that group's hub would.
      if (this.isHub) for (const p of this.peers) this.out.sendClock(p, t, g);
    });
  }

  private onBarrier(msg: Msg): void {
    const { meta, tensors } = decodeMessage<BarrierMeta>(msg.data);
    const via = this.linkOf(meta.from);
    (this.links.get(via) as MirrorLink).lastHeardAt = this.clock.now();
    const indices = announcedKeys(meta, tensors, this.shard.size);
    this.barrier.block(meta.from, meta.seq, indices);
    // Another group's announcement goes on to the members, ahead of the data it announces.
    if (this.isHub && this.otherHubs.has(via)) {
      for (const p of this.peers) this.out.announce(p, msg.data);
    }
  }
}
