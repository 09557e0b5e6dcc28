import type { Clock, Predictor } from '@geoml/core';
import { BatchRunner, rowsIn } from './batch-runner.js';
import type { ModelDeployment } from './config.js';
import { LatencyModel } from './latency-model.js';
import type { ServingMetrics } from './metrics.js';
import { Notifier } from './notifier.js';
import { failure, Task, type TaskOutcome } from './query.js';
import { type CompletionEstimate, EdfQueue } from './queue.js';
import { newReplica, type Replica, type ReplicaStatus, replicaStatus } from './replica.js';
import type { VersionStats } from './version-stats.js';

// Where the version's stats were first declared; kept so importers of it here need no change.
export type { VersionStats } from './version-stats.js';

/** A batch taken from the queue for one replica: its tasks, the size allowed, its latency budget. */
interface FormedBatch {
  readonly batch: Task[];
  readonly cap: number;
  readonly budget: number;
}

export interface SchedulerOptions {
  readonly deployment: ModelDeployment;
  readonly predictors: readonly Predictor[];
  readonly clock: Clock;
  readonly metrics?: ServingMetrics;
  readonly closeGraceMs: number;
}

/**
 * Serves one model version: its EDF queue and one loop per replica. Replicas pull (Clipper's flow control):
 * a free replica asks its controller for a batch size given the time left to the earliest deadline, takes
 * that many rows in deadline order (answering queries already expired), runs them, and reports the
 * latency back — one outstanding batch per replica, so load balances itself across replicas. A query of
 * several rows counts its rows everywhere a size is (queue bound, admission, batch size).
 *
 * Running a batch and its failures (crash retry, bad-input isolation) are the `BatchRunner`'s. Every task
 * settles: executed, refused, expired, failed or closed.
 */
export class ModelVersionScheduler {
  readonly name: string;
  readonly version: string;
  readonly deployment: ModelDeployment;
  /** Counted by the serving core as it answers queries of this version. */
  readonly stats: VersionStats = { answered: 0, defaulted: 0, failed: 0 };
  private readonly queue: EdfQueue<Task>;
  private replicas: Replica[] = [];
  private nextReplica = 0;
  private readonly clock: Clock;
  private readonly closeGraceMs: number;
  private readonly work = new Notifier();
  private readonly latency = new LatencyModel();
  private readonly runner: BatchRunner;
  private nextId = 0;
  private closing: Promise<void> | undefined;

  constructor(options: SchedulerOptions) {
    const { deployment } = options;
    this.name = deployment.name;
    this.version = deployment.version;
    this.deployment = deployment;
    this.clock = options.clock;
    this.closeGraceMs = options.closeGraceMs;
    this.queue = new EdfQueue(deployment.maxQueueLength);
    const scheduler = this;
    this.runner = new BatchRunner({
      name: this.name,
      version: this.version,
      clock: this.clock,
      metrics: options.metrics,
      latency: this.latency,
      replicas: () => this.replicas,
      get closed() {
        return scheduler.closed;
      },
      notify: () => this.work.notify(),
    });
    for (const predictor of options.predictors) this.addReplica(predictor);
  }

  get closed(): boolean {
    return this.closing !== undefined;
  }

  /** Rows queued (a query of one input counts 1). */
  get queueLength(): number {
    return this.queue.rows;
  }

  get replicaCount(): number {
    return this.replicas.length;
  }

  /** Starts serving with one more replica (Clipper's `set_num_replicas` upward). */
  addReplica(predictor: Predictor): void {
    if (this.closing) throw new Error(`model ${this.name}:${this.version} is closed`);
    const replica = newReplica(this.nextReplica++, predictor, this.deployment.batching);
    this.replicas.push(replica);
    replica.loop = this.run(replica);
  }

  /**
   * Removes one replica (an idle one if any, else the newest): it finishes its batch in flight, batches
   * handed to it go back to the queue, and its predictor is disposed. The last replica cannot go.
   */
  async removeReplica(): Promise<void> {
    if (this.replicas.length <= 1) throw new RangeError(`model ${this.name}:${this.version} needs a replica`);
    const replica = [...this.replicas].reverse().find((r) => !r.inflight) ?? this.replicas.at(-1)!;
    replica.retired = true;
    this.replicas = this.replicas.filter((r) => r !== replica);
    this.work.notify();
    await replica.loop;
    for (const task of replica.inbox.splice(0).flat()) this.queue.push(task);
    this.work.notify();
    await replica.predictor.dispose?.();
  }

  replicaStatus(): ReplicaStatus[] {
    return this.replicas.map(replicaStatus);
  }

  /**
   * Queues one query due at `deadline` (clock ms) and resolves with its outcome; never rejects. A query the
   * queue cannot take, or that admission control predicts would miss its deadline, is answered at once.
   * With `rows`, the input is `Rows` (every tensor with that many rows first, checked by the caller) and
   * the output the model's rows for them.
   */
  submit<I, O>(input: I, deadline: number, rows?: number): Promise<TaskOutcome<O>> {
    return this.enqueue<I, O>(input, deadline, rows).outcome;
  }

  /** Like `submit`, but returns the task (already settled when refused), for a deadline watch to expire. */
  enqueue<I, O>(input: I, deadline: number, rows?: number): Task<I, O> {
    const now = this.clock.now();
    const task = new Task<I, O>(this.nextId++, input, deadline, now, rows);
    if (this.closing) {
      task.settle(failure('closed', `model ${this.name}:${this.version} is shutting down`));
      return task;
    }
    const admission = this.queue.offer(task as Task, now, this.admissionEstimate);
    if (!admission.admitted) {
      this.runner.drop(admission.reason, rows ?? 1);
      task.settle(failure(admission.reason, admission.explanation));
      return task;
    }
    this.work.notify();
    return task;
  }

  /**
   * Stops taking queries, answers the queued ones with the default, waits up to the grace period for the
   * batches in flight, answers any still running, and disposes the replicas.
   */
  close(explanation = `model ${this.name}:${this.version} was undeployed`): Promise<void> {
    this.closing ??= this.shutdown(explanation);
    return this.closing;
  }

  /**
   * Predicted time to serve `ahead` rows and then a query of `rows`: the replicas first finish their
   * batches in flight (on average), then serve rounds of batches at their controllers' current sizes.
   */
  private readonly estimate: CompletionEstimate = (ahead, rows) => {
    const queries = ahead + rows;
    const now = this.clock.now();
    let capacity = 0;
    let busy = 0;
    for (const r of this.replicas) {
      capacity += r.controller.current;
      busy += Math.max(0, r.busyUntil - now);
    }
    const rounds = Math.ceil(queries / Math.max(1, capacity));
    const perReplica = Math.ceil(queries / this.replicas.length);
    const size = Math.max(1, Math.min(perReplica, Math.ceil(capacity / this.replicas.length)));
    const batchMs = this.latency.predict(size);
    return batchMs === undefined ? undefined : busy / this.replicas.length + rounds * batchMs;
  };

  /**
   * The completion estimate as admission control uses it: stretched by 1 / budgetDecay, the same slack
   * batches keep. In overload every admitted query sits at the margin, and an unstretched mean would
   * admit queries that miss half the time, wasting the replica on answers nobody receives.
   */
  private readonly admissionEstimate: CompletionEstimate = (ahead, rows) => {
    const ms = this.estimate(ahead, rows);
    return ms === undefined ? undefined : ms / this.deployment.budgetDecay;
  };

  private async run(replica: Replica): Promise<void> {
    while (!this.closing && !replica.retired) {
      const retry = replica.inbox.shift();
      if (retry) {
        const live = this.runner.expire(retry, this.clock.now());
        if (live.length > 0) await this.runner.execute(replica, live, rowsIn(live), this.budget(live));
        continue;
      }
      if (this.queue.length === 0) {
        await this.work.wait();
        continue;
      }
      // Forming a batch is synchronous unless the controller waits for a fuller one (delayed batching):
      // the common path reaches the predictor without an extra await.
      let formed = this.formBatch(replica);
      if (formed && 'until' in formed) {
        await this.waitForQueue(replica, formed.cap, formed.until);
        if (replica.retired || this.closing) continue;
        formed = this.takeBatch(formed.cap);
      }
      if (formed) await this.runner.execute(replica, formed.batch, formed.cap, formed.budget);
    }
  }

  /**
   * A batch of the earliest-deadline rows, at most as many as the replica's controller allows; or, when
   * the controller would wait for a fuller batch, that size and until when (clock ms) to wait for it.
   */
  private formBatch(replica: Replica): FormedBatch | { cap: number; until: number } | undefined {
    const now = this.clock.now();
    this.runner.answerExpired(this.queue.removeExpired(now));
    const head = this.queue.peek();
    if (!head) return undefined;
    const cap = replica.controller.batchSize(this.budget([head]));
    if (this.queue.rows < cap) {
      let wait = replica.controller.delayMs(this.queue.rows, cap, now - head.arrivedAt);
      if (wait > 0) {
        // Never wait away the time the earliest query needs for the batch itself.
        const batchMs = this.latency.predict(cap);
        if (batchMs !== undefined) {
          wait = Math.min(wait, (head.deadline - now) * this.deployment.budgetDecay - batchMs);
        }
      }
      if (wait > 0) return { cap, until: now + wait };
    }
    return this.takeBatch(cap);
  }

  private takeBatch(cap: number): FormedBatch | undefined {
    const { batch, expired } = this.queue.takeBatch(cap, this.clock.now());
    this.runner.answerExpired(expired);
    if (batch.length === 0) return undefined;
    return { batch, cap, budget: this.budget(batch) };
  }

  /** Waits until `size` rows are queued, `until` (clock ms) passes, or the replica or scheduler stops. */
  private async waitForQueue(replica: Replica, size: number, until: number): Promise<void> {
    while (!this.closing && !replica.retired && this.queue.rows < size) {
      const left = until - this.clock.now();
      if (left <= 0) return;
      const stop = new AbortController();
      const timer = this.clock.sleep(left, stop.signal).catch(() => undefined);
      await Promise.race([timer, this.work.wait()]);
      stop.abort(WOKEN);
    }
  }

  /**
   * The latency a batch may take: half the tightest latency objective among its queries (one batch
   * waiting while one runs), times `budgetDecay`. Deliberately not the time left to the earliest
   * deadline: that shrinks with every wait, so a controller fed it backs off whenever the queue is deep,
   * shrinking capacity exactly when it is needed (a feedback loop seen under wall-clock noise). Queues
   * too deep for the objective are admission control's business.
   */
  private budget(batch: readonly Task[]): number {
    let objective = Number.POSITIVE_INFINITY;
    for (const t of batch) objective = Math.min(objective, t.deadline - t.arrivedAt);
    return Math.max(0, (objective / 2) * this.deployment.budgetDecay);
  }

  private async shutdown(explanation: string): Promise<void> {
    this.runner.answer(this.queue.drain(), 'closed', explanation);
    for (const r of this.replicas) this.runner.answer(r.inbox.splice(0).flat(), 'closed', explanation);
    this.work.notify();
    const stop = new AbortController();
    await Promise.race([
      Promise.allSettled(this.replicas.map((r) => r.loop)),
      this.clock.sleep(this.closeGraceMs, stop.signal).catch(() => undefined),
    ]);
    stop.abort(WOKEN);
    // Batches still running past the grace period are answered now; their late outputs are ignored.
    for (const r of this.replicas) {
      if (r.inflight) this.runner.answer(r.inflight, 'closed', `${explanation} while its batch was running`);
      for (const batch of r.inbox.splice(0)) this.runner.answer(batch, 'closed', explanation);
    }
    await Promise.allSettled(this.replicas.map((r) => r.predictor.dispose?.()));
  }
}

/** The reason a finished wait cancels its timer with: a given value, so no DOMException is built. */
const WOKEN = Symbol('woken');
