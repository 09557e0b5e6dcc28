import { concatRows, type Rows, rowsView } from './rows.js';

/**
 * The vocabulary of one query's life in the serving core: a `Task` waits in its model version's queue, a
 * replica runs it in a batch, and its `TaskOutcome` is either the model's output or a reason for the default.
 */

/** Machine-readable reason a query got the default output (a metric label; the explanation is for people). */
export type DefaultReason =
  /** The application has no linked model, or its model has no serving version. */
  | 'no-model'
  /** The deadline passed before the model answered (Clipper's latency SLO). */
  | 'slo'
  /** Predicted to miss its deadline given the queue ahead, so answered at once instead of queued to die. */
  | 'admission'
  /** The model version's queue was at its bound. */
  | 'queue-full'
  /** Still queued when its deadline passed: removed when a batch was formed, never executed. */
  | 'expired'
  /** The replica's container crashed (after the one retry, or with no time or replica left to retry). */
  | 'crashed'
  /** The container rejected this query's input (dtype, shape, name). */
  | 'bad-input'
  /** Any other model failure: a thrown error, or a wrong number of outputs. */
  | 'model-error'
  /** The model version was undeployed or the serving core closed while the query waited. */
  | 'closed';

/** How a task ended: the model's output, or why there is none. */
export type TaskOutcome<O = unknown> =
  | { readonly ok: true; readonly output: O }
  | {
      readonly ok: false;
      readonly reason: DefaultReason;
      readonly explanation: string;
      readonly cause?: unknown;
    };

/**
 * A query waiting for one model version: what its EDF queue and its replicas see. Its outcome is delivered
 * once, through `outcome`: by its batch, by the scheduler (refused, expired, failed, closed), or by the
 * deadline watch (`expire`: the SLO passed first).
 *
 * A multi-row query (`rows` set: its input is `Rows`, every tensor with that leading dimension) travels as
 * one task. When a batch has room for only some of its rows, `take` lends the batch a part (a task for the
 * first rows still queued, viewing them), and this task answers once every part has: their outputs joined
 * in row order, or the first failure.
 */
export class Task<I = unknown, O = unknown> {
  /** Settles once: the first of `settle` / `expire` counts. */
  readonly outcome: Promise<TaskOutcome<O>>;
  /** Set once the task has been retried after a crash: a task is retried at most once. */
  retried = false;
  settled = false;
  private resolve!: (outcome: TaskOutcome<O>) => void;
  /** Outputs of the parts lent to batches so far, in row order (only once the task was split). */
  private parts: (O | undefined)[] | undefined;
  private partsPending = 0;

  constructor(
    readonly id: number,
    /** The query's input; for a multi-row query, the rows still queued (views of the rows it came with). */
    public input: I,
    /** Absolute deadline, in the serving clock's milliseconds. */
    readonly deadline: number,
    /** When the task entered its queue (clock ms), for queue-time metrics and delayed batching. */
    readonly arrivedAt: number,
    /**
     * Rows of the input when it is `Rows` (a multi-row query), undefined for a one-input query; once the
     * task lent parts to batches, the rows it still holds (0 when all are lent).
     */
    public rows?: number,
  ) {
    this.outcome = new Promise<TaskOutcome<O>>((resolve) => {
      this.resolve = resolve;
    });
  }

  /** Settles the task; only the first call counts. */
  settle(outcome: TaskOutcome<O>): void {
    if (this.settled) return;
    this.settled = true;
    this.resolve(outcome);
  }

  /** The deadline passed before an answer: the SLO default. */
  expire(): void {
    this.settle(SLO_MISSED);
  }

  /**
   * Hands `count` of the rows still queued to a batch: this task itself when that is all of them and none
   * was lent before (the common case), else a part for the first `count`.
   */
  take(count: number): Task<I, O> {
    const rows = this.rows;
    if (rows === undefined || (count === rows && this.parts === undefined)) return this;
    const part = new Task<I, O>(
      this.id,
      rowsView(this.input as Rows, 0, count) as I,
      this.deadline,
      this.arrivedAt,
      count,
    );
    part.retried = this.retried;
    this.input = rowsView(this.input as Rows, count, rows - count) as I;
    this.rows = rows - count;
    this.parts ??= [];
    const parts = this.parts;
    const index = parts.length;
    parts.push(undefined);
    this.partsPending++;
    void part.outcome.then((outcome) => {
      if (!outcome.ok) return this.settle(outcome);
      parts[index] = outcome.output;
      // Answered once every row was lent and every part answered.
      if (--this.partsPending === 0 && this.rows === 0) {
        this.settle({ ok: true, output: concatRows(parts as Rows[]) as O });
      }
    });
    return part;
  }
}

/** What `Clipper.predict` answers; `output` is the application's default output when `default` is true. */
export interface PredictionResult<O = unknown> {
  readonly queryId: number;
  readonly output: O;
  readonly default: boolean;
  /** Why the default output was returned (only when `default`). */
  readonly defaultExplanation?: string;
  /** Machine-readable form of the explanation (only when `default`). */
  readonly defaultReason?: DefaultReason;
  /** The model (and version) that answered or was asked; absent when no model was linked. */
  readonly model?: string;
  readonly version?: string;
  /** Whether the output came from the prediction cache (a hit, or a shared concurrent execution). */
  readonly cached?: 'hit' | 'coalesced';
  /** From `predict` being called to its answer, in clock milliseconds. */
  readonly latencyMs: number;
  /** Selection policies only: the models asked (an ensemble's several). */
  readonly models?: readonly string[];
  /** Selection policies only: asked models with no output by the deadline (stragglers). */
  readonly missing?: readonly string[];
  /** Selection policies only: how far the asked models agreed, in [0, 1]; missing models lower it. */
  readonly confidence?: number;
  /** Selection policies only: the probability each linked model was chosen with (for offline evaluation). */
  readonly probabilities?: Readonly<Record<string, number>>;
  /** Selection policies only: the user or context key whose state chose. */
  readonly context?: string;
}

/** Clipper's own wording, kept so clients written for Clipper read the same explanation. */
export const SLO_EXPLANATION = 'Failed to retrieve a prediction response within the specified latency SLO';
export const NO_MODEL_EXPLANATION = 'No connected models found for query';

/** The outcome of a query whose deadline passed before its model answered. */
export const SLO_MISSED: TaskOutcome<never> = failure('slo', SLO_EXPLANATION);

/** A failed outcome, in one line. */
export function failure(reason: DefaultReason, explanation: string, cause?: unknown): TaskOutcome<never> {
  return cause === undefined ? { ok: false, reason, explanation } : { ok: false, reason, explanation, cause };
}
