/** One training run of the benchmark, in virtual time, reduced to the record written to gaia.json. */
import {
  type CostModelSpec,
  type Mode,
  type ProgressEvent,
  type TrainConfigInput,
  train,
  type Workload,
} from '@geoml/gaia';
import type { ProfileName } from './spec.js';

export interface SeriesPoint {
  readonly clock: number;
  readonly timeS: number;
  readonly value: number;
  readonly wanBytes: number;
  readonly fractionShipped: number;
  /** With a budget: the largest raise of the threshold above τ0/√t over the mirrors. */
  readonly thresholdRaise?: number;
}

export interface RunRecord {
  workload: string;
  profile: ProfileName;
  mode: Mode;
  regions: number;
  workersPerRegion: number;
  ds: number;
  tau0: number;
  staleness: number;
  targetQuality: number;
  reachedTarget: boolean;
  /** Virtual seconds until an evaluation first met the target (evaluations every `evalEvery` clocks). */
  timeToTargetS: number | null;
  clocksToTarget: number | null;
  /** WAN bytes sent when the target was first met (from the progress event of that evaluation). */
  wanBytesToTarget: number | null;
  /** Totals of the whole run (the run stops at the target unless `toEnd`). */
  wanBytes: number;
  wanMessages: number;
  finalQuality: number;
  qualityMetric: string;
  higherIsBetter: boolean;
  /** Fraction of workers' update entries that changed their parameter by less than 1 %. */
  fractionBelowOnePercent: number;
  /** ASP modes: shipped / accumulated update entries (1 for the others). */
  fractionShipped: number;
  elapsedS: number;
  clocks: { min: number; max: number };
  maxClocks: number;
  stoppedAtTarget: boolean;
  blockedMs: { syncMs: number; mirrorMs: number; barrierMs: number };
  rejectedUpdates: number;
  /** Real seconds the run took on this machine (compute and bookkeeping; not part of the result). */
  wallS: number;
  /** A variant beyond the modes, e.g. `asp+budget` (the threshold controller). */
  variant?: string;
  /** What-if runs only: the WAN latency scale applied to the profile (then this is not the profile's run). */
  wanLatencyScale?: number;
  /** Hub overlay of the run (C2), when not all-to-all. */
  overlay?: string;
  /** ASP modes: how many shipped updates went in each wire layout (C3: pairs, bitmap, dense). */
  encodings?: Record<string, number>;
  /** ASP modes: selective-barrier announcements sent (index lists on the control lane). */
  announcements?: number;
  /** WAN bytes of the whole run on the control lane (clocks, with ASP also barrier announcements). */
  wanControlBytes: number;
  budgetMbps?: number;
  budgetRule?: 'ratio' | 'step';
  /** Set when this record is the same run as another one (identical config in virtual time). */
  sameRunAs?: string;
  series: SeriesPoint[];
}

export interface RunInput {
  workload: string;
  create: () => Workload;
  profile: ProfileName;
  mode: Mode;
  regions: number;
  workersPerRegion: number;
  costModel: CostModelSpec;
  lanMbps: number;
  /** Absent for the centralized reference, whose final quality defines the target. */
  targetQuality?: number;
  maxClocks: number;
  /** Run all `maxClocks` (final quality at equal clocks) instead of stopping at the target. */
  toEnd: boolean;
  evalEvery: number;
  ds: number;
  tau0?: number;
  staleness?: number;
  /** Per-link WAN budget (Mbit/s) for the engine's threshold controller (beyond the paper). */
  budgetMbps?: number;
  /** The controller's rule (the engine's default when absent). */
  budgetRule?: 'ratio' | 'step';
  /** What-if knob of the profile: scales every WAN one-way latency. */
  wanLatencyScale?: number;
  /** The engine's hub overlay (C2); absent: all-to-all. */
  overlay?: 'gaia-ec2-11';
}

export async function runOne(input: RunInput): Promise<RunRecord> {
  const workload = input.create();
  const series: SeriesPoint[] = [];
  const tau0 = input.tau0 ?? 0.01;
  const staleness = input.staleness ?? 2;
  const wall0 = performance.now();
  try {
    const config: TrainConfigInput = {
      workload,
      mode: input.mode,
      topology: input.profile,
      regions: input.regions,
      workersPerRegion: input.workersPerRegion,
      profileOptions: {
        lanMbps: input.lanMbps,
        ...(input.wanLatencyScale === undefined ? {} : { wanLatencyScale: input.wanLatencyScale }),
      },
      ...(input.overlay === undefined ? {} : { overlay: input.overlay }),
      costModel: input.costModel,
      ds: input.ds,
      tau0,
      staleness,
      ...(input.budgetMbps === undefined ? {} : { budgetMbps: input.budgetMbps }),
      ...(input.budgetRule === undefined ? {} : { budgetRule: input.budgetRule }),
      stop: {
        maxClocks: input.maxClocks,
        atTarget: !input.toEnd,
        ...(input.targetQuality === undefined ? {} : { targetQuality: input.targetQuality }),
      },
      evalEvery: input.evalEvery,
      seed: 1,
      run: `${input.workload}-${input.mode}`.replace(/[^A-Za-z0-9_-]/g, '_'),
    };
    const r = await train(config, {
      onProgress: (e: ProgressEvent) =>
        series.push({
          clock: e.clock,
          timeS: e.timeS,
          value: e.quality.value,
          wanBytes: e.wanBytes,
          fractionShipped: e.fractionShipped,
          ...(e.thresholdRaise === undefined ? {} : { thresholdRaise: e.thresholdRaise }),
        }),
    });
    const record: RunRecord = {
      workload: input.workload,
      profile: input.profile,
      mode: input.mode,
      regions: r.regions.length,
      workersPerRegion: r.workersPerRegion,
      ds: r.ds,
      tau0: r.tau0,
      staleness,
      targetQuality: Number.NaN,
      reachedTarget: false,
      timeToTargetS: null,
      clocksToTarget: null,
      wanBytesToTarget: null,
      wanBytes: r.wanBytes,
      wanMessages: r.wanMessages,
      wanControlBytes: r.links.filter((l) => l.from !== l.to).reduce((n, l) => n + l.controlBytes, 0),
      finalQuality: r.finalQuality.value,
      qualityMetric: r.finalQuality.metric,
      higherIsBetter: r.finalQuality.higherIsBetter,
      fractionBelowOnePercent: r.fractionBelowOnePercent,
      fractionShipped: r.fractionShipped,
      elapsedS: r.elapsedS,
      clocks: { ...r.clocks },
      maxClocks: input.maxClocks,
      stoppedAtTarget: !input.toEnd && r.reachedTarget && r.clocks.max < input.maxClocks,
      blockedMs: { ...r.blocked },
      rejectedUpdates: r.rejectedUpdates,
      wallS: (performance.now() - wall0) / 1000,
      ...(input.wanLatencyScale === undefined ? {} : { wanLatencyScale: input.wanLatencyScale }),
      ...(input.overlay === undefined ? {} : { overlay: input.overlay }),
      ...(r.encodings === undefined ? {} : { encodings: { ...r.encodings } }),
      ...(r.announcements === undefined ? {} : { announcements: r.announcements }),
      ...(input.budgetMbps === undefined ? {} : { budgetMbps: input.budgetMbps }),
      ...(input.budgetMbps === undefined ? {} : { budgetRule: input.budgetRule ?? 'ratio' }),
      series,
    };
    return input.targetQuality === undefined ? record : applyTarget(record, input.targetQuality);
  } finally {
    workload.dispose();
  }
}

/** The target from a centralized run's converged (final) quality: 1 % worse, in the metric's direction. */
export function targetFrom(quality: number, higherIsBetter: boolean, tolerance: number): number {
  const slack = Math.abs(quality) * tolerance;
  return higherIsBetter ? quality - slack : quality + slack;
}

/**
 * Sets the target fields from the run's evaluations: the first one meeting `target` (what the engine's
 * `timeToTargetS` reports too; also used for the reference run, whose target is known only after it).
 */
export function applyTarget(record: RunRecord, target: number): RunRecord {
  const hit = record.series.find((p) => (record.higherIsBetter ? p.value >= target : p.value <= target));
  return {
    ...record,
    targetQuality: target,
    reachedTarget: hit !== undefined,
    timeToTargetS: hit?.timeS ?? null,
    clocksToTarget: hit?.clock ?? null,
    wanBytesToTarget: hit?.wanBytes ?? null,
  };
}
