import type { BatchController, BatchSample } from './batch-controller.js';

/**
 * Delayed batching (Clipper, NSDI'17 §4.3.1; TF Serving's `batch_timeout_micros`, Triton's
 * `max_queue_delay_microseconds`): when fewer queries wait than the batch could hold, wait for more, at
 * most `maxDelayMs` counted from the arrival of the oldest waiting query. Pays off for models with a high
 * fixed cost per batch. The size itself comes from the `inner` controller.
 */
export class DelayedBatchingController implements BatchController {
  readonly mode = 'delayed' as const;

  constructor(
    private readonly inner: BatchController,
    readonly maxDelayMs: number,
  ) {}

  get maxBatchSize(): number {
    return this.inner.maxBatchSize;
  }

  get current(): number {
    return this.inner.current;
  }

  batchSize(budgetMs: number): number {
    return this.inner.batchSize(budgetMs);
  }

  delayMs(queued: number, size: number, waitedMs: number): number {
    if (queued >= size) return 0;
    return Math.max(0, this.maxDelayMs - waitedMs);
  }

  observe(sample: BatchSample): void {
    this.inner.observe(sample);
  }
}
