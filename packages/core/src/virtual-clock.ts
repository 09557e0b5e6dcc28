import type { Clock } from './clock.js';
import { ClockError } from './errors.js';
import { MinHeap } from './min-heap.js';

interface Timer {
  readonly at: number;
  readonly resolve: () => void;
  cancelled: boolean;
}

/** Yields to the macrotask queue: every microtask queued so far (and those they queue) runs first. */
const macrotask = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * A discrete-event clock: time stands still while any task can run, and jumps to the next timer only when
 * every task waits (on this clock's `sleep`). Timers due at the same instant fire in the order they were
 * set, one at a time, so the same async code with the same inputs produces the same events in the same
 * order — and a simulated hour takes as long as its computation.
 *
 * Work that waits on something other than this clock (a worker thread, a socket, wasm initialisation)
 * must be wrapped in `track()`, or time would run ahead of it.
 */
export class VirtualClock implements Clock {
  private time: number;
  /** Due time first; timers due together fire in the order they were set. */
  private readonly heap = new MinHeap<Timer>((t) => t.at);
  private readonly tracked = new Set<Promise<unknown>>();

  constructor(start = 0) {
    this.time = start;
  }

  now(): number {
    return this.time;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const timer: Timer = {
        at: this.time + Math.max(0, Number.isFinite(ms) ? ms : 0),
        resolve: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        cancelled: false,
      };
      const onAbort = () => {
        timer.cancelled = true;
        reject(signal?.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.heap.push(timer);
    });
  }

  /** Timers set and not yet fired or cancelled. */
  get pendingTimers(): number {
    let n = 0;
    for (const t of this.heap) if (!t.cancelled) n++;
    return n;
  }

  /**
   * Holds time still until `work` settles: for awaits on anything but this clock. Returns `work`.
   */
  track<T>(work: Promise<T>): Promise<T> {
    this.tracked.add(work);
    const forget = () => this.tracked.delete(work);
    work.then(forget, forget);
    return work;
  }

  /**
   * Runs `main` to completion in virtual time and returns its result. Fails with `ClockError` code
   * `DEADLOCK` when `main` still waits but no timer is pending and no tracked work is running.
   */
  async run<T>(main: () => Promise<T>): Promise<T> {
    let settled = false;
    let value: T | undefined;
    let error: unknown;
    let failed = false;
    main().then(
      (v) => {
        settled = true;
        value = v;
      },
      (e) => {
        settled = true;
        failed = true;
        error = e;
      },
    );
    for (;;) {
      await this.settle();
      if (settled) break;
      if (!this.fireNext()) {
        throw new ClockError(
          'DEADLOCK',
          `virtual time ${this.time} ms: every task waits, but no timer is set`,
        );
      }
    }
    if (failed) throw error;
    return value as T;
  }

  /**
   * Moves time forward by `ms`, firing every timer due on the way (tasks run between timers), and ends
   * exactly `ms` later. For driving a component step by step in a test.
   */
  async advance(ms: number): Promise<void> {
    const until = this.time + Math.max(0, ms);
    for (;;) {
      await this.settle();
      const next = this.peek();
      if (!next || next.at > until) break;
      this.fireNext();
    }
    this.time = until;
    await this.settle();
  }

  /** Lets every runnable task run until all of them wait on a timer (or on nothing). */
  private async settle(): Promise<void> {
    await macrotask();
    while (this.tracked.size > 0) {
      await Promise.allSettled([...this.tracked]);
      await macrotask();
    }
  }

  private fireNext(): boolean {
    const timer = this.pop();
    if (!timer) return false;
    this.time = Math.max(this.time, timer.at);
    timer.resolve();
    return true;
  }

  private peek(): Timer | undefined {
    while (this.heap.peek()?.cancelled) this.heap.pop();
    return this.heap.peek();
  }

  private pop(): Timer | undefined {
    this.peek();
    return this.heap.pop();
  }
}
