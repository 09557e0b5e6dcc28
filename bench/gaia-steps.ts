/**
 * `pnpm bench gaia-steps`: does a smaller step per clock bring our workloads into the paper's regime of
 * insignificant updates, and does asp then ship as little as the paper's? (bench/README.md, gaia-steps.)
 *
 * For each workload and step scale s, the learning rate is × s and the run is 1/s times as many clocks
 * (the same compute per clock, so the same cost model and network sizes). Each scale runs the centralized
 * reference (lan-bsp, its own target), then bsp and asp on the what-if ss link (latency a third of a
 * clock, the premise), in virtual time, and records the fraction of update entries below 1 %
 * change, the fraction asp ships, and asp's bytes and time against bsp's and LAN's.
 */
import { createMatrixFactorization, createMnistClassifier, type Workload } from '@geoml/gaia';
import { calibrateAndSize } from './gaia/calibration.js';
import { applyTarget, type RunRecord, runOne, targetFrom } from './gaia/run-one.js';
import { TARGET_TOLERANCE, TAU0_HEADLINE } from './gaia/spec.js';
import { Progress } from './lib/progress.js';
import { QUICK, writeResult, writeSvg } from './lib/results.js';
import { barChart } from './lib/svg.js';

interface StepsSpec {
  name: 'mnist' | 'mf';
  /** The headline benchmark's learning rate and clocks at scale 1 (bench/gaia/spec.ts). */
  learningRate: number;
  clocks: number;
  ds: number;
  create: (learningRate: number) => Workload;
}

const SCALES = QUICK ? [1, 1 / 4] : [1, 1 / 4, 1 / 16];
const SPECS: StepsSpec[] = QUICK
  ? [
      {
        name: 'mf',
        learningRate: 0.2,
        clocks: 30,
        ds: 2,
        create: (lr) =>
          createMatrixFactorization({
            users: 600,
            items: 300,
            density: 0.05,
            batchSize: 1024,
            learningRate: lr,
          }),
      },
    ]
  : [
      {
        name: 'mnist',
        learningRate: 0.1,
        clocks: 60,
        ds: 16,
        create: (lr) => createMnistClassifier({ batchSize: 32, learningRate: lr }),
      },
      {
        name: 'mf',
        learningRate: 0.2,
        clocks: 150,
        ds: 2,
        create: (lr) => createMatrixFactorization({ batchSize: 8192, learningRate: lr }),
      },
    ];

interface ScalePoint {
  workload: string;
  stepScale: number;
  learningRate: number;
  clocks: number;
  /** τ0/√t at the reference's last clock: what an entry must exceed to ship by then. */
  finalThreshold: number;
  referenceQuality: number;
  targetQuality: number;
  bspReached: boolean;
  aspReached: boolean;
  fractionBelowOnePercent: number;
  aspFractionShipped: number;
  aspBytesOverBsp: number | null;
  aspSpeedupOverBsp: number | null;
  aspOverLan: number | null;
  bspOverLan: number | null;
  wallS: number;
}

const ratio = (a: number | null, b: number | null) => (a === null || b === null || b === 0 ? null : a / b);
const round = (v: number | null, digits = 3) => (v === null ? null : +v.toPrecision(digits));

const progress = new Progress('gaia-steps', SPECS.length * SCALES.length * 3);
const points: ScalePoint[] = [];
const runs: RunRecord[] = [];
for (const spec of SPECS) {
  // One calibration per workload: the learning rate does not change a step's compute.
  const probe = spec.create(spec.learningRate);
  const cal = await calibrateAndSize(spec.name, probe).finally(() => probe.dispose());
  for (const scale of SCALES) {
    const lr = spec.learningRate * scale;
    const clocks = Math.round(spec.clocks / scale);
    const base = {
      workload: spec.name,
      create: () => spec.create(lr),
      regions: 2,
      workersPerRegion: 2,
      costModel: cal.costModel,
      lanMbps: cal.lanMbps,
      evalEvery: Math.max(1, Math.round(clocks / 30)),
      ds: spec.ds,
      tau0: TAU0_HEADLINE,
    };
    const wall0 = performance.now();
    const run = await runOne({ ...base, profile: 'lan', mode: 'lan-bsp', maxClocks: clocks, toEnd: true });
    progress.tick(`${spec.name} ×${scale} lan-bsp`);
    const target = targetFrom(run.finalQuality, run.higherIsBetter, TARGET_TOLERANCE);
    const ref = applyTarget(run, target);
    const lanTime = ref.timeToTargetS;
    const onWhatIf = (mode: 'bsp' | 'asp') =>
      runOne({
        ...base,
        profile: 'ss',
        mode,
        maxClocks: Math.round(clocks * 1.5),
        toEnd: false,
        targetQuality: target,
        wanLatencyScale: cal.whatIfLatencyScale,
      });
    const bsp = await onWhatIf('bsp');
    progress.tick(`${spec.name} ×${scale} bsp`);
    const asp = await onWhatIf('asp');
    progress.tick(`${spec.name} ×${scale} asp`);
    runs.push(ref, bsp, asp);
    points.push({
      workload: spec.name,
      stepScale: scale,
      learningRate: lr,
      clocks,
      finalThreshold: round(TAU0_HEADLINE / Math.sqrt(clocks)) as number,
      referenceQuality: ref.finalQuality,
      targetQuality: target,
      bspReached: bsp.reachedTarget,
      aspReached: asp.reachedTarget,
      fractionBelowOnePercent: round(asp.fractionBelowOnePercent) as number,
      aspFractionShipped: round(asp.fractionShipped) as number,
      aspBytesOverBsp: round(ratio(asp.wanBytesToTarget, bsp.wanBytesToTarget)),
      aspSpeedupOverBsp: round(ratio(bsp.timeToTargetS, asp.timeToTargetS)),
      aspOverLan: round(ratio(asp.timeToTargetS, lanTime)),
      bspOverLan: round(ratio(bsp.timeToTargetS, lanTime)),
      wallS: +((performance.now() - wall0) / 1000).toFixed(1),
    });
  }
}
progress.end();

const byWorkload = (field: keyof ScalePoint) =>
  Object.fromEntries(
    SPECS.map((s) => [
      s.name,
      points.filter((p) => p.workload === s.name).map((p) => `×${p.stepScale}: ${p[field]}`),
    ]),
  );
const summary = {
  note: 'what-if ss (latency 1/3 clock); learning rate × scale, clocks ÷ scale; asp at tau0 0.01',
  fractionBelowOnePercent: byWorkload('fractionBelowOnePercent'),
  aspFractionShipped: byWorkload('aspFractionShipped'),
  aspBytesOverBsp: byWorkload('aspBytesOverBsp'),
  aspSpeedupOverBsp: byWorkload('aspSpeedupOverBsp'),
  aspOverLan: byWorkload('aspOverLan'),
  finalThreshold: byWorkload('finalThreshold'),
};
writeResult('gaia-steps', summary, {
  method: {
    regime: 'what-if ss: ss bandwidth, WAN latency scaled to 1/3 clock of compute (bench/gaia/spec.ts)',
    scales: SCALES,
    calibration: 'one per workload, process CPU time, shared by its scales',
  },
  points,
  runs: runs.map(({ series: _series, ...r }) => r),
});
const labels = points.map((p) => `${p.workload} ×${p.stepScale}`);
writeSvg(
  'gaia-steps',
  'fractions',
  barChart({
    title: 'Smaller steps per clock: entries below 1 % change vs entries asp ships (what-if ss)',
    labels,
    series: [
      { name: 'update entries < 1 % change', values: points.map((p) => p.fractionBelowOnePercent) },
      { name: 'entries asp ships', values: points.map((p) => p.aspFractionShipped) },
      { name: 'asp bytes / bsp', values: points.map((p) => p.aspBytesOverBsp ?? Number.NaN) },
    ],
    yLabel: 'fraction',
    refs: [
      { value: 0.95, label: 'paper: > 95 % below 1 %' },
      { value: 0.05, label: 'goal: bytes ≤ 5 % of bsp' },
    ],
  }),
);

console.log('\ngaia-steps: learning rate × s, clocks ÷ s, on the what-if ss link (latency 1/3 clock)');
console.log(
  'workload scale clocks  <1%   shipped  bytes/bsp  speed-up/bsp  asp/LAN  τ at end  reached (bsp, asp)',
);
for (const p of points) {
  console.log(
    `${p.workload.padEnd(8)} ${String(p.stepScale).padEnd(6)} ${String(p.clocks).padStart(5)}  ${p.fractionBelowOnePercent.toFixed(3)}  ${p.aspFractionShipped.toFixed(3)}    ${String(p.aspBytesOverBsp).padEnd(9)}  ${String(p.aspSpeedupOverBsp).padEnd(12)}  ${String(p.aspOverLan).padEnd(7)}  ${String(p.finalThreshold).padEnd(8)}  ${p.bspReached}, ${p.aspReached}`,
  );
}
