import type { Clock } from '@geoml/core';
import { DeadlineWatch } from './deadline-watch.js';
import { emit, type ServingMetrics } from './metrics.js';
import type { CacheLookup, PredictionCache } from './prediction-cache.js';
import {
  type DefaultReason,
  failure,
  NO_MODEL_EXPLANATION,
  type PredictionResult,
  SLO_MISSED,
  Task,
  type TaskOutcome,
} from './query.js';
import type { ModelVersionScheduler } from './scheduler.js';
import { ServingError } from './serving-error.js';
import { countOutcome, isReplicaError } from './version-stats.js';

/** A model version's answer to one query, and how the cache served it. */
export interface Answer {
  readonly outcome: TaskOutcome;
  readonly cached?: CacheLookup;
  /** Set when a version other than the one asked answered: a canary's query retried on the serving one. */
  readonly version?: string;
}

/**
 * Clipper's model abstraction layer as one query sees it: the prediction cache in front of a model
 * version's queue (and its batching replicas), bounded by the query's deadline, and the answer turned into
 * a `PredictionResult` with the application's default output when the model gave none.
 */
export class ModelAbstraction {
  private readonly watch: DeadlineWatch;

  constructor(
    private readonly clock: Clock,
    private readonly cache: PredictionCache,
    private readonly metrics: ServingMetrics | undefined,
  ) {
    this.watch = new DeadlineWatch(clock);
  }

  /**
   * Runs a query through the cache (when on) and the version's queue, bounded by its deadline, and counts
   * the answer in the version's `stats`. With `rows`, the query is a multi-row one (its input `Rows`): it
   * is queued, cached and answered as one unit.
   */
  async ask(
    scheduler: ModelVersionScheduler,
    input: unknown,
    deadline: number,
    now: number,
    rows?: number,
  ): Promise<Answer> {
    let answer: Answer;
    if (scheduler.deployment.cache) {
      answer = await this.throughCache(scheduler, input, deadline, now, rows);
    } else {
      // The common path: the queued task itself is what the deadline watch expires; nothing to cancel.
      const task = scheduler.enqueue(input, deadline, rows);
      if (!task.settled) this.watch.add(task);
      answer = { outcome: this.late(await task.outcome, deadline) };
    }
    countOutcome(scheduler.stats, answer.outcome);
    return answer;
  }

  /**
   * Asks `routed`, the version a live query went to. When that is a canary (`serving` is another version)
   * and its replica fails (crash, model error, rejected input; not expiry or admission, which say nothing
   * of the version's correctness), the query is asked once of the serving version while its deadline
   * allows, as a KServe or Ray Serve canary does: callers do not pay for a bad canary, and the canary's
   * `stats` still count the failure it is judged by.
   */
  askLive(
    routed: ModelVersionScheduler,
    serving: ModelVersionScheduler | undefined,
    input: unknown,
    deadline: number,
    now: number,
    rows?: number,
  ): Promise<Answer> {
    const asked = this.ask(routed, input, deadline, now, rows);
    return serving === undefined || serving === routed
      ? asked
      : this.fallBack(asked, serving, input, deadline, rows);
  }

  /** `work`'s value, or undefined once clock time `at` comes first; no timer of its own. */
  within<T>(work: Promise<T>, at: number): Promise<T | undefined> {
    return this.watch.within(work, at);
  }

  /** Stops enforcing deadlines (once every model version is closed). */
  close(): void {
    this.watch.close();
  }

  private async fallBack(
    asked: Promise<Answer>,
    serving: ModelVersionScheduler,
    input: unknown,
    deadline: number,
    rows: number | undefined,
  ): Promise<Answer> {
    const answer = await asked;
    // A replica's fault, or the canary undeployed (refused) while the query waited: neither is the
    // caller's, so the serving version answers if there is time.
    if (
      !isReplicaError(answer.outcome) &&
      !(answer.outcome.ok === false && answer.outcome.reason === 'closed')
    ) {
      return answer;
    }
    const now = this.clock.now();
    if (now >= deadline) return answer;
    return { ...(await this.ask(serving, input, deadline, now, rows)), version: serving.version };
  }

  private async throughCache(
    scheduler: ModelVersionScheduler,
    input: unknown,
    deadline: number,
    now: number,
    rows: number | undefined,
  ): Promise<Answer> {
    let key: string;
    try {
      key = this.cache.key(scheduler.name, scheduler.version, input, rows);
    } catch (cause) {
      throw new ServingError('INVALID_INPUT', `input cannot be hashed: ${(cause as Error).message}`, {
        cause,
      });
    }
    const execute = () => scheduler.submit(input, deadline, rows);
    const first = this.cache.fetch(key, now, deadline, execute);
    emit(this.metrics, 'cache', { model: scheduler.name, version: scheduler.version, lookup: first.lookup });
    if (first.lookup === 'hit') return { outcome: await first.outcome, cached: 'hit' };
    const outcome = await this.withinDeadline(first.outcome, deadline, now);
    // A query that joined another's execution shares its fate, but not its deadline: if that execution
    // was refused or expired while this query still has time, it tries once on its own.
    if (first.lookup !== 'coalesced' || outcome.ok || !RETRY_ALONE.has(outcome.reason)) {
      return { outcome, cached: first.lookup };
    }
    const later = this.clock.now();
    if (later >= deadline) return { outcome, cached: first.lookup };
    const second = this.cache.fetch(key, later, deadline, execute);
    emit(this.metrics, 'cache', { model: scheduler.name, version: scheduler.version, lookup: second.lookup });
    if (second.lookup === 'hit') return { outcome: await second.outcome, cached: 'hit' };
    return { outcome: await this.withinDeadline(second.outcome, deadline, later), cached: second.lookup };
  }

  /**
   * The work's outcome, or the SLO default if the deadline comes first. The work may be shared (a cache
   * entry other queries joined), so the deadline ends this query's wait, not the work.
   */
  private withinDeadline(work: Promise<TaskOutcome>, deadline: number, now: number): Promise<TaskOutcome> {
    const wait = new Task<undefined, unknown>(-1, undefined, deadline, now);
    work.then((outcome) => wait.settle(this.late(outcome, deadline)));
    this.watch.add(wait);
    return wait.outcome;
  }

  /**
   * A busy event loop can run the deadline timer after an answer that came too late: the SLO still holds
   * (a late output is cached all the same, for the next identical query).
   */
  private late(outcome: TaskOutcome, deadline: number): TaskOutcome {
    return outcome.ok && this.clock.now() > deadline ? SLO_MISSED : outcome;
  }

  /** The result of a query: the model's output, or `defaultOutput` with the reason it was returned. */
  finish<O>(
    queryId: number,
    app: string | undefined,
    start: number,
    defaultOutput: unknown,
    model: string | undefined,
    version: string | undefined,
    answer: Answer,
  ): PredictionResult<O> {
    const { outcome, cached } = answer;
    const latencyMs = this.clock.now() - start;
    const reason: DefaultReason | undefined = outcome.ok ? undefined : outcome.reason;
    emit(this.metrics, 'prediction', { app, model, version, latencyMs, default: !outcome.ok, reason });
    const result: {
      -readonly [K in keyof PredictionResult<O>]: PredictionResult<O>[K];
    } = {
      queryId,
      output: (outcome.ok ? outcome.output : defaultOutput) as O,
      default: !outcome.ok,
      latencyMs,
    };
    if (!outcome.ok) {
      result.defaultExplanation = outcome.explanation;
      result.defaultReason = outcome.reason;
    }
    if (model !== undefined) result.model = model;
    if (version !== undefined) result.version = version;
    if (outcome.ok && (cached === 'hit' || cached === 'coalesced')) result.cached = cached;
    return result;
  }
}

/** The answer for a model with no serving version. */
export function noServingVersion(model: string): Answer {
  return { outcome: failure('no-model', `${NO_MODEL_EXPLANATION}: model ${model} has no serving version`) };
}

/**
 * The absolute deadline a query asks for (`deadline`, `timeoutMs` relative to `now`; the earlier wins),
 * if any; refuses a non-finite or non-positive one.
 */
export function requestedDeadline(
  options: { readonly deadline?: number; readonly timeoutMs?: number },
  now: number,
): number | undefined {
  let deadline: number | undefined;
  if (options.timeoutMs !== undefined) {
    if (
      typeof options.timeoutMs !== 'number' ||
      !(options.timeoutMs > 0) ||
      !Number.isFinite(options.timeoutMs)
    ) {
      throw new ServingError(
        'INVALID_INPUT',
        `timeoutMs must be a positive number of ms, got ${options.timeoutMs}`,
      );
    }
    deadline = now + options.timeoutMs;
  }
  if (options.deadline !== undefined) {
    if (typeof options.deadline !== 'number' || !Number.isFinite(options.deadline)) {
      throw new ServingError(
        'INVALID_INPUT',
        `deadline must be a finite clock time in ms, got ${options.deadline}`,
      );
    }
    deadline = Math.min(deadline ?? Number.POSITIVE_INFINITY, options.deadline);
  }
  return deadline;
}

/** Failures of a shared execution that say nothing about a joined query with a later deadline. */
const RETRY_ALONE: ReadonlySet<DefaultReason> = new Set(['admission', 'queue-full', 'expired']);
