import { type Clock, systemClock } from '@geoml/core';
import type { Subscription, Transport } from '@geoml/transport';
import type { Clipper } from '../clipper.js';
import { ContainerError } from '../errors.js';
import type { InputSpec } from '../stack.js';
import {
  DEFAULT_MISSED_HEARTBEATS,
  DISCOVER_SUBJECT,
  decodeJson,
  encodeJson,
  GOODBYE_SUBJECT,
  goodbyeSchema,
  HEARTBEAT_SUBJECT,
  REGISTER_SUBJECT,
  registrationSchema,
  replicaSubject,
} from './protocol.js';
import { type RemoteDeployOptions, serveRemoteModel } from './remote-deployment.js';
import { RemotePredictor } from './remote-predictor.js';
import type { ReplicaLease, ReplicaRouter } from './replica-router.js';

/** A live replica as the registry knows it. */
export interface RemoteReplica {
  readonly model: string;
  readonly version: string;
  readonly replica: string;
  readonly inputs: readonly InputSpec[];
  readonly heartbeatMs: number;
  /** Clock time of its last registration or heartbeat. */
  readonly lastSeen: number;
  /** Batches this registry's predictors have in flight on it. */
  readonly inFlight: number;
}

export type ReplicaEvent =
  | { readonly type: 'added'; readonly replica: RemoteReplica }
  | { readonly type: 'dropped' | 'left'; readonly replica: RemoteReplica };

export interface RemoteContainersOptions {
  /**
   * Time for heartbeats, waits and its predictors' batch timeouts. Default `systemClock`; give it the
   * Clipper's clock when serving through `serve`, so batch timeouts and query deadlines share one time.
   */
  readonly clock?: Clock;
  /** Heartbeats a replica may miss before it is dropped. Default 3. */
  readonly missedHeartbeats?: number;
  /** Bound on a batch's round trip for the predictors made here (ms). Default 5000. */
  readonly timeoutMs?: number;
}

interface Entry {
  info: { -readonly [K in keyof RemoteReplica]: RemoteReplica[K] };
  /** Listeners of leases in flight, called once when the replica goes. */
  goneListeners: Set<() => void>;
  /** Resolves once the replica is gone and no batch holds it any more. */
  drained: Promise<void>;
  markDrained: () => void;
}

/**
 * The registry of remote containers: it listens to registrations, heartbeats and goodbyes, drops a replica
 * that misses `missedHeartbeats` heartbeats, and routes each batch of its `RemotePredictor`s to the live
 * replica with the fewest batches in flight. `serve` deploys a model version on Clipper and keeps its
 * replica count equal to the number of live containers (at least 1), through `clipper.scaleModel`.
 */
export class RemoteContainers implements ReplicaRouter {
  private readonly clock: Clock;
  private readonly missed: number;
  private readonly timeoutMs: number;
  private readonly entries = new Map<string, Entry>();
  /** Removed replicas whose batches may still be failing over. */
  private readonly drainedOf = new Map<string, Promise<void>>();
  private readonly listeners = new Set<(e: ReplicaEvent) => void>();
  private readonly subs: Subscription[] = [];
  private readonly stopped = new AbortController();
  private loops: Promise<unknown>[] = [];
  private turn = 0;

  constructor(
    private readonly transport: Transport,
    options: RemoteContainersOptions = {},
  ) {
    this.clock = options.clock ?? systemClock;
    this.missed = options.missedHeartbeats ?? DEFAULT_MISSED_HEARTBEATS;
    this.timeoutMs = options.timeoutMs ?? 5000;
    if (!Number.isInteger(this.missed) || this.missed < 1) {
      throw new RangeError(`missedHeartbeats must be a positive integer, got ${this.missed}`);
    }
  }

  /** Starts listening and asks running containers to register again (so a late registry sees them). */
  async start(): Promise<this> {
    const registrations = this.transport.subscribe(REGISTER_SUBJECT);
    const heartbeats = this.transport.subscribe(HEARTBEAT_SUBJECT);
    const goodbyes = this.transport.subscribe(GOODBYE_SUBJECT);
    this.subs.push(registrations, heartbeats, goodbyes);
    const seen = async (sub: Subscription) => {
      for await (const msg of sub) {
        const r = decodeJson(registrationSchema, msg.data);
        if (r) this.seen(r);
      }
    };
    this.loops = [
      seen(registrations),
      seen(heartbeats),
      (async () => {
        for await (const msg of goodbyes) {
          const g = decodeJson(goodbyeSchema, msg.data);
          if (g) this.remove(key(g.model, g.version, g.replica), 'left');
        }
      })(),
      this.sweep(),
    ].map((p) => p.catch(() => undefined));
    await this.transport.flush();
    this.transport.publish(DISCOVER_SUBJECT, encodeJson({}), { lane: 'control' });
    await this.transport.flush();
    return this;
  }

  /** Live replicas, of one model version or all. */
  replicas(model?: string, version?: string | number): RemoteReplica[] {
    const v = version === undefined ? undefined : String(version);
    return [...this.entries.values()]
      .map((e) => ({ ...e.info }))
      .filter((r) => (model === undefined || r.model === model) && (v === undefined || r.version === v));
  }

  /** Calls `listener` on every replica added, dropped (silent) or left (goodbye); returns an unsubscribe. */
  onChange(listener: (e: ReplicaEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Resolves once `count` replicas of the model version are live; `TIMEOUT` after `timeoutMs`. */
  async waitFor(model: string, version: string | number, count: number, timeoutMs: number): Promise<void> {
    const deadline = this.clock.now() + timeoutMs;
    while (this.replicas(model, version).length < count) {
      const left = deadline - this.clock.now();
      if (left <= 0) {
        throw new ContainerError(
          'TIMEOUT',
          `${this.replicas(model, version).length} of ${count} replicas of model ${model}:${version} registered within ${timeoutMs} ms`,
        );
      }
      await this.clock.sleep(Math.min(left, 10));
    }
  }

  /** A predictor routing through this registry (one per Clipper replica; all share the live containers). */
  predictor(model: string, version: string | number): RemotePredictor {
    return new RemotePredictor(this.transport, {
      model,
      version: String(version),
      timeoutMs: this.timeoutMs,
      router: this,
      clock: this.clock,
    });
  }

  lease(model: string, version: string): ReplicaLease | undefined {
    const live = [...this.entries.values()].filter(
      (e) => e.info.model === model && e.info.version === version,
    );
    if (live.length === 0) return undefined;
    // Fewest batches in flight; ties rotate, so idle replicas share the load.
    const start = this.turn++ % live.length;
    let best = live[start]!;
    for (let i = 1; i < live.length; i++) {
      const e = live[(start + i) % live.length]!;
      if (e.info.inFlight < best.info.inFlight) best = e;
    }
    best.info.inFlight++;
    const entry = best;
    let released = false;
    return {
      replica: best.info.replica,
      subject: replicaSubject(model, version, best.info.replica),
      inputs: best.info.inputs,
      onGone: (listener) => {
        if (this.entries.get(key(model, version, entry.info.replica)) !== entry) {
          listener();
          return () => undefined;
        }
        entry.goneListeners.add(listener);
        return () => entry.goneListeners.delete(listener);
      },
      release: () => {
        if (released) return;
        released = true;
        entry.info.inFlight--;
        if (
          entry.info.inFlight === 0 &&
          this.entries.get(key(model, version, entry.info.replica)) !== entry
        ) {
          entry.markDrained();
        }
      },
    };
  }

  /**
   * Deploys `model:version` on `clipper` served by the remote containers, once `minReplicas` (default 1)
   * registered (waiting up to `waitMs`, default 10 000), and keeps Clipper's replica count equal to the
   * live containers while serving. Returns a function that stops following the containers.
   */
  serve(
    clipper: Clipper,
    model: string,
    version: string | number,
    options: RemoteDeployOptions = {},
  ): Promise<() => void> {
    return serveRemoteModel(this, clipper, model, String(version), options);
  }

  /**
   * Resolves when batches that held a gone replica have all settled (at once when none did), or after
   * `timeoutMs` at the latest.
   */
  async drained(model: string, version: string, replica: string, timeoutMs: number): Promise<void> {
    const drained = this.drainedOf.get(key(model, version, replica));
    if (!drained) return;
    const bound = new AbortController();
    const sleep = this.clock.sleep(timeoutMs, bound.signal).catch(() => undefined);
    await Promise.race([drained, sleep]);
    bound.abort();
  }

  async close(): Promise<void> {
    this.stopped.abort();
    for (const s of this.subs) s.unsubscribe();
    await Promise.allSettled(this.loops);
    for (const k of [...this.entries.keys()]) this.remove(k, 'left');
  }

  private seen(r: ReturnType<typeof registrationSchema.parse>): void {
    const k = key(r.model, r.version, r.replica);
    const now = this.clock.now();
    const known = this.entries.get(k);
    if (known) {
      known.info.lastSeen = now;
      known.info.heartbeatMs = r.heartbeatMs;
      return;
    }
    let markDrained!: () => void;
    const drained = new Promise<void>((resolve) => {
      markDrained = resolve;
    });
    const info = {
      model: r.model,
      version: r.version,
      replica: r.replica,
      inputs: r.inputs,
      heartbeatMs: r.heartbeatMs,
      lastSeen: now,
      inFlight: 0,
    };
    this.entries.set(k, { info, goneListeners: new Set(), drained, markDrained });
    this.emit({ type: 'added', replica: { ...info } });
  }

  private remove(k: string, type: 'dropped' | 'left'): void {
    const e = this.entries.get(k);
    if (!e) return;
    this.entries.delete(k);
    for (const l of [...e.goneListeners]) l();
    e.goneListeners.clear();
    if (e.info.inFlight === 0) e.markDrained();
    else {
      this.drainedOf.set(k, e.drained);
      void e.drained.then(() => this.drainedOf.delete(k));
    }
    this.emit({ type, replica: { ...e.info } });
  }

  private emit(e: ReplicaEvent): void {
    for (const l of this.listeners) {
      try {
        l(e);
      } catch {
        // A listener's failure must not stop the registry.
      }
    }
  }

  /** Drops replicas silent for `missed` heartbeats; checks at a quarter of the shortest heartbeat period. */
  private async sweep(): Promise<void> {
    while (!this.stopped.signal.aborted) {
      const periods = [...this.entries.values()].map((e) => e.info.heartbeatMs);
      await this.clock.sleep(Math.max(5, Math.min(250, ...periods) / 4), this.stopped.signal);
      const now = this.clock.now();
      for (const [k, e] of [...this.entries]) {
        if (now - e.info.lastSeen > this.missed * e.info.heartbeatMs) this.remove(k, 'dropped');
      }
    }
  }
}

function key(model: string, version: string, replica: string): string {
  return `${model}\u0000${version}\u0000${replica}`;
}
