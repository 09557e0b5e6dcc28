/** The benchmark's answer: ratios of asp to the centralized run and to the baselines, beside the goals. */
import type { PartResult } from './part.js';
import type { RunRecord } from './run-one.js';
import { EC2_DS, GOALS } from './spec.js';

/** A measured ratio; `bound` says it is only a bound (the other side never reached the target). */
export interface Ratio {
  value: number | null;
  bound?: '>' | '<';
  goal: string;
  met: boolean | null;
}

const find = (runs: RunRecord[], w: string, p: string, m: string) =>
  runs.find((r) => r.workload === w && r.profile === p && r.mode === m);

/** Time a run needed, or a lower bound (its whole run) when it never reached the target. */
const timeOf = (r: RunRecord) => ({ t: r.timeToTargetS ?? r.elapsedS, exact: r.reachedTarget });
export const bytesOf = (r: RunRecord) => r.wanBytesToTarget ?? r.wanBytes;

export type Groups = Record<
  'aspOverLan' | 'aspSpeedupOverBsp' | 'bspSlowdownOverLan' | 'aspBytesOverBsp' | 'int8BytesOverAsp',
  Record<string, Ratio>
>;
export const emptyGroups = (): Groups => ({
  aspOverLan: {},
  aspSpeedupOverBsp: {},
  bspSlowdownOverLan: {},
  aspBytesOverBsp: {},
  int8BytesOverAsp: {},
});

/**
 * The ratios of one workload × profile into `g` under `key`. `goalProfile` picks the speed-up goal (the
 * what-if set is judged by ss's goal, and reported apart).
 */
export function profileRatios(g: Groups, key: string, runs: RunRecord[], goalProfile: string): void {
  const of = (m: string) => runs.find((r) => r.mode === m);
  const lan = of('lan-bsp');
  const asp = of('asp');
  const bsp = of('bsp');
  const int8 = of('asp-int8');
  if (lan && asp && lan.reachedTarget) {
    const a = timeOf(asp);
    const v = a.t / (lan.timeToTargetS as number);
    g.aspOverLan[key] = {
      value: v,
      ...(a.exact ? {} : { bound: '>' as const }),
      goal: `<= ${GOALS.aspOverLan}`,
      met: v <= GOALS.aspOverLan && a.exact,
    };
  }
  if (lan && bsp && lan.reachedTarget) {
    const b = timeOf(bsp);
    g.bspSlowdownOverLan[key] = {
      value: b.t / (lan.timeToTargetS as number),
      ...(b.exact ? {} : { bound: '>' as const }),
      goal: 'paper: vc 3–4×, 11 regions >20×, up to 53.7×',
      met: null,
    };
  }
  if (asp && bsp && asp.reachedTarget) {
    const b = timeOf(bsp);
    const v = b.t / (asp.timeToTargetS as number);
    const goal = GOALS.aspSpeedupOverBsp[goalProfile];
    g.aspSpeedupOverBsp[key] = {
      value: v,
      ...(b.exact ? {} : { bound: '>' as const }),
      goal: goal === undefined ? 'none (lan)' : `>= ${goal}`,
      met: goal === undefined ? null : v >= goal,
    };
  }
  if (asp && bsp && goalProfile !== 'lan') {
    const v = bytesOf(asp) / Math.max(1, bytesOf(bsp));
    g.aspBytesOverBsp[key] = {
      value: v,
      goal: `<= ${GOALS.aspBytesOverBsp}`,
      met: v <= GOALS.aspBytesOverBsp && asp.reachedTarget && bsp.reachedTarget,
    };
  }
  if (asp && int8 && goalProfile !== 'lan') {
    const v = bytesOf(int8) / Math.max(1, bytesOf(asp));
    g.int8BytesOverAsp[key] = {
      value: v,
      goal: `<= 1/3 at the same quality (both to target)`,
      met: v <= GOALS.int8BytesOverAsp && asp.reachedTarget && int8.reachedTarget,
    };
  }
}

export const judgedOf = (groups: Record<string, Record<string, Ratio>>) =>
  Object.values(groups).flatMap((g) => Object.values(g).filter((r) => r.met !== null));
export const countMet = (judged: Ratio[]) => `${judged.filter((r) => r.met).length}/${judged.length}`;

export function summarize(parts: PartResult[]): Record<string, unknown> {
  const runs = parts.flatMap((p) => p.runs);
  const g = emptyGroups();
  const w8 = emptyGroups();
  const finalQualityGap: Record<string, Ratio> = {};
  const fractionBelowOnePercent: Record<string, number> = {};
  const announcements: Record<string, string> = {};
  const tau0Sweep: Record<string, string[]> = {};
  const overlay: Record<string, string> = {};
  const ec2AtSsDs: Record<string, string> = {};
  for (const part of parts) {
    const w = part.workload;
    for (const p of new Set(part.runs.map((r) => r.profile))) {
      const at = part.runs.filter((r) => r.profile === p);
      const asp = at.find((r) => r.mode === 'asp');
      if (asp) fractionBelowOnePercent[`${w}/${p}`] = +asp.fractionBelowOnePercent.toFixed(3);
      // Selective-barrier index lists against data messages shipped, until each run stopped.
      const barrier = at
        .filter((r) => (r.mode === 'asp' || r.mode === 'asp-int8') && r.encodings)
        .map((r) => {
          const shipped = Object.values(r.encodings ?? {}).reduce((n, c) => n + c, 0);
          return `${r.mode} ${r.announcements ?? 0}/${shipped}`;
        });
      if (barrier.length > 0) announcements[`${w}/${p}`] = barrier.join(', ');
      profileRatios(g, `${w}/${p}`, at, p);
    }
    if (part.whatIf.runs.length > 1) profileRatios(w8, `${w}/ss-what-if`, part.whatIf.runs, 'ss');
    const chosen = part.dsSweep.points.find((x) => x.ds === part.dsSweep.chosen);
    if (chosen?.gapToReference !== undefined && chosen.gapToReference !== null) {
      finalQualityGap[`${w}/ss`] = {
        value: chosen.gapToReference,
        goal: `<= ${GOALS.finalQualityGap} (asp after as many clocks as the reference)`,
        met: chosen.gapToReference <= GOALS.finalQualityGap,
      };
    }
    tau0Sweep[w] = part.tau0Sweep.points.map(
      (t) =>
        `tau0 ${t.tau0}: ${t.reachedTarget ? `${t.timeToTargetS?.toPrecision(3)} s` : 'missed'}, ` +
        `${((t.wanBytesToTarget ?? t.wanBytes) / 1e6).toPrecision(3)} MB, shipped ${t.fractionShipped.toFixed(2)}`,
    );
    // Each overlay run beside the all-to-all asp of the same DS on ec2-11.
    for (const ov of part.variants.filter((v) => v.overlay !== undefined)) {
      const all =
        ov.ds === EC2_DS
          ? part.runs.find((r) => r.profile === 'ec2-11' && r.mode === 'asp')
          : part.variants.find((v) => v.profile === 'ec2-11' && v.overlay === undefined && v.ds === ov.ds);
      const fmt = (r: RunRecord) =>
        `${r.reachedTarget ? `${r.timeToTargetS?.toPrecision(3)} s` : 'missed'}, ${(bytesOf(r) / 1e6).toPrecision(3)} MB`;
      overlay[`${w}/ec2-11/ds=${ov.ds}`] = `overlay ${fmt(ov)}; all-to-all ${all ? fmt(all) : 'not run'}`;
    }
    // The DS chosen on ss, run on ec2-11 beside the EC2_DS runs: reached, or how it failed.
    for (const v of part.variants.filter((x) => x.profile === 'ec2-11' && x.ds !== EC2_DS)) {
      ec2AtSsDs[`${w}/ec2-11/${v.variant}`] =
        `${v.reachedTarget ? `target at ${v.timeToTargetS?.toPrecision(3)} s` : 'missed'}, ${(bytesOf(v) / 1e6).toPrecision(3)} MB`;
    }
    for (const x of part.skipped.filter((k) => k.profile === 'ec2-11' && k.variant?.includes(' ds='))) {
      ec2AtSsDs[`${w}/ec2-11/${x.variant}`] = x.reason;
    }
  }
  const { bspSlowdownOverLan, ...judgedGroups } = g;
  const groups = { ...judgedGroups, finalQualityGap };
  const { bspSlowdownOverLan: w8Slowdown, ...w8Judged } = w8;
  return {
    goalsMet: countMet(judgedOf(groups)),
    dsUsed: Object.fromEntries(
      parts.flatMap((p) => [
        [p.workload, p.dsSweep.chosen],
        ...(p.runs.some((r) => r.profile === 'ec2-11') ? [[`${p.workload}/ec2-11`, EC2_DS]] : []),
      ]),
    ),
    tau0Headline: parts[0]?.tau0Sweep.headline,
    runsReachingTarget: `${runs.filter((r) => r.reachedTarget).length}/${runs.length}`,
    skippedRuns: parts.reduce((n, p) => n + p.skipped.length, 0),
    failedRuns: parts.flatMap((p) =>
      p.skipped
        .filter((x) => x.reason.startsWith('failed'))
        .map((x) => `${p.workload}/${x.profile}/${x.variant ?? x.mode}: ${x.reason}`),
    ),
    distinctRuns: runs.filter((r) => !r.sameRunAs).length,
    costModelClock: Object.fromEntries(
      parts.map((p) => [p.workload, p.calibration.costModel.clock ?? 'wall']),
    ),
    stepMs: Object.fromEntries(
      parts.map((p) => [p.workload, +p.calibration.costModel.stepMs.toPrecision(3)]),
    ),
    transferOverCompute: Object.fromEntries(
      parts.map((p) => [p.workload, +p.calibration.transferOverCompute.toFixed(1)]),
    ),
    latencyOverCompute: Object.fromEntries(
      parts.map((p) => [p.workload, +p.calibration.latencyOverCompute.toFixed(2)]),
    ),
    referenceDriftLastThird: Object.fromEntries(
      parts.flatMap((p) =>
        p.reference.map((r) => [
          `${p.workload}/${r.workers}w/${r.clocks}c`,
          r.driftLastThird?.toPrecision(2),
        ]),
      ),
    ),
    ...Object.fromEntries(Object.entries(groups).map(([k, v]) => [k, compact(v)])),
    bspSlowdownOverLan: compact(bspSlowdownOverLan),
    fractionBelowOnePercent,
    announcements,
    tau0Sweep,
    overlay,
    ec2AtSsDs,
    whatIf: {
      note: 'NOT ss: ss bandwidth with WAN latency scaled to 1/3 of a clock (wanLatencyScale per workload)',
      wanLatencyScale: Object.fromEntries(
        parts.map((p) => [p.workload, +p.whatIf.wanLatencyScale.toPrecision(3)]),
      ),
      goalsMet: countMet(judgedOf(w8Judged)),
      ...Object.fromEntries(Object.entries(w8Judged).map(([k, v]) => [k, compact(v)])),
      bspSlowdownOverLan: compact(w8Slowdown),
    },
  };
}

/** `{ "mf/ss": "23.1 ✓" }`: one line per key for the printed summary; the runs hold the full numbers. */
export function compact(g: Record<string, Ratio>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(g).map(([k, r]) => [
      k,
      `${r.bound ?? ''}${r.value === null ? '–' : +r.value.toPrecision(3)}${r.met === null ? '' : r.met ? ' met' : ' MISSED'}`,
    ]),
  );
}

/** The closing table on stdout: one line per run; what-if runs as `ss-what-if`, variants by name. */
export function table(parts: PartResult[]): string {
  const rows = [
    ['workload', 'profile', 'mode', 'ds', 'tau0', 'target', 'time s', 'clocks', 'vs bsp', 'WAN MB', 'msgs'],
  ];
  rows[0]?.push('final', '<1%');
  const add = (r: RunRecord, profile: string, bsp: RunRecord | undefined) => {
    const speed =
      bsp && r.reachedTarget
        ? `${bsp.reachedTarget ? '' : '>'}${((bsp.timeToTargetS ?? bsp.elapsedS) / (r.timeToTargetS as number)).toFixed(1)}`
        : '–';
    const asp = r.mode.startsWith('asp');
    rows.push([
      r.workload,
      profile,
      r.variant ?? r.mode,
      asp && r.mode !== 'asp-async' ? String(r.ds) : '',
      asp ? String(r.tau0) : '',
      r.reachedTarget ? 'yes' : 'NO',
      (r.timeToTargetS ?? r.elapsedS).toPrecision(3),
      String(r.clocksToTarget ?? r.clocks.max),
      speed,
      ((r.wanBytesToTarget ?? r.wanBytes) / 1e6).toFixed(2),
      String(r.wanMessages),
      r.finalQuality.toPrecision(4),
      r.fractionBelowOnePercent.toFixed(2),
    ]);
  };
  for (const part of parts) {
    for (const r of part.runs) add(r, r.profile, find(part.runs, r.workload, r.profile, 'bsp'));
    for (const r of [...part.variants, ...part.budget.runs, ...part.budget.authorsRule]) {
      add(r, r.profile, find(part.runs, r.workload, r.profile, 'bsp'));
    }
    const w8 = part.whatIf.runs;
    const w8Bsp = w8.find((x) => x.mode === 'bsp');
    for (const r of [...w8, ...part.budget.whatIf]) add(r, 'ss-what-if', w8Bsp);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  return rows.map((row) => row.map((c, i) => c.padEnd(widths[i]!)).join('  ')).join('\n');
}
