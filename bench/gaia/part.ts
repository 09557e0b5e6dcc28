/**
 * One workload's share of the benchmark: run the centralized reference(s) that define the target, sweep
 * DS for `asp` on `ss`, then every profile × mode, the what-if set (ss with latency scaled to a third of a
 * clock), the variants on ec2-11 (hub overlay, the ss DS), the bandwidth-budget set, and the τ0 sweep. Runs stop at the target
 * (or at 1.5× the reference's clocks); runs left when the wall-time budget is spent are listed as skipped.
 */
import type { Mode } from '@geoml/gaia';
import { Progress } from '../lib/progress.js';
import { type BudgetSet, budgetRunCount, runBudgetSet } from './budget.js';
import { type Calibration, calibrateAndSize } from './calibration.js';
import { applyTarget, type RunInput, type RunRecord, runOne, targetFrom } from './run-one.js';
import {
  DS_SWEEP,
  EC2_DS,
  type ProfileName,
  TARGET_TOLERANCE,
  TAU0_HEADLINE,
  TAU0_SWEEP,
  type WorkloadSpec,
} from './spec.js';
import { type DsSweepPoint, sweepPoint, type Tau0Point, tau0Point } from './sweep-points.js';

export interface ReferenceRecord {
  clocks: number;
  finalQuality: number;
  targetQuality: number;
  workers: number;
  /** Relative change of quality over the last third of the reference's clocks: how converged it is. */
  driftLastThird: number | null;
}

export interface PartResult {
  workload: string;
  calibration: Calibration;
  reference: ReferenceRecord[];
  dsSweep: { profile: 'ss'; points: DsSweepPoint[]; chosen: number; rule: string };
  tau0Sweep: { profile: 'ss'; headline: number; points: Tau0Point[] };
  runs: RunRecord[];
  /**
   * What-if set, NOT the ss profile: ss bandwidth with every WAN latency × `wanLatencyScale`, so the
   * one-way latency is a third of a clock (the premise the real ss misses); all modes.
   */
  whatIf: { wanLatencyScale: number; ssLatencyMs: number; runs: RunRecord[] };
  /** Runs beyond the issue's modes: asp with the hub overlay on ec2-11, and at the ss DS there. */
  variants: RunRecord[];
  /** The bandwidth-budget set (beyond the paper), judged apart from the headline modes. */
  budget: BudgetSet;
  skipped: { profile: ProfileName | 'ss-what-if'; mode: Mode; variant?: string; reason: string }[];
}

const regionsOf = (p: ProfileName) => (p === 'ec2-11' ? 11 : 2);
/** ec2-11 last: with 22 workers its runs are the longest, the budget cuts them first. */
const PROFILE_ORDER: readonly ProfileName[] = ['ss', 'vc', 'lan', 'ec2-11'];
const ASP_FIRST: readonly Mode[] = ['asp', 'bsp', 'asp-int8', 'asp-async', 'tap', 'ssp'];

/** Calibrates one workload (alone on the machine, before any run starts) and sizes its network. */
export async function calibrateSpec(spec: WorkloadSpec): Promise<Calibration> {
  const probe = spec.create();
  return calibrateAndSize(spec.name, probe).finally(() => probe.dispose());
}

export async function runPart(
  spec: WorkloadSpec,
  calibration: Calibration,
  quick: boolean,
  deadline: number,
): Promise<PartResult> {
  const profiles = PROFILE_ORDER.filter((p) => spec.profiles.includes(p));
  const sweep = quick ? DS_SWEEP.quick : DS_SWEEP.full;
  const tau0s = quick ? TAU0_SWEEP.quick : TAU0_SWEEP.full;
  const ec2 = profiles.includes('ec2-11');
  const total =
    (ec2 ? 2 : 1) +
    sweep.length +
    profiles.length * ASP_FIRST.length -
    1 +
    ASP_FIRST.length +
    tau0s.length +
    (ec2 ? 3 : 0) +
    budgetRunCount(
      profiles.filter((p) => p !== 'lan'),
      quick,
    );
  const progress = new Progress(`gaia ${spec.name}`, total);
  const base = (profile: ProfileName, mode: Mode, maxClocks: number, toEnd: boolean): RunInput => ({
    workload: spec.name,
    create: spec.create,
    profile,
    mode,
    regions: regionsOf(profile),
    workersPerRegion: 2,
    costModel: calibration.costModel,
    lanMbps: calibration.lanMbps,
    maxClocks,
    toEnd,
    evalEvery: spec.evalEvery,
    ds: 0,
  });
  const tick = (r: RunRecord) =>
    progress.tick(
      `${r.profile}${r.wanLatencyScale === undefined ? '' : '(what-if)'}/${r.variant ?? r.mode}` +
        `${r.mode.startsWith('asp') ? ` ds=${r.ds} tau0=${r.tau0}` : ''}: ${
          r.reachedTarget ? `target at ${r.timeToTargetS?.toFixed(2)}s` : 'target missed'
        }, ${r.qualityMetric} ${r.finalQuality.toPrecision(4)}, wall ${r.wallS.toFixed(1)}s`,
    );
  const skipped: PartResult['skipped'] = [];
  /** Runs `input` unless the wall-time budget is spent (then lists it as skipped). */
  const bounded = async (
    input: RunInput,
    label: Omit<PartResult['skipped'][number], 'reason'>,
  ): Promise<RunRecord | null> => {
    if (Date.now() > deadline) {
      skipped.push({ ...label, reason: 'wall-time budget spent' });
      return null;
    }
    try {
      const run = await runOne(input);
      const r = label.variant === undefined ? run : { ...run, variant: label.variant };
      tick(r);
      return r;
    } catch (error) {
      // One failing run (e.g. the engine rejecting a non-finite update) must not sink the whole benchmark.
      const message = error instanceof Error ? error.message : String(error);
      skipped.push({ ...label, reason: `failed: ${message}` });
      progress.tick(`${label.profile}/${label.variant ?? label.mode}: FAILED ${message}`);
      return null;
    }
  };

  // The centralized references: 2 × 2 workers, and 11 × 2 for ec2-11, all in one region on the LAN.
  const references = new Map<number, RunRecord>();
  const reference: ReferenceRecord[] = [];
  for (const regions of ec2 ? [2, 11] : [2]) {
    const clocks = regions === 11 ? spec.referenceClocksEc2 : spec.referenceClocks;
    const raw = await runOne({ ...base('lan', 'lan-bsp', clocks, true), regions });
    const target = targetFrom(raw.finalQuality, raw.higherIsBetter, TARGET_TOLERANCE);
    const ref = applyTarget(raw, target);
    references.set(regions, ref);
    const third = ref.series.find((p) => p.clock >= Math.round((2 * clocks) / 3));
    reference.push({
      clocks,
      finalQuality: ref.finalQuality,
      targetQuality: target,
      workers: regions * 2,
      driftLastThird: third ? Math.abs(third.value - ref.finalQuality) / Math.abs(ref.finalQuality) : null,
    });
    tick(ref);
  }
  const refOf = (p: ProfileName) => references.get(regionsOf(p)) as RunRecord;
  const capOf = (p: ProfileName) => Math.ceil(1.5 * refOf(p).maxClocks);
  const ref2 = refOf('ss');

  // DS sweep for asp on ss, run past the target so quality at equal clocks can be compared.
  const sweepRuns: RunRecord[] = [];
  for (const ds of sweep) {
    const r = await runOne({
      ...base('ss', 'asp', capOf('ss'), true),
      ds,
      targetQuality: ref2.targetQuality,
    });
    sweepRuns.push(r);
    tick(r);
  }
  const reached = sweepRuns.filter((r) => r.reachedTarget);
  const best = reached.length
    ? reached.reduce((a, b) => ((b.timeToTargetS as number) < (a.timeToTargetS as number) ? b : a))
    : (sweepRuns[0] as RunRecord);
  const ds = best.ds;
  const dsOf = (p: ProfileName) => (p === 'ec2-11' ? EC2_DS : ds);

  const runs: RunRecord[] = [];
  const modeRuns = async (profile: ProfileName) => {
    const ref = refOf(profile);
    runs.push({ ...ref, profile, sameRunAs: `${spec.name}/reference(${ref.regions}x2)` });
    for (const mode of ASP_FIRST) {
      if (profile === 'ss' && mode === 'asp') {
        runs.push({ ...best, sameRunAs: `${spec.name}/dsSweep(ds=${ds})` });
        continue;
      }
      const input = {
        ...base(profile, mode, capOf(profile), false),
        ds: dsOf(profile),
        targetQuality: ref.targetQuality,
      };
      const r = await bounded(input, { profile, mode });
      if (r) runs.push(r);
    }
  };
  for (const profile of profiles.filter((p) => p !== 'ec2-11')) await modeRuns(profile);

  // What-if: ss bandwidth, latency a third of a clock; the lan-bsp row is the reference (no WAN).
  const scale = calibration.whatIfLatencyScale;
  const whatIfRuns: RunRecord[] = [
    { ...ref2, wanLatencyScale: scale, sameRunAs: `${spec.name}/reference(2x2)` },
  ];
  for (const mode of ASP_FIRST) {
    const input = { ...base('ss', mode, capOf('ss'), false), ds, targetQuality: ref2.targetQuality };
    const r = await bounded({ ...input, wanLatencyScale: scale }, { profile: 'ss-what-if', mode });
    if (r) whatIfRuns.push(r);
  }

  const variants: RunRecord[] = [];
  if (ec2) {
    await modeRuns('ec2-11');
    const ref11 = refOf('ec2-11');
    // The hub overlay beside all-to-all asp (both at EC2_DS); and asp and asp-int8 at the DS chosen on
    // ss, so what that DS does with 11 regions is recorded (a run that diverges is listed as failed).
    const extra: { mode: Mode; ds: number; overlay?: 'gaia-ec2-11' }[] = [
      { mode: 'asp', ds: EC2_DS, overlay: 'gaia-ec2-11' },
    ];
    if (ds !== EC2_DS) extra.push({ mode: 'asp', ds }, { mode: 'asp-int8', ds });
    for (const x of extra) {
      const variant = `${x.mode}${x.overlay ? '+overlay' : ''}${x.ds === EC2_DS ? '' : ` ds=${x.ds}`}`;
      const input = {
        ...base('ec2-11', x.mode, capOf('ec2-11'), false),
        ds: x.ds,
        targetQuality: ref11.targetQuality,
        ...(x.overlay ? { overlay: x.overlay } : {}),
      };
      const r = await bounded(input, { profile: 'ec2-11', mode: x.mode, variant });
      if (r) variants.push({ ...r, variant });
    }
  }

  const budget = await runBudgetSet({
    lanMbps: calibration.lanMbps,
    quick,
    profiles: profiles.filter((p) => p !== 'lan'),
    input: (profile, mode, toEnd) => ({
      ...base(profile, mode, capOf(profile), toEnd),
      ds: dsOf(profile),
      targetQuality: refOf(profile).targetQuality,
    }),
    whatIfScale: scale,
    ssReference: ref2,
    bounded,
  });

  // τ0 sweep beside the headline 1 % (the DS sweep's chosen run), asp on ss with the chosen DS.
  const tau0Points: Tau0Point[] = [tau0Point(best, ref2)];
  for (const tau0 of tau0s) {
    const input = { ...base('ss', 'asp', capOf('ss'), true), ds, tau0, targetQuality: ref2.targetQuality };
    const r = await bounded(input, { profile: 'ss', mode: 'asp', variant: `tau0=${tau0}` });
    if (r) tau0Points.push(tau0Point(r, ref2));
  }

  progress.end();
  return {
    workload: spec.name,
    calibration,
    reference,
    dsSweep: {
      profile: 'ss',
      points: sweepRuns.map((r) => sweepPoint(r, ref2)),
      chosen: ds,
      rule:
        'the DS whose asp run on ss reached the target first; used for every asp mode of this workload on ' +
        `lan, vc and ss; ec2-11 uses DS ${EC2_DS} (the authors' setting), with this DS as variants there`,
    },
    tau0Sweep: { profile: 'ss', headline: TAU0_HEADLINE, points: tau0Points },
    runs,
    whatIf: { wanLatencyScale: scale, ssLatencyMs: calibration.whatIfSsLatencyMs, runs: whatIfRuns },
    variants,
    budget,
    skipped,
  };
}
