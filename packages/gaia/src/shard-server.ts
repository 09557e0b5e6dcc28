import { type Clock, tensor, VectorClock } from '@geoml/core';
import type { Msg, Subscription, Transport } from '@geoml/transport';
import { Condition } from './condition.js';
import { GaiaError } from './errors.js';
import type { LinkMeter } from './link-meter.js';
import { listen } from './listen.js';
import { Mirror } from './mirror.js';
import type { MirrorOptions } from './mirror-options.js';
import type { KeyRange } from './param-layout.js';
import { type Delta, ParameterShard } from './parameter-shard.js';
import { type SyncPolicy, stalenessBound } from './sync-policy.js';
import { decodeMessage, encodeMessage } from './wire.js';

/** A worker's read: "give me your keys once my clock `c` may read". */
export interface ReadMeta {
  w: string;
  r: string;
  c: number;
  id: number;
}
/** A worker's update: the delta for this shard and the clock the worker reached. */
export interface UpdateMeta {
  w: string;
  r: string;
  c: number;
}

/** Virtual or wall milliseconds reads spent waiting, by cause. */
export interface BlockedTime {
  syncMs: number;
  mirrorMs: number;
  barrierMs: number;
}

export interface ShardServerOptions {
  readonly transport: Transport;
  readonly clock: Clock;
  /** Subject prefix of this shard (`.read`, `.update` are appended). */
  readonly subject: string;
  readonly range: KeyRange;
  /** Initial values of the range. */
  readonly initial: Float32Array;
  /** Ids of every worker that reads and updates this shard. */
  readonly workers: readonly string[];
  readonly policy: SyncPolicy;
  readonly meter?: LinkMeter;
  /** Gaia's mirror client and server; absent for a region-oblivious parameter server. */
  readonly mirror?: MirrorOptions;
  readonly signal?: AbortSignal;
  /** The mirror gave up on a silent peer (`GaiaError` `LINK_LOST`): the run should end with it. */
  readonly onFailure?: (error: GaiaError) => void;
}

/**
 * One parameter-server shard on the wire: applies workers' updates, serves their reads once the sync
 * policy (BSP/SSP/TAP over the workers' clocks), the mirror clock and the selective barrier allow, and
 * — under Gaia — hands local updates to its mirror client and ticks it when the region's clock advances.
 */
export class ShardServer {
  readonly shard: ParameterShard;
  readonly mirror: Mirror | undefined;
  readonly blocked: BlockedTime = { syncMs: 0, mirrorMs: 0, barrierMs: 0 };
  /** Workers' updates refused (NaN/Inf, bad shape): never applied, the clock still moves. */
  rejected = 0;
  /** Workers' updates that arrived again (sent again after a reconnect) and were dropped. */
  duplicates = 0;
  private readonly clocks: VectorClock;
  private readonly bound: number;
  private readonly advanced = new Condition();
  private readonly subs: Subscription[] = [];
  private ticked = 0;

  constructor(private readonly options: ShardServerOptions) {
    this.shard = new ParameterShard(options.range, options.initial);
    this.clocks = new VectorClock(options.workers);
    this.bound = stalenessBound(options.policy);
    this.mirror = options.mirror
      ? new Mirror(
          options.transport,
          options.clock,
          this.shard,
          options.mirror,
          options.meter,
          options.onFailure,
        )
      : undefined;
  }

  /** The slowest worker's clock: the region clock of a Gaia shard. */
  get clock(): number {
    return this.clocks.min();
  }

  start(): void {
    this.mirror?.start();
    const { transport, subject } = this.options;
    const reject = () => {
      this.rejected++;
    };
    this.subs.push(
      listen(transport, `${subject}.update`, (m) => this.onUpdate(m), reject),
      listen(
        transport,
        `${subject}.read`,
        (m) => {
          // A read cut short by the end of the run has nobody left to answer.
          this.onRead(m).catch(() => {});
        },
        reject,
      ),
    );
  }

  stop(): void {
    for (const s of this.subs) s.unsubscribe();
    this.mirror?.stop();
  }

  private onUpdate(msg: Msg): void {
    const { meta, tensors } = decodeMessage<UpdateMeta>(msg.data);
    if (!this.clocks.has(meta.w)) throw new GaiaError('PROTOCOL', `update from unknown worker ${meta.w}`);
    // A worker's updates arrive in its clock order (it pushes the next only after a read answered
    // behind this one), so one at or below its clock here is a copy.
    if (meta.c <= this.clocks.get(meta.w)) {
      this.duplicates++;
      return;
    }
    const u = tensors.get('u');
    if (u) {
      const delta: Delta | undefined =
        'indices' in u ? { indices: u.indices, values: u.values as Float32Array } : (u.data as Float32Array);
      try {
        this.shard.apply(delta);
        this.mirror?.accumulate(delta);
      } catch (e) {
        if (!(e instanceof GaiaError)) throw e;
        this.rejected++;
      }
    }
    if (this.clocks.advance(meta.w, meta.c)) {
      const now = this.clocks.min();
      // A shard ticks its mirror once per region clock, in order, even if several pass at once.
      while (this.ticked < now) {
        this.ticked++;
        this.mirror?.tick(this.ticked);
      }
      this.advanced.notify();
    }
  }

  private async onRead(msg: Msg): Promise<void> {
    const { meta } = decodeMessage<ReadMeta>(msg.data);
    const { clock } = this.options;
    const signal = this.options.signal;
    const t0 = clock.now();
    await this.advanced.wait(() => meta.c - this.clocks.min() <= this.bound, signal);
    const t1 = clock.now();
    await this.mirror?.mirrorClock?.wait(meta.c, signal);
    const t2 = clock.now();
    if (this.mirror && this.options.mirror?.barrier)
      await this.mirror.barrier.waitClear(0, this.shard.size, signal);
    const t3 = clock.now();
    this.blocked.syncMs += t1 - t0;
    this.blocked.mirrorMs += t2 - t1;
    this.blocked.barrierMs += t3 - t2;
    const values = this.shard.read();
    const reply = encodeMessage(
      { id: meta.id },
      new Map([['v', tensor('float32', [values.length], values)]]),
    );
    msg.respond(reply);
    this.options.meter?.count(this.options.transport.region, meta.r, reply.length);
  }
}
