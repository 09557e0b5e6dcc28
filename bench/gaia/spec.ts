/**
 * What the Gaia benchmark runs: workloads and their sizes, profiles, modes, and the goals it is judged by
 * (issue 4 item 5; reference/gaia.md §2 and §4).
 */
import {
  createLda,
  createMatrixFactorization,
  createMnistClassifier,
  type Mode,
  type Workload,
} from '@geoml/gaia';

export type WorkloadName = 'mf' | 'mnist' | 'lda';
export type ProfileName = 'lan' | 'vc' | 'ss' | 'ec2-11';

export const MODES: readonly Mode[] = ['lan-bsp', 'bsp', 'ssp', 'tap', 'asp', 'asp-async', 'asp-int8'];

/** One dense model transfer over the ss link, in clocks of compute (the paper's regime: 20–50). */
export const TRANSFER_CLOCKS = 30;
/**
 * What-if set: ss with every WAN one-way latency scaled (`wanLatencyScale`) so it is this many clocks of
 * compute, the premise that the real ss latency misses (see bench/README.md, gaia). Recorded
 * apart from the ss runs, never as ss.
 */
export const WHAT_IF_LATENCY_CLOCKS = 1 / 3;
/** Significance thresholds τ0 swept for asp on ss beside the headline 1 % (5 % is the authors' DNN one). */
export const TAU0_HEADLINE = 0.01;
export const TAU0_SWEEP = { quick: [0.05], full: [0.05, 0.2] } as const;
/** Target = the centralized run's converged quality within this fraction. */
export const TARGET_TOLERANCE = 0.01;

export const GOALS = {
  aspOverLan: 1.25,
  aspSpeedupOverBsp: { vc: 3, ss: 20, 'ec2-11': 20 } as Record<string, number>,
  aspBytesOverBsp: 0.05,
  finalQualityGap: 0.01,
  int8BytesOverAsp: 1 / 3,
  transferOverCompute: [20, 50] as const,
  latencyOverCompute: 1 / 3,
};

/** The paper's figures beside which the README states ours (reference/gaia.md §2.1). */
export const PAPER = {
  speedupOverBaselines: '1.8–53.5×',
  ofLanTime: '0.94–1.40×',
  baselineSlowdownOverLan: 'up to 53.7× (vc 3–4×, 11 regions >20×)',
  insignificantUpdates: '>95 % of updates change a parameter by <1 %',
};

export interface WorkloadSpec {
  readonly name: WorkloadName;
  readonly create: () => Workload;
  /** Profiles run (2 regions × 2 workers each, `ec2-11` 11 × 2). */
  readonly profiles: readonly ProfileName[];
  /** Clocks of the centralized reference run, whose final quality defines the target. */
  readonly referenceClocks: number;
  /** Same for the 22-worker reference of `ec2-11` (more data per clock, so fewer clocks). */
  readonly referenceClocksEc2: number;
  readonly evalEvery: number;
}

/** Sizes: chosen so the full run fits 30 minutes of 2 shared cores (see bench/README.md, gaia). */
export function workloadSpecs(quick: boolean): WorkloadSpec[] {
  if (quick) {
    return [
      {
        name: 'mf',
        create: () => createMatrixFactorization({ users: 600, items: 300, density: 0.05, batchSize: 1024 }),
        profiles: ['ss'],
        referenceClocks: 30,
        referenceClocksEc2: 30,
        evalEvery: 3,
      },
    ];
  }
  return [
    {
      name: 'mf',
      create: () => createMatrixFactorization({ batchSize: 8192 }),
      profiles: ['lan', 'vc', 'ss', 'ec2-11'],
      // Converged: the 4-worker run is within 1.6 % of its quality at 200 clocks; the 22-worker one,
      // whose workers each sweep a small shard, gets slower per clock (see the references' drift).
      referenceClocks: 150,
      referenceClocksEc2: 150,
      evalEvery: 3,
    },
    {
      name: 'mnist',
      create: () => createMnistClassifier({ batchSize: 32 }),
      profiles: ['lan', 'vc', 'ss'],
      referenceClocks: 60,
      referenceClocksEc2: 30,
      evalEvery: 4,
    },
    {
      name: 'lda',
      create: () => createLda({ batchSize: 64 }),
      profiles: ['lan', 'vc', 'ss'],
      referenceClocks: 60,
      referenceClocksEc2: 30,
      evalEvery: 4,
    },
  ];
}

/**
 * The bandwidth-budget set (beyond the paper; bench/README.md, gaia): `budgetMbps` = this fraction of the
 * profile's slowest WAN link, on every link of every region, for every workload and profile. The slowest
 * link because every region ships the same updates to all its peers, so its slowest link binds, and
 * the authors' 11-region config sets one `wan_bandwidth_limit` near their worst pair's bandwidth
 * (reference/gaia.md §1.3); half of it because a region ships in one burst per clock and its control
 * messages share the link, so a link run at its full rate queues.
 */
export const BUDGET_FRACTION = 0.5;
/** Fractions run beside BUDGET_FRACTION for asp+budget on ss: how much the choice matters. */
export const BUDGET_FRACTION_SWEEP = [0.25, 1] as const;
/** ASP modes run with the budget. */
export const BUDGET_MODES = ['asp', 'asp-int8'] as const;

/**
 * Mirror-clock bounds swept for `asp` on `ss`; the fastest to target is then used on lan, vc and ss.
 * 0 and 1 are the authors' settings (reference/gaia.md §1.5); 2 because since DS bounds the data a
 * reader sees (a clock counts once its shipment arrived), MF's best bound sits between 1 and 4.
 */
export const DS_SWEEP = { quick: [0, 8], full: [0, 1, 2, 4, 16] } as const;
/**
 * DS of every ASP mode on `ec2-11` (the authors' setting in all their configs, reference/gaia.md §1.5).
 * The DS chosen on ss does not carry over: there half of a shared row's per-clock step comes late from
 * the other region, on ec2-11 ten elevenths do, and MF refits its popular items every clock, so a DS
 * that is stable on 2 regions makes the stale steps add up past the fit on 11 (see bench/README.md,
 * gaia). The ss-chosen DS still runs there as variants, so the cost of DS 0 is measured.
 */
export const EC2_DS = 0;
