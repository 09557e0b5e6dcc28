import type { Clock, Predictor } from '@geoml/core';
import type { ModelDeployment } from './config.js';
import { LatencyModel } from './latency-model.js';
import { emit, type ServingMetrics } from './metrics.js';
import { Notifier } from './notifier.js';
import { type DefaultReason, failure, Task, type TaskOutcome } from './query.js';
import { type CompletionEstimate, EdfQueue } from './queue.js';
import { newReplica, type Replica, type ReplicaStatus, replicaStatus, retryTarget } from './replica.js';
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
 * that many queries in deadline order (answering those already expired), runs them, and reports the
 * latency back — one outstanding batch per replica, so load balances itself across replicas.
 *
 * A batch whose container crashed (`ContainerError` code `CRASHED`; the container respawns its worker) is
 * retried once on another replica while its queries still have time; otherwise, and on any other failure,
 * its queries get the default output. Every task settles: executed, refused, expired, failed or closed.
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
  private readonly metrics: ServingMetrics | undefined;
  private readonly closeGraceMs: number;
  private readonly work = new Notifier();
  private readonly latency = new LatencyModel();
  private nextId = 0;
  private closing: Promise<void> | undefined;

  constructor(options: SchedulerOptions) {
    const { deployment } = options;
    this.name = deployment.name;
    this.version = deployment.version;
    this.deployment = deployment;
    this.clock = options.clock;
    this.metrics = options.metrics;
    this.closeGraceMs = options.closeGraceMs;
    this.queue = new EdfQueue(deployment.maxQueueLength);
    for (const predictor of options.predictors) this.addReplica(predictor);
  }

  get closed(): boolean {
    return this.closing !== undefined;
  }

  get queueLength(): number {
    return this.queue.length;
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
   */
  submit<I, O>(input: I, deadline: number): Promise<TaskOutcome<O>> {
    return this.enqueue<I, O>(input, deadline).outcome;
  }

  /** Like `submit`, but returns the task (already settled when refused), for a deadline watch to expire. */
  enqueue<I, O>(input: I, deadline: number): Task<I, O> {
    const now = this.clock.now();
    const task = new Task<I, O>(this.nextId++, input, deadline, now);
    if (this.closing) {
      task.settle(failure('closed', `model ${this.name}:${this.version} is shutting down`));
      return task;
    }
    const admission = this.queue.offer(task as Task, now, this.admissionEstimate);
    if (!admission.admitted) {
      this.drop(admission.reason, 1);
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
   * Predicted time to serve `ahead` queries and then one more: the replicas first finish their batches in
   * flight (on average), then serve rounds of batches at their controllers' current sizes.
   */
  private readonly estimate: CompletionEstimate = (ahead) => {
    const queries = ahead + 1;
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
  private readonly admissionEstimate: CompletionEstimate = (ahead) => {
    const ms = this.estimate(ahead);
    return ms === undefined ? undefined : ms / this.deployment.budgetDecay;
  };

  private async run(replica: Replica): Promise<void> {
    while (!this.closing && !replica.retired) {
      const retry = replica.inbox.shift();
      if (retry) {
        const now = this.clock.now();
        const live = this.expire(retry, now);
        if (live.length > 0) await this.execute(replica, live, live.length, this.budget(live));
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
      if (formed) await this.execute(replica, formed.batch, formed.cap, formed.budget);
    }
  }

  /**
   * A batch of the earliest-deadline queries, at most as many as the replica's controller allows; or, when
   * the controller would wait for a fuller batch, that size and until when (clock ms) to wait for it.
   */
  private formBatch(replica: Replica): FormedBatch | { cap: number; until: number } | undefined {
    const now = this.clock.now();
    this.answerExpired(this.queue.removeExpired(now));
    const head = this.queue.peek();
    if (!head) return undefined;
    const cap = replica.controller.batchSize(this.budget([head]));
    if (this.queue.length < cap) {
      let wait = replica.controller.delayMs(this.queue.length, cap, now - head.arrivedAt);
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
    this.answerExpired(expired);
    if (batch.length === 0) return undefined;
    return { batch, cap, budget: this.budget(batch) };
  }

  /** Waits until `size` queries are queued, `until` (clock ms) passes, or the replica or scheduler stops. */
  private async waitForQueue(replica: Replica, size: number, until: number): Promise<void> {
    while (!this.closing && !replica.retired && this.queue.length < size) {
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

  private async execute(replica: Replica, batch: Task[], cap: number, budgetMs: number): Promise<void> {
    const start = this.clock.now();
    replica.inflight = batch;
    replica.busyUntil = start + (this.latency.predict(batch.length) ?? 0);
    let outputs: unknown[] | undefined;
    let error: unknown;
    try {
      const result = await replica.predictor.predict(batch.map((t) => t.input));
      if (Array.isArray(result) && result.length === batch.length) outputs = result;
      else {
        const got = Array.isArray(result) ? `${result.length} outputs` : typeof result;
        error = new Error(`returned ${got} for a batch of ${batch.length}`);
      }
    } catch (e) {
      error = e;
    } finally {
      replica.inflight = undefined;
      replica.busyUntil = 0;
    }
    const latencyMs = this.clock.now() - start;
    if (this.metrics?.batch) {
      emit(this.metrics, 'batch', {
        model: this.name,
        version: this.version,
        replica: replica.index,
        size: batch.length,
        cap,
        latencyMs,
        budgetMs,
        queueMs: batch.map((t) => start - t.arrivedAt),
        ok: outputs !== undefined,
      });
    }
    if (!outputs) {
      this.fail(replica, batch, error);
      return;
    }
    replica.controller.observe({ size: batch.length, cap, latencyMs, budgetMs });
    this.latency.observe(batch.length, latencyMs);
    for (let i = 0; i < batch.length; i++) batch[i]!.settle({ ok: true, output: outputs[i] });
  }

  private fail(replica: Replica, batch: Task[], error: unknown): void {
    const code = (error as { code?: unknown } | undefined)?.code;
    const message = error instanceof Error ? error.message : String(error);
    const where = `replica ${replica.index} of model ${this.name}:${this.version}`;
    if (code === 'CRASHED') {
      this.retryElsewhere(replica, batch, `${where} crashed: ${message}`, error);
      return;
    }
    if (code === 'BAD_INPUT') {
      // One bad query must not cost its batch-mates their answer: rerun each alone; a lone one is to blame.
      if (batch.length > 1) {
        for (const task of batch) replica.inbox.push([task]);
        return;
      }
      this.answer(
        batch,
        'bad-input',
        `model ${this.name}:${this.version} rejected the input: ${message}`,
        error,
      );
      return;
    }
    this.answer(batch, 'model-error', `${where} failed: ${message}`, error);
  }

  private retryElsewhere(replica: Replica, batch: Task[], explanation: string, error: unknown): void {
    const now = this.clock.now();
    const target = this.closing ? undefined : retryTarget(this.replicas, replica);
    const retry: Task[] = [];
    for (const task of batch) {
      if (task.retried) this.answer([task], 'crashed', `${explanation} (on its one retry)`, error);
      else if (!target) this.answer([task], 'crashed', `${explanation}; no other replica to retry on`, error);
      else if (task.deadline <= now)
        this.answer([task], 'crashed', `${explanation}; no time left to retry`, error);
      else {
        task.retried = true;
        retry.push(task);
      }
    }
    if (target && retry.length > 0) {
      target.inbox.push(retry);
      this.work.notify();
    }
  }

  /** The tasks of `batch` still in time; the others are answered as expired. */
  private expire(batch: Task[], now: number): Task[] {
    const live: Task[] = [];
    const expired: Task[] = [];
    for (const task of batch) (task.deadline > now ? live : expired).push(task);
    this.answerExpired(expired);
    return live;
  }

  private answerExpired(expired: readonly Task[]): void {
    if (expired.length === 0) return;
    this.answer(
      expired,
      'expired',
      `expired in queue: the deadline passed before a replica of ${this.name}:${this.version} was free`,
    );
  }

  private answer(tasks: readonly Task[], reason: DefaultReason, explanation: string, cause?: unknown): void {
    if (tasks.length === 0) return;
    this.drop(reason, tasks.length);
    const outcome = failure(reason, explanation, cause);
    for (const task of tasks) task.settle(outcome);
  }

  private drop(reason: DefaultReason, count: number): void {
    emit(this.metrics, 'drop', { model: this.name, version: this.version, reason, count });
  }

  private async shutdown(explanation: string): Promise<void> {
    this.answer(this.queue.drain(), 'closed', explanation);
    for (const r of this.replicas) this.answer(r.inbox.splice(0).flat(), 'closed', explanation);
    this.work.notify();
    const stop = new AbortController();
    await Promise.race([
      Promise.allSettled(this.replicas.map((r) => r.loop)),
      this.clock.sleep(this.closeGraceMs, stop.signal).catch(() => undefined),
    ]);
    stop.abort(WOKEN);
    // Batches still running past the grace period are answered now; their late outputs are ignored.
    for (const r of this.replicas) {
      if (r.inflight) this.answer(r.inflight, 'closed', `${explanation} while its batch was running`);
      for (const batch of r.inbox.splice(0)) this.answer(batch, 'closed', explanation);
    }
    await Promise.allSettled(this.replicas.map((r) => r.predictor.dispose?.()));
  }
}

/** The reason a finished wait cancels its timer with: a given value, so no DOMException is built. */
const WOKEN = Symbol('woken');
