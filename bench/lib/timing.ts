/** Median of `values` (NaN when empty). */
export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/**
 * What a timing counts: `wall` (elapsed time; right for anything that waits on I/O or other processes) or
 * `cpu` (this process's user + system CPU time; right for pure computation on a shared, oversubscribed
 * machine, where time spent descheduled would otherwise land on whichever side happened to be running).
 */
export type TimingClock = 'wall' | 'cpu';

export interface TimingOptions {
  repetitions?: number;
  batchMs?: number;
  clock?: TimingClock;
}

function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

let now: () => number = () => performance.now();

/** Milliseconds per call of `fn`, timed over `iterations` back-to-back calls. */
function perCall(fn: () => unknown, iterations: number): number {
  const start = now();
  for (let i = 0; i < iterations; i++) fn();
  return (now() - start) / iterations;
}

function useClock(clock: TimingClock | undefined): void {
  now = clock === 'cpu' ? cpuMs : () => performance.now();
}

/** Enough iterations of `fn` to fill about `batchMs` (at least 1, at most 100 000). */
function calibrate(fn: () => unknown, batchMs: number): number {
  let n = 1;
  for (let round = 0; round < 20; round++) {
    const ms = perCall(fn, n) * n;
    if (ms >= batchMs / 4 || n >= 100_000) break;
    n *= 4;
  }
  const ms = perCall(fn, n);
  return Math.max(1, Math.min(100_000, Math.round(batchMs / Math.max(ms, 1e-6))));
}

export interface Comparison {
  /** Median milliseconds per call of the baseline and of the candidate. */
  baselineMs: number;
  candidateMs: number;
  /** Median over repetitions of baseline time / candidate time: above 1 means the candidate is faster. */
  speedup: number;
  repetitions: number;
}

/**
 * Times `baseline` and `candidate` interleaved in the same process (alternating which goes first in each
 * repetition), so that machine noise, JIT state and frequency scaling hit both alike. Each repetition runs
 * a calibrated batch of about `batchMs` of each; the result is the median over repetitions. `clock`:
 * see `TimingClock` (default `wall`).
 */
export function compare(
  baseline: () => unknown,
  candidate: () => unknown,
  opts: TimingOptions = {},
): Comparison {
  useClock(opts.clock);
  const repetitions = opts.repetitions ?? 21;
  const batchMs = opts.batchMs ?? 25;
  // Warm both up (JIT, lazily built tables) before calibrating.
  for (let i = 0; i < 3; i++) {
    baseline();
    candidate();
  }
  const nb = calibrate(baseline, batchMs);
  const nc = calibrate(candidate, batchMs);
  const b: number[] = [];
  const c: number[] = [];
  const ratios: number[] = [];
  for (let r = 0; r < repetitions; r++) {
    let tb: number;
    let tc: number;
    if (r % 2 === 0) {
      tb = perCall(baseline, nb);
      tc = perCall(candidate, nc);
    } else {
      tc = perCall(candidate, nc);
      tb = perCall(baseline, nb);
    }
    b.push(tb);
    c.push(tc);
    ratios.push(tb / tc);
  }
  return { baselineMs: median(b), candidateMs: median(c), speedup: median(ratios), repetitions };
}

/** Median milliseconds per call of `fn` over `repetitions` calibrated batches of about `batchMs`. */
export function measure(fn: () => unknown, opts: TimingOptions = {}): number {
  useClock(opts.clock);
  const repetitions = opts.repetitions ?? 21;
  for (let i = 0; i < 3; i++) fn();
  const n = calibrate(fn, opts.batchMs ?? 25);
  const times: number[] = [];
  for (let r = 0; r < repetitions; r++) times.push(perCall(fn, n));
  return median(times);
}
