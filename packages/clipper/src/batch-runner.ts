import type { Clock } from '@geoml/core';
import type { LatencyModel } from './latency-model.js';
import { emit, type ServingMetrics } from './metrics.js';
import { runModelBatch } from './model-batch.js';
import { type DefaultReason, failure, type Task } from './query.js';
import { type Replica, retryTarget } from './replica.js';

/** What a batch runner needs of the model version it serves. */
export interface RunnerHost {
  readonly name: string;
  readonly version: string;
  readonly clock: Clock;
  readonly metrics: ServingMetrics | undefined;
  /** Batch latencies by rows, for admission control and for when a replica is predicted free. */
  readonly latency: LatencyModel;
  /** The version's live replicas (retry targets). */
  replicas(): readonly Replica[];
  /** True once the version is closing: nothing is retried then. */
  readonly closed: boolean;
  /** Wakes the replica loops (a retry was handed to one). */
  notify(): void;
}

/** Rows a batch of tasks holds. */
export function rowsIn(tasks: readonly Task[]): number {
  let rows = 0;
  for (const task of tasks) rows += task.rows ?? 1;
  return rows;
}

/**
 * Runs formed batches on a model version's replicas and answers their queries: with the model's outputs,
 * or after a failure by Clipper's rules — a batch whose container crashed (`ContainerError` code `CRASHED`;
 * the container respawns its worker) is retried once on another replica while its queries still have
 * time; a batch the container refused as bad input is rerun query by query, so one bad query does not cost
 * its batch-mates their answers; any other failure gives its queries the default output.
 */
export class BatchRunner {
  constructor(private readonly host: RunnerHost) {}

  async execute(replica: Replica, batch: Task[], cap: number, budgetMs: number): Promise<void> {
    const { clock, latency, metrics } = this.host;
    const rows = rowsIn(batch);
    const start = clock.now();
    replica.inflight = batch;
    replica.busyUntil = start + (latency.predict(rows) ?? 0);
    let outputs: unknown[] | undefined;
    let error: unknown;
    try {
      outputs = await runModelBatch(replica.predictor, batch);
    } catch (e) {
      error = e;
    } finally {
      replica.inflight = undefined;
      replica.busyUntil = 0;
    }
    const latencyMs = clock.now() - start;
    if (metrics?.batch) {
      emit(metrics, 'batch', {
        model: this.host.name,
        version: this.host.version,
        replica: replica.index,
        size: rows,
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
    replica.controller.observe({ size: rows, cap, latencyMs, budgetMs });
    latency.observe(rows, latencyMs);
    for (let i = 0; i < batch.length; i++) batch[i]!.settle({ ok: true, output: outputs[i] });
  }

  /** The tasks of `batch` still in time; the others are answered as expired. */
  expire(batch: Task[], now: number): Task[] {
    const live: Task[] = [];
    const expired: Task[] = [];
    for (const task of batch) (task.deadline > now ? live : expired).push(task);
    this.answerExpired(expired);
    return live;
  }

  answerExpired(expired: readonly Task[]): void {
    if (expired.length === 0) return;
    this.answer(
      expired,
      'expired',
      `expired in queue: the deadline passed before a replica of ${this.host.name}:${this.host.version} was free`,
    );
  }

  /** Gives `tasks` the default output for `reason`, counting their rows as dropped. */
  answer(tasks: readonly Task[], reason: DefaultReason, explanation: string, cause?: unknown): void {
    if (tasks.length === 0) return;
    this.drop(reason, rowsIn(tasks));
    const outcome = failure(reason, explanation, cause);
    for (const task of tasks) task.settle(outcome);
  }

  drop(reason: DefaultReason, count: number): void {
    emit(this.host.metrics, 'drop', { model: this.host.name, version: this.host.version, reason, count });
  }

  private fail(replica: Replica, batch: Task[], error: unknown): void {
    const code = (error as { code?: unknown } | undefined)?.code;
    const message = error instanceof Error ? error.message : String(error);
    const { name, version } = this.host;
    const where = `replica ${replica.index} of model ${name}:${version}`;
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
      this.answer(batch, 'bad-input', `model ${name}:${version} rejected the input: ${message}`, error);
      return;
    }
    this.answer(batch, 'model-error', `${where} failed: ${message}`, error);
  }

  private retryElsewhere(replica: Replica, batch: Task[], explanation: string, error: unknown): void {
    const now = this.host.clock.now();
    const target = this.host.closed ? undefined : retryTarget(this.host.replicas(), replica);
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
      this.host.notify();
    }
  }
}
