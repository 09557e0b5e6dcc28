import { type Clock, MinHeap } from '@geoml/core';

/** Something due by a deadline: `expire` is called once the deadline passed, unless it `settled` first. */
export interface Deadlined {
  readonly deadline: number;
  readonly settled: boolean;
  expire(): void;
}

/**
 * Enforces the deadlines of every query in flight with one timer, armed for the earliest: a query adds
 * itself (a heap push) and leaves nothing to cancel when it is answered in time — the common case. A timer
 * and an AbortController per query cost more than the rest of the serving core's path together (mostly
 * the abort: an Event dispatched and a DOMException built with its stack).
 *
 * Answered entries stay in the heap until the timer passes them (or a compaction drops them), and the
 * timer is not cancelled when the last query is answered: it fires once more, finds nothing to expire,
 * and stops. `close` cancels it (and expires what is left).
 */
export class DeadlineWatch {
  private heap = new MinHeap<Deadlined>((d) => d.deadline);
  /** The deadline the armed timer is for (+∞ when none is armed). */
  private armedFor = Number.POSITIVE_INFINITY;
  private stop: AbortController | undefined;
  /** Heap size past which answered entries are dropped (twice the live ones at the last compaction, plus). */
  private compactAt = COMPACT_MIN;

  constructor(private readonly clock: Clock) {}

  /** Calls `entry.expire()` at `entry.deadline` unless the entry has settled by then. */
  add(entry: Deadlined): void {
    this.heap.push(entry);
    if (this.heap.size > this.compactAt) this.compact();
    if (entry.deadline < this.armedFor) this.arm(entry.deadline);
  }

  /** `work`'s value, or undefined once clock time `at` comes first (a rejection of `work` passes through). */
  within<T>(work: Promise<T>, at: number): Promise<T | undefined> {
    return new Promise<T | undefined>((resolve, reject) => {
      const entry = {
        deadline: at,
        settled: false,
        expire() {
          entry.settled = true;
          resolve(undefined);
        },
      };
      work.then(
        (value) => {
          entry.settled = true;
          resolve(value);
        },
        (error: unknown) => {
          entry.settled = true;
          reject(error);
        },
      );
      this.add(entry);
    });
  }

  /** Cancels the timer and expires every entry still watched at once, so no wait outlives the watch. */
  close(): void {
    this.stop?.abort(CLOSED);
    this.stop = undefined;
    this.armedFor = Number.POSITIVE_INFINITY;
    const heap = this.heap;
    this.heap = new MinHeap<Deadlined>((d) => d.deadline);
    for (let entry = heap.pop(); entry; entry = heap.pop()) if (!entry.settled) entry.expire();
  }

  private arm(at: number): void {
    // Re-arming earlier than the armed timer is the rare case (a query with a shorter deadline than one
    // already waiting): the later timer is cancelled, since it would only fire to find its entry answered.
    this.stop?.abort(REARMED);
    const stop = new AbortController();
    this.stop = stop;
    this.armedFor = at;
    this.clock.sleep(at - this.clock.now(), stop.signal).then(
      () => this.fire(stop),
      () => undefined,
    );
  }

  private fire(stop: AbortController): void {
    if (this.stop !== stop) return;
    this.stop = undefined;
    this.armedFor = Number.POSITIVE_INFINITY;
    const now = this.clock.now();
    const heap = this.heap;
    for (let top = heap.peek(); top; top = heap.peek()) {
      // A timer may fire a fraction of a millisecond early (timers have whole-millisecond resolution):
      // an entry not yet due is left, and the timer re-armed for it.
      if (!top.settled && top.deadline > now) break;
      heap.pop();
      if (!top.settled) top.expire();
    }
    const next = heap.peek();
    if (next) this.arm(next.deadline);
  }

  /**
   * Drops answered entries once they accumulate (long deadlines under a high query rate); amortised over
   * the pushes since the last compaction, it costs O(log n) a push.
   */
  private compact(): void {
    const live = new MinHeap<Deadlined>((d) => d.deadline);
    for (const entry of this.heap) if (!entry.settled) live.push(entry);
    this.heap = live;
    this.compactAt = 2 * live.size + COMPACT_MIN;
  }
}

const COMPACT_MIN = 4096;
const CLOSED = Symbol('deadline watch closed');
const REARMED = Symbol('deadline watch re-armed');
