import type { BatchController, BatchSample } from './batch-controller.js';

export interface AimdOptions {
  readonly maxBatchSize: number;
  readonly initialBatchSize?: number;
  /** Added to the size after a full batch that met its budget. */
  readonly additiveIncrease?: number;
  /** Fraction of the size kept after a batch that missed its budget (0.9: back off by 10%). */
  readonly backoffFactor?: number;
  /**
   * Double the size (instead of adding) until the first miss, then fall back to the last size that fit
   * and continue additively, as TCP's slow start: reaches a large best size in log₂ batches, not linearly.
   */
  readonly slowStart?: boolean;
}

/**
 * Additive-increase / multiplicative-decrease batch sizing (Clipper, NSDI'17 §4.3): grow the batch by a
 * fixed step while the measured batch latency fits the budget, cut it by 10% when one misses. The size
 * then oscillates just under the largest batch the budget allows.
 *
 * The size only grows after a batch that was full (as large as allowed): a short batch, from a short queue,
 * says nothing about whether a larger one would fit. With `slowStart` the first growth phase doubles.
 */
export class AimdController implements BatchController {
  readonly mode = 'aimd' as const;
  readonly maxBatchSize: number;
  private readonly step: number;
  private readonly keep: number;
  private size: number;
  private slowStart: boolean;
  /** The last size whose full batch fit the budget, during slow start. */
  private lastFit: number | undefined;

  constructor(options: AimdOptions) {
    this.maxBatchSize = options.maxBatchSize;
    this.step = options.additiveIncrease ?? 1;
    this.keep = options.backoffFactor ?? 0.9;
    this.size = Math.min(this.maxBatchSize, Math.max(1, options.initialBatchSize ?? 1));
    this.slowStart = options.slowStart ?? false;
  }

  get current(): number {
    return this.size;
  }

  batchSize(): number {
    return this.size;
  }

  delayMs(): number {
    return 0;
  }

  observe(sample: BatchSample): void {
    if (sample.latencyMs > sample.budgetMs) {
      this.size =
        this.slowStart && this.lastFit !== undefined
          ? this.lastFit
          : Math.max(1, Math.floor(this.size * this.keep));
      this.slowStart = false;
    } else if (sample.size >= sample.cap && sample.cap >= this.size) {
      if (this.slowStart) this.lastFit = this.size;
      this.size = Math.min(this.maxBatchSize, this.slowStart ? this.size * 2 : this.size + this.step);
    }
  }
}
