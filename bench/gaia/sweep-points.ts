/** What the DS and τ0 sweeps keep of each asp run on ss: time and bytes to target, quality at equal work. */
import type { RunRecord } from './run-one.js';

export interface DsSweepPoint {
  ds: number;
  reachedTarget: boolean;
  timeToTargetS: number | null;
  wanBytesToTarget: number | null;
  /** Quality after as many clocks as the reference ran (equal work), and its gap to the reference's. */
  qualityAtReferenceClocks: number | null;
  gapToReference: number | null;
}

export interface Tau0Point extends DsSweepPoint {
  tau0: number;
  /** Shipped / accumulated update entries over the whole run. */
  fractionShipped: number;
  wanBytes: number;
  clocks: number;
}

/** `run` against the centralized `reference`: its quality when it had done as many clocks. */
export function sweepPoint(run: RunRecord, reference: RunRecord): DsSweepPoint {
  const at = run.series.find((p) => p.clock === reference.maxClocks)?.value ?? null;
  return {
    ds: run.ds,
    reachedTarget: run.reachedTarget,
    timeToTargetS: run.timeToTargetS,
    wanBytesToTarget: run.wanBytesToTarget,
    qualityAtReferenceClocks: at,
    gapToReference:
      at === null ? null : Math.abs(at - reference.finalQuality) / Math.abs(reference.finalQuality),
  };
}

export function tau0Point(run: RunRecord, reference: RunRecord): Tau0Point {
  return {
    tau0: run.tau0,
    ...sweepPoint(run, reference),
    fractionShipped: run.fractionShipped,
    wanBytes: run.wanBytes,
    clocks: run.clocks.max,
  };
}
