/**
 * Load generators for the serving benchmark: closed loop (N requests always outstanding, as perf_analyzer's
 * concurrency mode) and open loop (requests sent on a precomputed schedule whatever the server does, as
 * `--request-rate-range`). Open-loop latency counts from each request's *scheduled* send time, so a server
 * (or a busy generator) that falls behind is charged for the wait: no coordinated omission.
 */
import { createRng } from '@geoml/core';
import hdr from 'hdr-histogram-js';

/** One request: resolves `true` when answered by the model (not a default/refusal), `false` otherwise. */
export type Send = () => Promise<boolean>;

export interface LoadStats {
  /** Requests sent / answered within the measured window. */
  sent: number;
  completed: number;
  /** Answered by the model (not a default output, refusal or error). */
  served: number;
  /** Served within the SLO. */
  withinSlo: number;
  seconds: number;
  /** served / s. */
  throughput: number;
  /** withinSlo / s. */
  goodput: number;
  /** withinSlo / sent: the share of requests that got a model answer in time. */
  sloAttainment: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  p999Ms: number;
}

/** Latency recorder in µs (1 µs to 60 s, 3 significant digits) plus the counters of one run. */
export class Recorder {
  private readonly hist = hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 60_000_000,
    numberOfSignificantValueDigits: 3,
  });
  sent = 0;
  completed = 0;
  served = 0;
  withinSlo = 0;

  constructor(private readonly sloMs: number) {}

  record(latencyMs: number, served: boolean): void {
    this.completed++;
    this.hist.recordValue(Math.max(1, Math.round(latencyMs * 1000)));
    if (served) {
      this.served++;
      if (latencyMs <= this.sloMs) this.withinSlo++;
    }
  }

  stats(seconds: number): LoadStats {
    const pct = (p: number) => (this.hist.totalCount > 0 ? this.hist.getValueAtPercentile(p) / 1000 : NaN);
    return {
      sent: this.sent,
      completed: this.completed,
      served: this.served,
      withinSlo: this.withinSlo,
      seconds,
      throughput: this.served / seconds,
      goodput: this.withinSlo / seconds,
      sloAttainment: this.sent > 0 ? this.withinSlo / this.sent : NaN,
      p50Ms: pct(50),
      p90Ms: pct(90),
      p99Ms: pct(99),
      p999Ms: pct(99.9),
    };
  }

  /** Latency at percentile `p`, µs. */
  percentileUs(p: number): number {
    return this.hist.getValueAtPercentile(p);
  }

  destroy(): void {
    this.hist.destroy();
  }
}

export interface ClosedLoopOptions {
  concurrency: number;
  /** Unmeasured lead-in (JIT, batch controllers settling). */
  warmupMs: number;
  durationMs: number;
  sloMs: number;
  /** Hard bound on requests, whatever the duration (a server answering defaults at once spins fast). */
  maxRequests?: number;
}

/** `concurrency` loops, each sending its next request when the previous one is answered. */
export async function closedLoop(send: Send, opts: ClosedLoopOptions): Promise<LoadStats> {
  const rec = new Recorder(opts.sloMs);
  const maxRequests = opts.maxRequests ?? 2_000_000;
  const start = performance.now();
  const measureFrom = start + opts.warmupMs;
  const end = measureFrom + opts.durationMs;
  let issued = 0;
  const loop = async () => {
    while (issued < maxRequests) {
      const t0 = performance.now();
      if (t0 >= end) return;
      issued++;
      const measured = t0 >= measureFrom;
      if (measured) rec.sent++;
      let ok = false;
      try {
        ok = await send();
      } catch {
        ok = false;
      }
      if (measured) rec.record(performance.now() - t0, ok);
      // A refusal comes back in microseconds; a client retrying at once would spin the generator's CPU
      // (here the server's own thread) and starve the replicas it measures, so it backs off ~1 ms first.
      if (!ok) await new Promise<void>((resolve) => setTimeout(resolve, 1));
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency }, loop));
  const seconds = (Math.min(performance.now(), end) - measureFrom) / 1000;
  const stats = rec.stats(Math.max(seconds, 1e-3));
  rec.destroy();
  return stats;
}

/** Arrival process of an open-loop run: Poisson, or on/off Poisson with bursts at `burstFactor`× the mean. */
export type Arrivals =
  | { kind: 'poisson'; rate: number }
  | { kind: 'bursty'; rate: number; burstFactor: number; periodMs: number; burstShare: number };

/**
 * Send times (ms from the start) over `durationMs`, seeded. A bursty process spends `burstShare` of each
 * period at `burstFactor`× the mean rate and the rest at the rate that keeps the mean (needs
 * burstFactor × burstShare < 1).
 */
export function schedule(arrivals: Arrivals, durationMs: number, seed: number): number[] {
  const rng = createRng(seed);
  const times: number[] = [];
  const rateAt = (t: number): number => {
    if (arrivals.kind === 'poisson') return arrivals.rate;
    const { rate, burstFactor, periodMs, burstShare } = arrivals;
    const inBurst = t % periodMs < periodMs * burstShare;
    return inBurst ? rate * burstFactor : (rate * (1 - burstFactor * burstShare)) / (1 - burstShare);
  };
  // Thinning against the peak rate handles the piecewise-constant rate exactly.
  const peak = arrivals.kind === 'poisson' ? arrivals.rate : arrivals.rate * arrivals.burstFactor;
  let t = 0;
  for (let i = 0; i < 5_000_000; i++) {
    t += (-Math.log(1 - rng.next()) / peak) * 1000;
    if (t >= durationMs) break;
    if (rng.next() * peak < rateAt(t)) times.push(t);
  }
  return times;
}

export interface OpenLoopOptions {
  arrivals: Arrivals;
  warmupMs: number;
  durationMs: number;
  sloMs: number;
  seed: number;
  /** After the last send, how long to wait for stragglers before counting them as missed. */
  drainMs?: number;
}

/**
 * Sends on the schedule (each request's latency counted from its scheduled time), measuring the requests
 * scheduled after the warm-up. Requests still unanswered `drainMs` after the end count as sent, not served.
 */
export async function openLoop(send: Send, opts: OpenLoopOptions): Promise<LoadStats> {
  const rec = new Recorder(opts.sloMs);
  const times = schedule(opts.arrivals, opts.warmupMs + opts.durationMs, opts.seed);
  const start = performance.now();
  const pending = new Set<Promise<void>>();
  let next = 0;
  const fire = (scheduled: number) => {
    const measured = scheduled >= opts.warmupMs;
    if (measured) rec.sent++;
    const due = start + scheduled;
    const p = send()
      .catch(() => false)
      .then((ok) => {
        if (measured) rec.record(performance.now() - due, ok);
      })
      .finally(() => pending.delete(p));
    pending.add(p);
  };
  await new Promise<void>((resolve) => {
    const tick = () => {
      const now = performance.now() - start;
      while (next < times.length && times[next]! <= now) fire(times[next++]!);
      if (next >= times.length) return resolve();
      // Timers fire at ~1 ms granularity; requests falling due meanwhile go out together at the next tick,
      // charged from their scheduled time. (Spinning on setImmediate instead would burn the very thread the
      // serving core runs on.)
      setTimeout(tick, Math.max(1, times[next]! - (performance.now() - start)));
    };
    tick();
  });
  const drain = new Promise<void>((resolve) => setTimeout(resolve, opts.drainMs ?? 2000).unref());
  await Promise.race([Promise.all(pending), drain]);
  const stats = rec.stats(opts.durationMs / 1000);
  rec.destroy();
  return stats;
}

/** Zipf(s) sampler over ranks 0..n-1 (rank 0 the most popular), by inverting the cumulative weights. */
export function zipf(n: number, s: number, seed: number): () => number {
  const rng = createRng(seed);
  const cdf = new Float64Array(n);
  let sum = 0;
  for (let k = 0; k < n; k++) {
    sum += 1 / (k + 1) ** s;
    cdf[k] = sum;
  }
  return () => {
    const u = rng.next() * sum;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid]! < u) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}
