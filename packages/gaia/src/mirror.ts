import { type Clock, tensor } from '@geoml/core';
import type { Msg, Subscription, Transport } from '@geoml/transport';
import { GaiaError } from './errors.js';
import type { LinkMeter } from './link-meter.js';
import { listen } from './listen.js';
import { MirrorClock } from './mirror-clock.js';
import type { Delta, ParameterShard } from './parameter-shard.js';
import { LinkBacklog, SelectiveBarrier } from './selective-barrier.js';
import { SignificanceFilter, type SignificanceFilterOptions } from './significance-filter.js';
import { ThresholdController, type ThresholdControllerOptions } from './threshold-controller.js';
import { decodeShipped, encodeShipped, type LayoutCounts, noLayouts } from './update-coding.js';
import { decodeMessage, encodeMessage } from './wire.js';

export interface MirrorOptions {
  /** This shard's region and the regions holding the same keys. */
  readonly region: string;
  readonly peers: readonly string[];
  /** Subject prefix of shard `k`'s mirror endpoint in `region`. */
  readonly subjectOf: (region: string) => string;
  /** Mirror-clock bound DS; `null`: no mirror clock (Gaia_Async). */
  readonly ds: number | null;
  /** Selective barrier on (Gaia) or off (Gaia_Async). */
  readonly barrier: boolean;
  /** Unacknowledged bytes on a link above which indexes go ahead on the control lane. */
  readonly barrierBytes: number;
  readonly filter: SignificanceFilterOptions;
  readonly controller?: ThresholdControllerOptions;
  /** Added to the region clock for τ_t = τ0/√t (a resumed run continues its schedule). */
  readonly clockOffset?: number;
}

interface DataMeta {
  from: string;
  seq: number;
  t: number;
  scale?: number;
}
interface ClockMeta {
  from: string;
  t: number;
  ack: number;
}
interface BarrierMeta {
  from: string;
  seq: number;
}

/**
 * The mirror client and mirror server of one shard (Gaia §3): at each region clock it ships the
 * significant part of the accumulated local updates to the same shard in every other region (data
 * lane), then its clock (control lane, carrying an acknowledgement of what it received); it applies
 * what peers ship, and keeps the mirror clock and selective barrier that gate local reads.
 */
export class Mirror {
  readonly filter: SignificanceFilter;
  readonly barrier = new SelectiveBarrier();
  readonly mirrorClock: MirrorClock | undefined;
  readonly controller: ThresholdController | undefined;
  /** Mirrored messages rejected (NaN/Inf or malformed). */
  rejected = 0;
  /** Messages shipped in each wire layout. */
  readonly layouts: LayoutCounts = noLayouts();
  private seq = 0;
  private readonly backlog = new Map<string, LinkBacklog>();
  private readonly received = new Map<string, number>();
  private readonly sentSinceTick = new Map<string, number>();
  private lastTickAt: number;
  private readonly subs: Subscription[] = [];

  constructor(
    private readonly transport: Transport,
    private readonly clock: Clock,
    private readonly shard: ParameterShard,
    private readonly options: MirrorOptions,
    private readonly meter?: LinkMeter,
  ) {
    this.filter = new SignificanceFilter(shard.size, options.filter);
    this.mirrorClock = options.ds === null ? undefined : new MirrorClock(options.peers, options.ds);
    this.controller = options.controller ? new ThresholdController(options.controller) : undefined;
    for (const p of options.peers) {
      this.backlog.set(p, new LinkBacklog(options.barrierBytes));
      this.received.set(p, -1);
      this.sentSinceTick.set(p, 0);
    }
    this.lastTickAt = clock.now();
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
    for (const s of this.subs) s.unsubscribe();
  }

  /** A local update was applied to the shard. */
  accumulate(delta: Delta): void {
    this.filter.accumulate(delta);
  }

  /** The region reached clock `t`: ship what is significant, then tell the peers. */
  tick(t: number): void {
    if (this.options.peers.length === 0) return;
    if (this.controller) {
      const elapsed = this.clock.now() - this.lastTickAt;
      this.controller.observe([...this.sentSinceTick.values()], elapsed);
    }
    this.lastTickAt = this.clock.now();
    for (const p of this.options.peers) this.sentSinceTick.set(p, 0);
    const out = this.filter.take(
      this.shard.values,
      t + (this.options.clockOffset ?? 0),
      this.controller?.raise ?? 0,
    );
    if (out.indices.length > 0) {
      const seq = this.seq++;
      const meta: DataMeta = {
        from: this.options.region,
        seq,
        t,
        ...(out.int8 ? { scale: out.int8.scale } : {}),
      };
      this.layouts[out.layout]++;
      const data = encodeMessage(meta, encodeShipped(out, this.shard.size));
      for (const p of this.options.peers) {
        const link = this.backlog.get(p) as LinkBacklog;
        if (this.options.barrier && link.congested) {
          const idx = tensor(
            'int32',
            [out.indices.length],
            new Int32Array(out.indices.buffer, out.indices.byteOffset, out.indices.length),
          );
          this.send(
            p,
            'barrier',
            encodeMessage<BarrierMeta>({ from: this.options.region, seq }, new Map([['i', idx]])),
            'control',
          );
        }
        this.send(p, 'data', data, 'data');
        link.sent(seq, data.length);
      }
    }
    if (this.mirrorClock) {
      for (const p of this.options.peers) {
        const meta: ClockMeta = { from: this.options.region, t, ack: this.received.get(p) ?? -1 };
        this.send(p, 'clock', encodeMessage(meta), 'control');
      }
    }
  }

  private send(peer: string, kind: string, data: Uint8Array, lane: 'data' | 'control'): void {
    this.transport.publish(`${this.options.subjectOf(peer)}.${kind}`, data, { lane });
    this.meter?.count(this.options.region, peer, data.length, lane);
    if (lane === 'data') this.sentSinceTick.set(peer, (this.sentSinceTick.get(peer) ?? 0) + data.length);
  }

  private onData(msg: Msg): void {
    const { meta, tensors } = decodeMessage<DataMeta>(msg.data);
    if (!this.received.has(meta.from))
      throw new GaiaError('PROTOCOL', `update from unknown region ${meta.from}`);
    this.received.set(meta.from, Math.max(meta.seq, this.received.get(meta.from) as number));
    try {
      // Mirrored entries were counted where they arose; they do not feed this region's filter.
      this.shard.apply(decodeShipped(tensors, this.shard.size, meta.scale), false);
    } finally {
      this.barrier.release(meta.from, meta.seq);
    }
  }

  private onClock(msg: Msg): void {
    const { meta } = decodeMessage<ClockMeta>(msg.data);
    if (!this.received.has(meta.from))
      throw new GaiaError('PROTOCOL', `clock from unknown region ${meta.from}`);
    this.backlog.get(meta.from)?.acknowledged(meta.ack);
    this.mirrorClock?.report(meta.from, meta.t);
  }

  private onBarrier(msg: Msg): void {
    const { meta, tensors } = decodeMessage<BarrierMeta>(msg.data);
    const i = tensors.get('i');
    if (!i || 'indices' in i || i.dtype !== 'int32') throw new GaiaError('PROTOCOL', 'bad barrier message');
    const idx = i.data as Int32Array;
    this.barrier.block(meta.from, meta.seq, new Uint32Array(idx.buffer, idx.byteOffset, idx.length));
  }
}
