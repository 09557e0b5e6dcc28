/**
 * Time, as every timed piece of geoml sees it. Code takes a `Clock` instead of calling `Date.now` or
 * `setTimeout`, so the same logic runs in wall time (`SystemClock`) and, deterministically, in virtual
 * time (`VirtualClock`).
 */
export interface Clock {
  /** Milliseconds since an arbitrary origin; monotonic, fractional. */
  now(): number;
  /**
   * Resolves after `ms` milliseconds of this clock's time. When `signal` aborts first, rejects with the
   * signal's reason and releases the timer.
   */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** Wall time: `performance.now()` and real timers. */
export class SystemClock implements Clock {
  now(): number {
    return performance.now();
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const onAbort = () => {
        clearTimeout(timer);
        reject(signal?.reason);
      };
      const timer = setTimeout(
        () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        Math.max(0, ms),
      );
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}

/** The process-wide wall clock, for callers that do not pass one. */
export const systemClock: Clock = new SystemClock();
