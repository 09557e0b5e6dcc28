import { GaiaError } from './errors.js';

interface Waiter {
  readonly ready: () => boolean;
  readonly resolve: () => void;
}

/**
 * Waiters on a predicate over mutable state (clocks, barrier sets): `notify()` after every change wakes
 * exactly those whose predicate now holds. Needs no timers, so it runs the same in virtual and wall time.
 */
export class Condition {
  private waiters: Waiter[] = [];

  /** Resolves once `ready()` holds (at once when it already does); rejects when `signal` aborts. */
  wait(ready: () => boolean, signal?: AbortSignal): Promise<void> {
    if (ready()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(stopped(signal));
      const waiter: Waiter = {
        ready,
        resolve: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      const onAbort = () => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(stopped(signal));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  /** Re-checks every waiter, in the order they began waiting. */
  notify(): void {
    if (this.waiters.length === 0) return;
    const still: Waiter[] = [];
    for (const w of this.waiters) {
      if (w.ready()) w.resolve();
      else still.push(w);
    }
    this.waiters = still;
  }

  get waiting(): number {
    return this.waiters.length;
  }
}

function stopped(signal: AbortSignal | undefined): unknown {
  return signal?.reason ?? new GaiaError('STOPPED', 'wait aborted');
}
