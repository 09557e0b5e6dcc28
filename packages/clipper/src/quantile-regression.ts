import { AimdController } from './aimd.js';
import type { BatchController, BatchSample } from './batch-controller.js';

export interface QuantileRegressionOptions {
  readonly maxBatchSize: number;
  /** Latency quantile that must fit the budget (0.99: p99). */
  readonly quantile?: number;
  /** Recent samples kept for the fit. */
  readonly window?: number;
  /** Samples needed before the fit is used. */
  readonly minSamples?: number;
  readonly additiveIncrease?: number;
  readonly backoffFactor?: number;
}

/** A line `latency = intercept + slope · batchSize`. */
export interface LatencyLine {
  readonly intercept: number;
  readonly slope: number;
}

/**
 * Quantile-regression batch sizing (Clipper, NSDI'17 §4.3): fit the p99 batch latency as a linear function
 * of batch size over recent batches, and take the largest size whose predicted p99 fits the budget.
 *
 * Until `minSamples` batches of at least two sizes have run, the size grows (and backs off) as in AIMD, which
 * also spreads the samples over the sizes the fit needs. Afterwards the size may not run ahead of the
 * largest size measured by more than a quarter (plus one step), so the line is never extrapolated far;
 * each batch at the new size extends the measured range.
 */
export class QuantileRegressionController implements BatchController {
  readonly mode = 'quantile' as const;
  readonly maxBatchSize: number;
  private readonly tau: number;
  private readonly window: number;
  private readonly minSamples: number;
  private readonly step: number;
  private readonly warmup: AimdController;
  private readonly sizes: Float64Array;
  private readonly latencies: Float64Array;
  private count = 0;
  private next = 0;
  private line: LatencyLine | undefined;
  /** Samples since the last fit; the fit (IRLS over the window) is redone every `refitEvery` batches. */
  private stale = 0;
  private readonly refitEvery: number;
  private last: number;

  constructor(options: QuantileRegressionOptions) {
    this.maxBatchSize = options.maxBatchSize;
    this.tau = options.quantile ?? 0.99;
    this.window = options.window ?? 500;
    this.minSamples = Math.min(options.minSamples ?? 30, this.window);
    this.step = options.additiveIncrease ?? 1;
    this.warmup = new AimdController({
      maxBatchSize: options.maxBatchSize,
      additiveIncrease: this.step,
      backoffFactor: options.backoffFactor ?? 0.9,
    });
    this.sizes = new Float64Array(this.window);
    this.latencies = new Float64Array(this.window);
    this.last = this.warmup.current;
    this.refitEvery = Math.max(1, Math.min(16, Math.floor(this.window / 50)));
  }

  get current(): number {
    return this.last;
  }

  /** The fitted quantile line, once enough samples exist. */
  get fit(): LatencyLine | undefined {
    if (this.stale > 0 && (this.line === undefined || this.stale >= this.refitEvery)) {
      this.stale = 0;
      this.line = this.ready() ? fitQuantileLine(this.samples(), this.tau) : undefined;
    }
    return this.line;
  }

  batchSize(budgetMs: number): number {
    const line = this.fit;
    if (!line) {
      this.last = this.warmup.batchSize();
      return this.last;
    }
    let largest = 0;
    for (let i = 0; i < this.count; i++) largest = Math.max(largest, this.sizes[i]!);
    const reach = Math.min(this.maxBatchSize, largest + Math.max(this.step, Math.ceil(largest / 4)));
    let size: number;
    if (line.slope <= 1e-12) size = line.intercept <= budgetMs ? reach : 1;
    else size = Math.floor((budgetMs - line.intercept) / line.slope);
    this.last = Math.max(1, Math.min(reach, size));
    return this.last;
  }

  delayMs(): number {
    return 0;
  }

  observe(sample: BatchSample): void {
    this.sizes[this.next] = sample.size;
    this.latencies[this.next] = sample.latencyMs;
    this.next = (this.next + 1) % this.window;
    this.count = Math.min(this.count + 1, this.window);
    this.stale++;
    this.warmup.observe(sample);
  }

  private ready(): boolean {
    if (this.count < this.minSamples) return false;
    const first = this.sizes[0];
    for (let i = 1; i < this.count; i++) if (this.sizes[i] !== first) return true;
    return false;
  }

  private samples(): { xs: Float64Array; ys: Float64Array } {
    return { xs: this.sizes.subarray(0, this.count), ys: this.latencies.subarray(0, this.count) };
  }
}

/**
 * Linear quantile regression: the line minimising the pinball loss at quantile `tau`, by iteratively
 * reweighted least squares (each residual r weighted by τ/|r| above the line and (1−τ)/|r| below it, so the
 * weighted squares approximate the pinball loss; started from ordinary least squares). Bounded at 100
 * iterations. Returns a flat line through the quantile of `ys` when all `xs` are equal.
 */
export function fitQuantileLine(
  { xs, ys }: { xs: ArrayLike<number>; ys: ArrayLike<number> },
  tau: number,
): LatencyLine {
  const n = Math.min(xs.length, ys.length);
  if (n === 0) return { intercept: 0, slope: 0 };
  let scale = 0;
  for (let i = 0; i < n; i++) scale += Math.abs(ys[i]!);
  // Residuals below eps count as eps: keeps weights finite without biasing a line of millisecond latencies.
  const eps = Math.max(1e-9, (scale / n) * 1e-6);
  const weights = new Float64Array(n).fill(1);
  let line = weightedLine(xs, ys, weights, n);
  if (!line) return { intercept: quantileOf(ys, n, tau), slope: 0 };
  for (let iter = 0; iter < 100; iter++) {
    for (let i = 0; i < n; i++) {
      const r = ys[i]! - (line.intercept + line.slope * xs[i]!);
      weights[i] = (r >= 0 ? tau : 1 - tau) / Math.max(Math.abs(r), eps);
    }
    const next = weightedLine(xs, ys, weights, n);
    if (!next) break;
    const moved = Math.abs(next.intercept - line.intercept) + Math.abs(next.slope - line.slope);
    line = next;
    if (moved < eps) break;
  }
  return line;
}

function weightedLine(
  xs: ArrayLike<number>,
  ys: ArrayLike<number>,
  w: Float64Array,
  n: number,
): LatencyLine | undefined {
  let sw = 0;
  let sx = 0;
  let sy = 0;
  for (let i = 0; i < n; i++) {
    sw += w[i]!;
    sx += w[i]! * xs[i]!;
    sy += w[i]! * ys[i]!;
  }
  const mx = sx / sw;
  const my = sy / sw;
  // Centred sums: stable even when sizes are large and weights span many orders of magnitude.
  let sxx = 0;
  let sxy = 0;
  for (let i = 0; i < n; i++) {
    const dx = xs[i]! - mx;
    sxx += w[i]! * dx * dx;
    sxy += w[i]! * dx * (ys[i]! - my);
  }
  if (!(sxx > 0) || !Number.isFinite(sxx)) return undefined;
  const slope = sxy / sxx;
  return { intercept: my - slope * mx, slope };
}

function quantileOf(ys: ArrayLike<number>, n: number, tau: number): number {
  const sorted = Array.from({ length: n }, (_, i) => ys[i]!).sort((a, b) => a - b);
  return sorted[Math.min(n - 1, Math.ceil(tau * n) - 1)] ?? 0;
}
