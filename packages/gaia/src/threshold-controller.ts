/** Options of the bandwidth-budget threshold controller (the authors' `enable_threshold_by_bw`). */
export interface ThresholdControllerOptions {
  /** Budget per outgoing WAN link, in Mbit/s. */
  readonly budgetMbps: number;
  /** Tolerance around the budget: act above `(1 + band)` and below `(1 - band)` of it. Default 0.1. */
  readonly band?: number;
  /** Change of the threshold raise per clock. Default 0.005 (the authors' step). */
  readonly step?: number;
  /** Largest raise above τ0/√t. Default 0.5. */
  readonly maxRaise?: number;
}

/**
 * Holds each outgoing link's use near a bandwidth budget by raising the significance threshold above
 * the τ0/√t schedule when the busiest link runs over `(1 + band) × budget`, and lowering the raise
 * (never below zero, so τ0/√t stays the floor) when all links run under `(1 - band) × budget`.
 * Observed once per clock.
 */
export class ThresholdController {
  readonly budgetBytesPerMs: number;
  readonly band: number;
  readonly step: number;
  readonly maxRaise: number;
  private current = 0;

  constructor(options: ThresholdControllerOptions) {
    if (!(options.budgetMbps > 0)) throw new RangeError(`budgetMbps must be > 0, got ${options.budgetMbps}`);
    this.budgetBytesPerMs = (options.budgetMbps * 1e6) / 8 / 1000;
    this.band = options.band ?? 0.1;
    this.step = options.step ?? 0.005;
    this.maxRaise = options.maxRaise ?? 0.5;
  }

  /** What to add to τ0/√t now. */
  get raise(): number {
    return this.current;
  }

  /**
   * Feeds the bytes each outgoing link carried over the last `elapsedMs` and returns the new raise.
   * The busiest link decides: one filter serves every link, as in the authors' code.
   */
  observe(bytesPerLink: readonly number[], elapsedMs: number): number {
    if (!(elapsedMs > 0) || bytesPerLink.length === 0) return this.current;
    const busiest = Math.max(...bytesPerLink) / elapsedMs;
    if (busiest > (1 + this.band) * this.budgetBytesPerMs) {
      this.current = Math.min(this.maxRaise, this.current + this.step);
    } else if (busiest < (1 - this.band) * this.budgetBytesPerMs) {
      this.current = Math.max(0, this.current - this.step);
    }
    return this.current;
  }
}
