/**
 * One queue per model version, earliest deadline first (Clipper's `ModelQueue`), with two additions the
 * open-source Clipper lacks: a bound on its length and admission control, so a query that cannot finish in
 * time is answered at once instead of queued to die (the pain of Triton #7512/#7532).
 */

import { MinHeap } from '@geoml/core';

/** What the queue needs of an entry. */
export interface Deadlined {
  /** Absolute deadline, clock ms. */
  readonly deadline: number;
}

/**
 * Predicts how long a query would take to complete if `ahead` queries are served before it. `undefined`
 * means "no estimate yet" (nothing measured), and the query is admitted.
 */
export type CompletionEstimate = (ahead: number) => number | undefined;

/** Whether `offer` queued the entry; when not, why (a sentence for the default explanation). */
export type Admission =
  | { readonly admitted: true }
  | { readonly admitted: false; readonly reason: 'admission' | 'queue-full'; readonly explanation: string };

const ADMITTED: Admission = { admitted: true };

/** A bounded earliest-deadline-first queue (a binary min-heap on deadline, FIFO among equal deadlines). */
export class EdfQueue<T extends Deadlined> {
  private readonly heap = new MinHeap<T>((item) => item.deadline);
  /**
   * The latest deadline queued, exact while the queue holds anything: entries only leave from the earliest
   * end, so the latest stays until the queue empties (a pop of an entry due then leaves only entries due
   * then). It makes admission O(1) in the usual case, a query due after every queued one.
   */
  private latest = Number.NEGATIVE_INFINITY;

  /** @param capacity most entries held at once; `offer` refuses beyond it. */
  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`queue capacity ${capacity} < 1`);
  }

  get length(): number {
    return this.heap.size;
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
    if (this.heap.size >= this.capacity) {
      return {
        admitted: false,
        reason: 'queue-full',
        explanation: `rejected at admission: queue full (${this.heap.size} of ${this.capacity} queries)`,
      };
    }
    // With nothing due before it, a query runs on the next free replica: always admit it. Refusing it on a
    // stale estimate would also starve the estimate of the measurements that could correct it.
    const ahead = estimate && this.heap.size > 0 ? this.countDueBy(item.deadline) : 0;
    if (estimate && ahead > 0) {
      const predicted = estimate(ahead);
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
    if (item.deadline > this.latest) this.latest = item.deadline;
  }

  /** Removes and returns the entry with the earliest deadline. */
  pop(): T | undefined {
    const item = this.heap.pop();
    if (this.heap.size === 0) this.latest = Number.NEGATIVE_INFINITY;
    return item;
  }

  /**
   * Number of queued entries due no later than `deadline`: those EDF serves before a new one due then.
   * O(1) when `deadline` is at or after the latest queued one (a uniform SLO: every new query) or before
   * the earliest; a scan only for a deadline in between (mixed SLOs on one version).
   */
  countDueBy(deadline: number): number {
    const size = this.heap.size;
    if (size === 0 || deadline >= this.latest) return size;
    if (deadline < this.heap.peek()!.deadline) return 0;
    let n = 0;
    for (const item of this.heap) if (item.deadline <= deadline) n++;
    return n;
  }

  /** Removes every entry whose deadline is at or before `now` (they sit at the top of the heap). */
  removeExpired(now: number): T[] {
    const expired: T[] = [];
    while (this.heap.size > 0 && this.heap.peek()!.deadline <= now) expired.push(this.pop()!);
    return expired;
  }

  /**
   * Forms a batch: up to `size` entries in deadline order, after removing those already expired at `now`
   * (returned apart, to be answered with the default output).
   */
  takeBatch(size: number, now: number): { batch: T[]; expired: T[] } {
    const expired = this.removeExpired(now);
    const batch: T[] = [];
    while (batch.length < size && this.heap.size > 0) batch.push(this.pop()!);
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
