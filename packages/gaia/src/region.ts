import type { Transport } from '@geoml/transport';
import type { RegionPlan } from './deployment.js';
import type { GaiaError } from './errors.js';
import type { LinkMeter } from './link-meter.js';
import { type BlockedTime, ShardServer } from './shard-server.js';
import { Worker, type WorkerOptions } from './worker.js';
import type { DataShard } from './workload.js';

export interface RegionOptions<Batch>
  extends Pick<
    WorkerOptions<Batch>,
    'transport' | 'clock' | 'model' | 'rng' | 'layout' | 'cost' | 'batchSize' | 'clocks' | 'onBadUpdate'
  > {
  readonly plan: RegionPlan;
  /** The initial parameters, flat; every replica starts from them. */
  readonly initial: Float32Array;
  /** `Workload.shards()` of the run, indexed `[region][worker]`. */
  readonly data: DataShard<Batch>[][];
  readonly meter?: LinkMeter;
  readonly signal?: AbortSignal;
  readonly track?: <T>(p: Promise<T>) => Promise<T>;
  readonly onClock?: (worker: string, clock: number) => void;
  /** A mirror gave up on a silent peer region (`GaiaError` `LINK_LOST`). */
  readonly onFailure?: (error: GaiaError) => void;
}

/**
 * One region (data center) of a run: the parameter-server shards it hosts — with their mirror clients
 * and servers under Gaia — and the workers it runs, all on the region's one Transport connection. A
 * multi-process run starts one `Region` per process from the same deployment plan.
 *
 * When the connection comes back after a loss (a NATS server restart), the workers send again what
 * may have been lost on the way to their servers, and the mirrors what they sent to other regions.
 */
export class Region<Batch> {
  readonly name: string;
  readonly servers: ShardServer[];
  readonly workers: Worker<Batch>[];
  private readonly transport: Transport;
  private stopped = false;

  constructor(o: RegionOptions<Batch>) {
    this.name = o.plan.region;
    this.transport = o.transport;
    this.servers = o.plan.shards.map(
      (s) =>
        new ShardServer({
          transport: o.transport,
          clock: o.clock,
          subject: s.subject,
          range: s.range,
          initial: o.initial.subarray(s.range.lo, s.range.hi),
          workers: s.workers,
          policy: s.policy,
          ...(s.mirror ? { mirror: s.mirror } : {}),
          ...(o.meter ? { meter: o.meter } : {}),
          ...(o.signal ? { signal: o.signal } : {}),
          ...(o.onFailure ? { onFailure: o.onFailure } : {}),
        }),
    );
    this.workers = o.plan.workers.map((w) => {
      const data = o.data[w.data[0]]?.[w.data[1]];
      if (!data) throw new RangeError(`no data shard [${w.data}] for worker ${w.id}`);
      return new Worker<Batch>({
        id: w.id,
        inbox: w.inbox,
        transport: o.transport,
        clock: o.clock,
        model: o.model,
        data,
        rng: o.rng.fork(w.id),
        layout: o.layout,
        shards: w.shards,
        cost: o.cost,
        batchSize: o.batchSize,
        clocks: o.clocks,
        onBadUpdate: o.onBadUpdate,
        ...(o.meter ? { meter: o.meter } : {}),
        ...(o.signal ? { signal: o.signal } : {}),
        ...(o.track ? { track: o.track } : {}),
        ...(o.onClock ? { onClock: (c: number) => o.onClock?.(w.id, c) } : {}),
      });
    });
  }

  /** Starts serving; call on every region before any region's `run()`. */
  start(): void {
    for (const s of this.servers) s.start();
    void this.watchReconnects();
  }

  /** Runs the region's workers to their last clock (or until the run's signal aborts). */
  async run(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.run()));
  }

  stop(): void {
    this.stopped = true;
    for (const s of this.servers) s.stop();
  }

  /**
   * Messages this region sent again (its workers' after a reconnect, its mirrors' after a loss), and
   * copies that arrived twice and were dropped (by its servers and its mirrors).
   */
  get resent(): { messages: number; duplicates: number } {
    let messages = this.workers.reduce((n, w) => n + w.resent, 0);
    let duplicates = 0;
    for (const s of this.servers) {
      duplicates += s.duplicates + (s.mirror?.retransmit.duplicates ?? 0);
      messages += s.mirror?.retransmit.resent ?? 0;
    }
    return { messages, duplicates };
  }

  private async watchReconnects(): Promise<void> {
    try {
      for await (const s of this.transport.status()) {
        if (this.stopped) return;
        if (s.type !== 'reconnect') continue;
        for (const w of this.workers) w.resend();
        for (const server of this.servers) server.mirror?.retransmit.reconnected();
      }
    } catch {
      // The status stream of a closing transport: nothing left to recover.
    }
  }

  /** Time this region's reads waited, by cause. */
  blocked(): BlockedTime {
    const b: BlockedTime = { syncMs: 0, mirrorMs: 0, barrierMs: 0 };
    for (const s of this.servers) {
      b.syncMs += s.blocked.syncMs;
      b.mirrorMs += s.blocked.mirrorMs;
      b.barrierMs += s.blocked.barrierMs;
    }
    return b;
  }

  /** Writes the values of the shards this region hosts into `flat` (a full-size vector). */
  snapshotInto(flat: Float32Array): void {
    for (const s of this.servers) flat.set(s.shard.values, s.shard.range.lo);
  }
}
