import { type Clock, type Model, type Rng, type TensorMap, tensor } from '@geoml/core';
import type { Subscription, Transport } from '@geoml/transport';
import type { CostModel } from './cost-model.js';
import { GaiaError } from './errors.js';
import type { LinkMeter } from './link-meter.js';
import type { KeyRange, ParameterLayout } from './param-layout.js';
import { checkDelta, sparsify } from './parameter-shard.js';
import type { ReadMeta, UpdateMeta } from './shard-server.js';
import { decodeMessage, encodeMessage } from './wire.js';
import { type DataShard, WorkloadError } from './workload.js';

/** Where a worker's parameter server lives: one entry per shard. */
export interface ShardAddress {
  readonly subject: string;
  readonly region: string;
  readonly range: KeyRange;
}

export interface WorkerOptions<Batch> {
  readonly id: string;
  /** Subject where this worker receives read replies. */
  readonly inbox: string;
  readonly transport: Transport;
  readonly clock: Clock;
  readonly model: Model<Batch>;
  readonly data: DataShard<Batch>;
  readonly rng: Rng;
  readonly layout: ParameterLayout;
  readonly shards: readonly ShardAddress[];
  readonly cost: CostModel;
  readonly batchSize: number;
  /** Iterations to run (the worker stops earlier when `signal` aborts). */
  readonly clocks: number;
  /**
   * `fail`: a NaN/Inf update, or a step the model reports diverged, ends the run with `GaiaError`;
   * `skip`: it is dropped and counted.
   */
  readonly onBadUpdate: 'fail' | 'skip';
  readonly meter?: LinkMeter;
  readonly signal?: AbortSignal;
  /** Holds virtual time while the model computes asynchronously (tfjs). */
  readonly track?: <T>(p: Promise<T>) => Promise<T>;
  /** Called after each completed iteration with the worker's new clock. */
  readonly onClock?: (clock: number) => void;
}

/** A read sent and not answered yet: what to send again after a reconnect, and who waits. */
interface PendingRead {
  readonly subject: string;
  readonly request: Uint8Array;
  /** The worker's clock when it was sent: its updates up to this clock went out before it. */
  readonly clock: number;
  readonly resolve: (v: Float32Array) => void;
}

/**
 * A worker (a parameter-server client): per clock it reads its parameter server's replica, computes
 * an update on its next batch with the workload's model, charges the modelled compute time to the
 * clock, and pushes the update, which also reports its new clock. It talks only to its own server.
 *
 * Over NATS core a server restart may drop what was in flight. A transport keeps each connection's
 * messages in order, so a read's reply proves that the updates pushed before the read arrived; the
 * worker keeps the ones not proven so (its last update, normally) and, when the transport reconnects,
 * sends them and its unanswered reads again (`resend()`). The server drops updates it already has.
 * Under BSP a read is answered only once the worker's own update of that clock is in; under SSP a
 * reply racing ahead of the reconnect event could confirm an update lost before the disconnect.
 */
export class Worker<Batch> {
  clock = 0;
  rejected = 0;
  /** Messages sent again after a reconnect. */
  resent = 0;
  private readId = 0;
  private readonly pending = new Map<number, PendingRead>();
  /** Updates pushed and not yet proven arrived, per shard subject. */
  private readonly unconfirmed = new Map<string, { clock: number; msg: Uint8Array }[]>();
  private inbox: Subscription | undefined;

  constructor(private readonly o: WorkerOptions<Batch>) {}

  async run(): Promise<void> {
    const { o } = this;
    this.inbox = o.transport.subscribe(o.inbox);
    void this.receive(this.inbox);
    try {
      while (this.clock < o.clocks && !o.signal?.aborted) {
        const params = await this.read();
        const batch = o.data.nextBatch(o.rng);
        const update = await this.compute(params, batch);
        await o.clock.sleep(o.cost.stepMs(o.batchSize), o.signal);
        this.push(update && this.validate(update, params));
        o.onClock?.(this.clock);
      }
    } catch (e) {
      if (!o.signal?.aborted) throw e;
    } finally {
      this.inbox.unsubscribe();
    }
  }

  /**
   * The model's update, or `undefined` when the model reports that its step diverged and bad updates
   * are skipped; under `fail` that report ends the run as `GaiaError` `DIVERGED`, naming worker and clock.
   */
  private async compute(params: TensorMap, batch: Batch): Promise<TensorMap | undefined> {
    const { o } = this;
    try {
      const computed = o.model.computeUpdate(params, batch);
      return computed instanceof Promise && o.track ? await o.track(computed) : await computed;
    } catch (e) {
      if (!(e instanceof WorkloadError && e.code === 'DIVERGED')) throw e;
      if (o.onBadUpdate === 'fail') {
        throw new GaiaError('DIVERGED', `worker ${o.id} at clock ${this.clock}: ${e.message}`, { cause: e });
      }
      this.rejected++;
      return undefined;
    }
  }

  /**
   * The flat update, or `undefined` when a bad one is skipped. A non-finite update computed from
   * parameters that are non-finite themselves is a divergence (`DIVERGED`): a replica refuses NaN/Inf
   * updates, so only finite updates adding up past float32's range can have put them there.
   */
  private validate(update: TensorMap, params: TensorMap): Float32Array | undefined {
    const flat = this.o.layout.flatten(update);
    try {
      checkDelta(flat, flat.length);
      return flat;
    } catch (e) {
      if (this.o.onBadUpdate === 'fail' || !(e instanceof GaiaError)) {
        const bad = e instanceof GaiaError && e.code === 'NON_FINITE_UPDATE' ? nonFinite(params) : 0;
        throw new GaiaError(
          bad > 0 ? 'DIVERGED' : e instanceof GaiaError ? e.code : 'INVALID_UPDATE',
          `worker ${this.o.id} at clock ${this.clock}: ${
            bad > 0
              ? `the parameters it read hold ${bad} non-finite values (the replica overflowed), so `
              : ''
          }${(e as Error).message}`,
          { cause: e },
        );
      }
      this.rejected++;
      return undefined;
    }
  }

  private async read(): Promise<TensorMap> {
    const { o } = this;
    const flat = new Float32Array(o.layout.size);
    await Promise.all(
      o.shards.map(async (s) => {
        const id = this.readId++;
        const meta: ReadMeta = { w: o.id, r: o.transport.region, c: this.clock, id };
        const request = encodeMessage(meta);
        const got = new Promise<Float32Array>((resolve) =>
          this.pending.set(id, { subject: s.subject, request, clock: this.clock, resolve }),
        );
        this.send(s, 'read', request);
        flat.set(await abortable(got, o.signal), s.range.lo);
      }),
    );
    return o.layout.unflatten(flat);
  }

  private push(flat: Float32Array | undefined): void {
    const { o } = this;
    this.clock++;
    for (const s of o.shards) {
      const meta: UpdateMeta = { w: o.id, r: o.transport.region, c: this.clock };
      let msg: Uint8Array;
      if (flat) {
        const dense = flat.subarray(s.range.lo, s.range.hi);
        const sparse = sparsify(dense);
        const shape = [dense.length];
        // Ship the smaller form: (index, value) pairs cost 8 bytes, a dense entry 4.
        const u =
          sparse.indices.length * 2 < dense.length
            ? { dtype: 'float32' as const, shape, indices: sparse.indices, values: sparse.values }
            : tensor('float32', shape, dense);
        msg = encodeMessage(meta, new Map([['u', u]]));
      } else {
        msg = encodeMessage(meta);
      }
      this.send(s, 'update', msg);
      const kept = this.unconfirmed.get(s.subject) ?? [];
      kept.push({ clock: this.clock, msg });
      this.unconfirmed.set(s.subject, kept);
    }
  }

  /**
   * The transport reconnected: what it may have lost goes out again, in the order first sent (updates,
   * then the reads after them). Shards drop the updates they have; a second reply to a read is ignored.
   */
  resend(): void {
    for (const s of this.o.shards) {
      const updates = this.unconfirmed.get(s.subject) ?? [];
      const reads = [...this.pending.values()].filter((r) => r.subject === s.subject);
      for (const u of updates) this.send(s, 'update', u.msg);
      for (const r of reads) this.send(s, 'read', r.request);
      this.resent += updates.length + reads.length;
    }
  }

  private send(s: ShardAddress, kind: 'read' | 'update', msg: Uint8Array): void {
    const { o } = this;
    o.transport.publish(`${s.subject}.${kind}`, msg, kind === 'read' ? { reply: o.inbox } : undefined);
    o.meter?.count(o.transport.region, s.region, msg.length);
  }

  private async receive(sub: Subscription): Promise<void> {
    for await (const m of sub) {
      try {
        const { meta, tensors } = decodeMessage<{ id: number }>(m.data);
        const v = tensors.get('v');
        const read = this.pending.get(meta.id);
        if (!read || !v || 'indices' in v) continue;
        this.pending.delete(meta.id);
        // The updates pushed before this read reached its shard ahead of it.
        // (Kept in clock order: the proven ones are at the front.)
        const kept = this.unconfirmed.get(read.subject);
        while (kept && kept.length > 0 && (kept[0]?.clock as number) <= read.clock) kept.shift();
        read.resolve(v.data as Float32Array);
      } catch {
        // A malformed reply is dropped: the read waits on, and the run's time or clock limit ends it.
      }
    }
  }
}

function nonFinite(params: TensorMap): number {
  let n = 0;
  for (const t of params.values()) for (const v of t.data as Float32Array) if (!Number.isFinite(v)) n++;
  return n;
}

function abortable<T>(p: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return p;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}
