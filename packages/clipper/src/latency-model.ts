/**
 * A running linear model of batch latency against batch size over a model version's recent batches
 * (least squares with exponential forgetting), for admission control: how long would the queries ahead of
 * a new one take? Deliberately a mean, not a tail: admission should refuse only queries that would miss
 * even in the ordinary case, and leave the rest to the deadline.
 */
export class LatencyModel {
  private sw = 0;
  private sx = 0;
  private sy = 0;
  private sxx = 0;
  private sxy = 0;

  /** @param keep weight kept by older samples at each new one (0.98: ~50 batches of memory). */
  constructor(private readonly keep = 0.98) {}

  get samples(): number {
    return this.sw;
  }

  observe(size: number, latencyMs: number): void {
    const k = this.keep;
    this.sw = this.sw * k + 1;
    this.sx = this.sx * k + size;
    this.sy = this.sy * k + latencyMs;
    this.sxx = this.sxx * k + size * size;
    this.sxy = this.sxy * k + size * latencyMs;
  }

  /** Predicted latency of a batch of `size`; undefined before any batch ran. */
  predict(size: number): number | undefined {
    if (this.sw === 0) return undefined;
    const mx = this.sx / this.sw;
    const my = this.sy / this.sw;
    const vxx = this.sxx / this.sw - mx * mx;
    // One size seen so far: no slope to go on, and guessing one could refuse queries that would fit.
    if (!(vxx > 1e-9 * (1 + mx * mx))) return my;
    const slope = Math.max(0, (this.sxy / this.sw - mx * my) / vxx);
    return Math.max(0, my + slope * (size - mx));
  }
}
