/**
 * How the controller moves the threshold (docs/training.md, "WAN budget"):
 * - `ratio` (default, beyond the authors): multiplies the whole threshold by `(rate / budget)^gain`
 *   each clock (at most ×2 or ÷2), so it reaches and then follows the budget within a few clocks
 *   whatever the threshold's scale; its raise is capped by `maxRaise / √t`, so the threshold stays
 *   under `(τ0 + maxRaise) / √t`, the paper's schedule with a larger τ0, and what is held back still
 *   decays to nothing (a constant raise leaves every replica up to `raise × |w|` off for good);
 * - `step` (the authors' `enable_threshold_by_bw`, reference/gaia.md §1.3): adds or removes a fixed
 *   `step` (0.005) per clock up to a constant `maxRaise`, so a raise of 0.2 takes 40 clocks to build.
 */
export type ThresholdRule = 'ratio' | 'step';

/** Options of the bandwidth-budget threshold controller. */
export interface ThresholdControllerOptions {
  /** Budget per outgoing WAN link, in Mbit/s. */
  readonly budgetMbps: number;
  /** Update law; default `ratio`. */
  readonly rule?: ThresholdRule;
  /** The schedule's τ0 (the floor is τ0/√t). Default 0.01. */
  readonly tau0?: number;
  /** Tolerance around the budget: act above `(1 + band)` and below `(1 - band)` of it. Default 0.1. */
  readonly band?: number;
  /** `step` rule: change of the raise per clock. Default 0.005 (the authors' step). */
  readonly step?: number;
  /** `ratio` rule: exponent on rate / budget. Default 0.5 (half the error, in log, per clock). */
  readonly gain?: number;
  /** Largest raise above τ0/√t (`ratio`: at clock 1, then `/ √t`). Default 0.5. */
  readonly maxRaise?: number;
}

/**
 * Largest factor (and 1 / smallest) the `ratio` rule applies in one clock: a clock that shipped
 * nothing, or a backlog at once after a stall, must not swing the threshold by orders of magnitude.
 */
const MAX_FACTOR = 2;
/** Where the `ratio` rule starts raising from when the floor is 0 (τ0 = 0). */
const MIN_LEVEL = 1e-4;
/**
 * Weight of the past in the `ratio` rule's measured rate: a clock's bytes count half one clock later,
 * so one bursty clock moves the threshold less than a sustained excess does.
 */
const MEMORY = 0.5;

/**
 * Holds each outgoing link's use near a bandwidth budget by raising the significance threshold above
 * the τ0/√t schedule when the busiest link runs over `(1 + band) × budget`, and lowering the raise when
 * all links run under `(1 - band) × budget`. The raise is never negative: τ0/√t stays the floor.
 * Observed once per clock.
 */
export class ThresholdController {
  readonly budgetBytesPerMs: number;
  readonly rule: ThresholdRule;
  readonly tau0: number;
  readonly band: number;
  readonly step: number;
  readonly gain: number;
  readonly maxRaise: number;
  private current = 0;
  /** `ratio` rule: the whole threshold it holds (floor + raise), and its smoothed traffic. */
  private level = 0;
  private bytes = 0;
  private elapsed = 0;

  constructor(options: ThresholdControllerOptions) {
    if (!(options.budgetMbps > 0)) throw new RangeError(`budgetMbps must be > 0, got ${options.budgetMbps}`);
    this.budgetBytesPerMs = (options.budgetMbps * 1e6) / 8 / 1000;
    this.rule = options.rule ?? 'ratio';
    this.tau0 = options.tau0 ?? 0.01;
    this.band = options.band ?? 0.1;
    this.step = options.step ?? 0.005;
    this.gain = options.gain ?? 0.5;
    this.maxRaise = options.maxRaise ?? 0.5;
    if (!(this.gain > 0 && this.gain <= 1)) throw new RangeError(`gain must be in (0, 1], got ${this.gain}`);
  }

  /** What to add to τ0/√t now. */
  get raise(): number {
    return this.current;
  }

  /**
   * Feeds the bytes each outgoing link carried over the last `elapsedMs`, at the region's clock `t`,
   * and returns the new raise. The busiest link decides: one filter serves every link, as in the
   * authors' code.
   */
  observe(bytesPerLink: readonly number[], elapsedMs: number, t = 1): number {
    if (!(elapsedMs > 0) || bytesPerLink.length === 0) return this.current;
    const busiest = Math.max(...bytesPerLink);
    if (this.rule === 'step') {
      const ratio = busiest / elapsedMs / this.budgetBytesPerMs;
      if (ratio > 1 + this.band) this.current = Math.min(this.maxRaise, this.current + this.step);
      else if (ratio < 1 - this.band) this.current = Math.max(0, this.current - this.step);
      return this.current;
    }
    this.bytes = MEMORY * this.bytes + busiest;
    this.elapsed = MEMORY * this.elapsed + elapsedMs;
    const ratio = this.bytes / this.elapsed / this.budgetBytesPerMs;
    const decay = 1 / Math.sqrt(Math.max(1, t));
    const floor = this.tau0 * decay;
    // Never under the floor; above it, the level moves only by the controller's own factors.
    let level = Math.max(this.level, floor);
    if (ratio > 1 + this.band) {
      level = Math.max(level, MIN_LEVEL) * Math.min(MAX_FACTOR, ratio ** this.gain);
    } else if (ratio < 1 - this.band) {
      level *= Math.max(1 / MAX_FACTOR, ratio ** this.gain);
    }
    this.level = Math.min(floor + this.maxRaise * decay, Math.max(floor, level));
    this.current = this.level - floor;
    return this.current;
  }
}
