/**
 * One workload's share of the benchmark: calibrate and size it, run the centralized reference(s) that
 * define the target, sweep DS for `asp` on `ss`, then every profile × mode. Runs stop at the target (or at
 * 1.5× the reference's clocks); runs left when the wall-time budget is spent are listed as skipped.
 */
import type { Mode } from '@geoml/gaia';
import { Progress } from '../lib/progress.js';
import { type Calibration, calibrateAndSize } from './calibration.js';
import { applyTarget, type RunInput, type RunRecord, runOne, targetFrom } from './run-one.js';
import { DS_SWEEP, MODES, type ProfileName, TARGET_TOLERANCE, type WorkloadSpec } from './spec.js';

export interface DsSweepPoint {
  ds: number;
  reachedTarget: boolean;
  timeToTargetS: number | null;
  wanBytesToTarget: number | null;
  /** Quality after as many clocks as the reference ran (equal work), and its gap to the reference's. */
  qualityAtReferenceClocks: number | null;
  gapToReference: number | null;
}

export interface PartResult {
  workload: string;
  calibration: Calibration;
  reference: { clocks: number; finalQuality: number; targetQuality: number; workers: number }[];
  dsSweep: { profile: 'ss'; points: DsSweepPoint[]; chosen: number; rule: string };
  runs: RunRecord[];
  /** Runs beyond the issue's modes: asp on ss with the threshold controller holding half the link. */
  variants: RunRecord[];
  skipped: { profile: ProfileName; mode: Mode; reason: string }[];
}

const regionsOf = (p: ProfileName) => (p === 'ec2-11' ? 11 : 2);
const PROFILE_ORDER: readonly ProfileName[] = ['ss', 'vc', 'ec2-11', 'lan'];

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
  const baseModes = MODES.filter((m) => m !== 'lan-bsp');
  const total = 1 + (profiles.includes('ec2-11') ? 1 : 0) + sweep.length + profiles.length * baseModes.length;
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
      `${r.profile}/${r.mode}${r.mode.startsWith('asp') ? ` ds=${r.ds}` : ''}: ${
        r.reachedTarget ? `target at ${r.timeToTargetS?.toFixed(2)}s` : 'target missed'
      }, ${r.qualityMetric} ${r.finalQuality.toPrecision(4)}, wall ${r.wallS.toFixed(1)}s`,
    );

  // The centralized references: 2 × 2 workers, and 11 × 2 for ec2-11, all in one region on the LAN.
  const references = new Map<number, RunRecord>();
  const reference: PartResult['reference'] = [];
  for (const regions of profiles.includes('ec2-11') ? [2, 11] : [2]) {
    const clocks = regions === 11 ? spec.referenceClocksEc2 : spec.referenceClocks;
    const raw = await runOne({ ...base('lan', 'lan-bsp', clocks, true), regions });
    const target = targetFrom(raw.finalQuality, raw.higherIsBetter, TARGET_TOLERANCE);
    const ref = applyTarget(raw, target);
    references.set(regions, ref);
    reference.push({ clocks, finalQuality: ref.finalQuality, targetQuality: target, workers: regions * 2 });
    tick(ref);
  }
  const refOf = (p: ProfileName) => references.get(regionsOf(p)) as RunRecord;
  const capOf = (p: ProfileName) => Math.ceil(1.5 * refOf(p).maxClocks);

  // DS sweep for asp on ss, run past the target so quality at equal clocks can be compared.
  const ref2 = refOf('ss');
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
  const points: DsSweepPoint[] = sweepRuns.map((r) => {
    const at = r.series.find((p) => p.clock === ref2.maxClocks)?.value ?? null;
    return {
      ds: r.ds,
      reachedTarget: r.reachedTarget,
      timeToTargetS: r.timeToTargetS,
      wanBytesToTarget: r.wanBytesToTarget,
      qualityAtReferenceClocks: at,
      gapToReference: at === null ? null : Math.abs(at - ref2.finalQuality) / Math.abs(ref2.finalQuality),
    };
  });
  const reached = sweepRuns.filter((r) => r.reachedTarget);
  const best = reached.length
    ? reached.reduce((a, b) => ((b.timeToTargetS as number) < (a.timeToTargetS as number) ? b : a))
    : (sweepRuns[0] as RunRecord);
  const ds = best.ds;

  const runs: RunRecord[] = [];
  const skipped: PartResult['skipped'] = [];
  for (const profile of profiles) {
    const ref = refOf(profile);
    runs.push({ ...ref, profile, sameRunAs: `${spec.name}/reference(${ref.regions}x2)` });
    const order: Mode[] = ['asp', 'bsp', 'asp-int8', 'asp-async', 'tap', 'ssp'];
    for (const mode of order) {
      if (profile === 'ss' && mode === 'asp') {
        runs.push({ ...best, sameRunAs: `${spec.name}/dsSweep(ds=${ds})` });
        continue;
      }
      if (Date.now() > deadline) {
        skipped.push({ profile, mode, reason: 'wall-time budget spent' });
        continue;
      }
      const r = await runOne({
        ...base(profile, mode, capOf(profile), false),
        ds,
        targetQuality: ref.targetQuality,
      });
      runs.push(r);
      tick(r);
    }
  }
  const variants: RunRecord[] = [];
  if (Date.now() <= deadline) {
    const budgetMbps = calibration.ssMbps / 2;
    const r = await runOne({
      ...base('ss', 'asp', capOf('ss'), false),
      ds,
      targetQuality: ref2.targetQuality,
      budgetMbps,
    });
    variants.push({ ...r, variant: 'asp+budget', budgetMbps });
    tick(r);
  }
  progress.end();
  return {
    workload: spec.name,
    calibration,
    reference,
    dsSweep: {
      profile: 'ss',
      points,
      chosen: ds,
      rule: 'the DS whose asp run on ss reached the target first; used for every asp mode of this workload',
    },
    runs,
    variants,
    skipped,
  };
}
