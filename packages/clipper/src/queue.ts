/**
 * One queue per model version, earliest deadline first (Clipper's `ModelQueue`), with two additions the
 * open-source Clipper lacks: a bound on its length and admission control, so a query that cannot finish in
 * time is answered at once instead of queued to die (the pain of Triton #7512/#7532).
 *
 * The queue counts rows, the model's unit of work: a query of one input counts 1, a multi-row query (a
 * request's batch, as Triton and the Open Inference Protocol send it) counts its rows. A batch takes rows
 * up to its size; a multi-row query that does not fit whole lends the batch its first rows and keeps its
 * place for the rest (TF Serving's large-batch splitting), so batches stay full.
 */

import { MinHeap } from '@geoml/core';

/** What the queue needs of an entry. */
export interface Deadlined {
  /** Absolute deadline, clock ms. */
  readonly deadline: number;
}

/** An entry of several rows (1 when `rows` is absent), which a batch may take in part. */
export interface Queued<T> extends Deadlined {
  /** Rows still queued in this entry. */
  readonly rows?: number | undefined;
  /**
   * Hands `count` of its rows to a batch: the entry itself when it is taken whole and was never split,
   * else an entry for those rows (the first ones still queued). Needed when `rows` exceeds 1.
   */
  take?(count: number): T;
  /**
   * True once the entry was answered while queued (a split query whose lent part failed): its rows
   * still queued are left out of batches instead of run for nobody.
   */
  readonly settled?: boolean;
}

/**
 * Predicts how long a query of `rows` rows would take to complete if `ahead` rows are served before it.
 * `undefined` means "no estimate yet" (nothing measured), and the query is admitted.
 */
export type CompletionEstimate = (ahead: number, rows: number) => number | undefined;

/** Whether `offer` queued the entry; when not, why (a sentence for the default explanation). */
export type Admission =
  | { readonly admitted: true }
  | { readonly admitted: false; readonly reason: 'admission' | 'queue-full'; readonly explanation: string };

const ADMITTED: Admission = { admitted: true };

const rowsOf = (item: Queued<unknown>): number => item.rows ?? 1;

/** A bounded earliest-deadline-first queue (a binary min-heap on deadline, FIFO among equal deadlines). */
export class EdfQueue<T extends Queued<T>> {
  private readonly heap = new MinHeap<T>((item) => item.deadline);
  /** Rows queued over every entry. */
  private queuedRows = 0;
  /**
   * The latest deadline queued, exact while the queue holds anything: entries only leave from the earliest
   * end, so the latest stays until the queue empties (a pop of an entry due then leaves only entries due
   * then). It makes admission O(1) in the usual case, a query due after every queued one.
   */
  private latest = Number.NEGATIVE_INFINITY;

  /** @param capacity most rows held at once; `offer` refuses beyond it. */
  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`queue capacity ${capacity} < 1`);
  }

  /** Entries queued (a multi-row query counts once). */
  get length(): number {
    return this.heap.size;
  }

  /** Rows queued over every entry: the work waiting. */
  get rows(): number {
    return this.queuedRows;
  }

  /** The entry with the earliest deadline, left in place. */
  peek(): T | undefined {
    return this.heap.peek();
  }

  /**
   * Queues `item` unless the queue is full or it would miss its deadline: with `estimate`, a query whose
   * predicted completion (given the queries due no later than it, which EDF serves first) lands after its
   * deadline is refused — unless none is due before it. A deadline already past is always refused.
   */
  offer(item: T, now: number, estimate?: CompletionEstimate): Admission {
    const slack = item.deadline - now;
    if (slack <= 0) {
      return {
        admitted: false,
        reason: 'admission',
        explanation: `rejected at admission: deadline already passed ${fmt(-slack)} ms ago`,
      };
    }
    const rows = rowsOf(item);
    if (this.queuedRows + rows > this.capacity) {
      return {
        admitted: false,
        reason: 'queue-full',
        explanation:
          rows === 1
            ? `rejected at admission: queue full (${this.queuedRows} of ${this.capacity} queries)`
            : `rejected at admission: queue full (${this.queuedRows} of ${this.capacity} rows queued, no room for this query's ${rows})`,
      };
    }
    // With nothing due before it, a query runs on the next free replica: always admit it. Refusing it on a
    // stale estimate would also starve the estimate of the measurements that could correct it.
    const ahead = estimate && this.heap.size > 0 ? this.countDueBy(item.deadline) : 0;
    if (estimate && ahead > 0) {
      const predicted = estimate(ahead, rows);
      if (predicted !== undefined && predicted > slack) {
        return {
          admitted: false,
          reason: 'admission',
          explanation:
            `rejected at admission: predicted completion in ${fmt(predicted)} ms with ${ahead} ` +
            `queries ahead exceeds the ${fmt(slack)} ms left before the deadline`,
        };
      }
    }
    this.push(item);
    return ADMITTED;
  }

  /** Queues `item` regardless of bound and deadline (for re-queueing work already admitted). */
  push(item: T): void {
    this.heap.push(item);
    this.queuedRows += rowsOf(item);
    if (item.deadline > this.latest) this.latest = item.deadline;
  }

  /** Removes and returns the entry with the earliest deadline. */
  pop(): T | undefined {
    const item = this.heap.pop();
    if (item) this.queuedRows -= rowsOf(item);
    if (this.heap.size === 0) this.latest = Number.NEGATIVE_INFINITY;
    return item;
  }

  /**
   * Rows queued that are due no later than `deadline`: those EDF serves before a new query due then.
   * O(1) when `deadline` is at or after the latest queued one (a uniform SLO: every new query) or before
   * the earliest; a scan only for a deadline in between (mixed SLOs on one version).
   */
  countDueBy(deadline: number): number {
    if (this.heap.size === 0 || deadline >= this.latest) return this.queuedRows;
    if (deadline < this.heap.peek()!.deadline) return 0;
    let n = 0;
    for (const item of this.heap) if (item.deadline <= deadline) n += rowsOf(item);
    return n;
  }

  /** Removes every entry whose deadline is at or before `now` (they sit at the top of the heap). */
  removeExpired(now: number): T[] {
    const expired: T[] = [];
    while (this.heap.size > 0 && this.heap.peek()!.deadline <= now) expired.push(this.pop()!);
    return expired;
  }

  /**
   * Forms a batch: up to `size` rows in deadline order, after removing the entries already expired at
   * `now` (returned apart, to be answered with the default output) and passing over those already
   * answered. The last entry may lend only its first rows, keeping its place for the rest.
   */
  takeBatch(size: number, now: number): { batch: T[]; expired: T[] } {
    const expired = this.removeExpired(now);
    const batch: T[] = [];
    let room = size;
    while (room > 0 && this.heap.size > 0) {
      const head = this.heap.peek()!;
      if (head.settled) {
        this.pop();
        continue;
      }
      const rows = rowsOf(head);
      if (rows <= room) {
        this.pop();
        batch.push(head.take ? head.take(rows) : head);
        room -= rows;
      } else {
        // Only the entry's count changes, not its deadline: it stays at the top of the heap.
        batch.push(head.take!(room));
        this.queuedRows -= room;
        room = 0;
      }
    }
    return { batch, expired };
  }

  /** Empties the queue, returning what it held (earliest deadline first). */
  drain(): T[] {
    const all: T[] = [];
    while (this.heap.size > 0) all.push(this.pop()!);
    return all;
  }
}

function fmt(ms: number): string {
  return ms >= 100 ? ms.toFixed(0) : ms.toFixed(1);
}
