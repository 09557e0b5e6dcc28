/** The benchmark's answer: ratios of asp to the centralized run and to the baselines, beside the goals. */
import type { PartResult } from './part.js';
import type { RunRecord } from './run-one.js';
import { GOALS } from './spec.js';

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
const bytesOf = (r: RunRecord) => r.wanBytesToTarget ?? r.wanBytes;

export function summarize(parts: PartResult[]): Record<string, unknown> {
  const runs = parts.flatMap((p) => p.runs);
  const aspOverLan: Record<string, Ratio> = {};
  const aspSpeedupOverBsp: Record<string, Ratio> = {};
  const bspSlowdownOverLan: Record<string, Ratio> = {};
  const aspBytesOverBsp: Record<string, Ratio> = {};
  const int8BytesOverAsp: Record<string, Ratio> = {};
  const finalQualityGap: Record<string, Ratio> = {};
  const fractionBelowOnePercent: Record<string, number> = {};
  for (const part of parts) {
    const w = part.workload;
    for (const p of new Set(part.runs.map((r) => r.profile))) {
      const key = `${w}/${p}`;
      const lan = find(runs, w, p, 'lan-bsp');
      const asp = find(runs, w, p, 'asp');
      const bsp = find(runs, w, p, 'bsp');
      const int8 = find(runs, w, p, 'asp-int8');
      if (asp) fractionBelowOnePercent[key] = +asp.fractionBelowOnePercent.toFixed(3);
      if (lan && asp && lan.reachedTarget) {
        const a = timeOf(asp);
        const v = a.t / (lan.timeToTargetS as number);
        aspOverLan[key] = {
          value: v,
          ...(a.exact ? {} : { bound: '>' as const }),
          goal: `<= ${GOALS.aspOverLan}`,
          met: v <= GOALS.aspOverLan && a.exact,
        };
      }
      if (lan && bsp && lan.reachedTarget) {
        const b = timeOf(bsp);
        bspSlowdownOverLan[key] = {
          value: b.t / (lan.timeToTargetS as number),
          ...(b.exact ? {} : { bound: '>' as const }),
          goal: 'paper: vc 3–4×, 11 regions >20×, up to 53.7×',
          met: null,
        };
      }
      if (asp && bsp && asp.reachedTarget) {
        const b = timeOf(bsp);
        const v = b.t / (asp.timeToTargetS as number);
        const goal = GOALS.aspSpeedupOverBsp[p];
        aspSpeedupOverBsp[key] = {
          value: v,
          ...(b.exact ? {} : { bound: '>' as const }),
          goal: goal === undefined ? 'none (lan)' : `>= ${goal}`,
          met: goal === undefined ? null : v >= goal,
        };
      }
      if (asp && bsp && p !== 'lan') {
        const v = bytesOf(asp) / Math.max(1, bytesOf(bsp));
        aspBytesOverBsp[key] = {
          value: v,
          goal: `<= ${GOALS.aspBytesOverBsp}`,
          met: v <= GOALS.aspBytesOverBsp && asp.reachedTarget && bsp.reachedTarget,
        };
      }
      if (asp && int8 && p !== 'lan') {
        const v = bytesOf(int8) / Math.max(1, bytesOf(asp));
        int8BytesOverAsp[key] = {
          value: v,
          goal: `<= 1/3 at the same quality (both to target)`,
          met: v <= GOALS.int8BytesOverAsp && asp.reachedTarget && int8.reachedTarget,
        };
      }
    }
    const chosen = part.dsSweep.points.find((x) => x.ds === part.dsSweep.chosen);
    if (chosen?.gapToReference !== undefined && chosen.gapToReference !== null) {
      finalQualityGap[`${w}/ss`] = {
        value: chosen.gapToReference,
        goal: `<= ${GOALS.finalQualityGap} (asp after as many clocks as the reference)`,
        met: chosen.gapToReference <= GOALS.finalQualityGap,
      };
    }
  }
  const groups = { aspOverLan, aspSpeedupOverBsp, aspBytesOverBsp, finalQualityGap, int8BytesOverAsp };
  const judged = Object.values(groups).flatMap((g) => Object.values(g).filter((r) => r.met !== null));
  const reachable = runs.filter((r) => !r.sameRunAs);
  return {
    goalsMet: `${judged.filter((r) => r.met).length}/${judged.length}`,
    dsUsed: Object.fromEntries(parts.map((p) => [p.workload, p.dsSweep.chosen])),
    runsReachingTarget: `${runs.filter((r) => r.reachedTarget).length}/${runs.length}`,
    skippedRuns: parts.reduce((n, p) => n + p.skipped.length, 0),
    distinctRuns: reachable.length,
    transferOverCompute: Object.fromEntries(
      parts.map((p) => [p.workload, +p.calibration.transferOverCompute.toFixed(1)]),
    ),
    latencyOverCompute: Object.fromEntries(
      parts.map((p) => [p.workload, +p.calibration.latencyOverCompute.toFixed(2)]),
    ),
    ...Object.fromEntries(Object.entries(groups).map(([k, g]) => [k, compact(g)])),
    bspSlowdownOverLan: compact(bspSlowdownOverLan),
    fractionBelowOnePercent,
  };
}

/** `{ "mf/ss": "23.1 ✓" }`: one line per key for the printed summary; the runs hold the full numbers. */
function compact(g: Record<string, Ratio>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(g).map(([k, r]) => [
      k,
      `${r.bound ?? ''}${r.value === null ? '–' : +r.value.toPrecision(3)}${r.met === null ? '' : r.met ? ' met' : ' MISSED'}`,
    ]),
  );
}

/** The closing table on stdout: one line per run. */
export function table(parts: PartResult[]): string {
  const rows = [
    [
      'workload',
      'profile',
      'mode',
      'ds',
      'target',
      'time s',
      'clocks',
      'vs bsp',
      'WAN MB',
      'msgs',
      'final',
      '<1%',
    ],
  ];
  const runs = parts.flatMap((p) => p.runs);
  for (const r of runs) {
    const bsp = find(runs, r.workload, r.profile, 'bsp');
    const speed =
      bsp && r.reachedTarget
        ? `${bsp.reachedTarget ? '' : '>'}${((bsp.timeToTargetS ?? bsp.elapsedS) / (r.timeToTargetS as number)).toFixed(1)}`
        : '–';
    rows.push([
      r.workload,
      r.profile,
      r.mode,
      r.mode.startsWith('asp') && r.mode !== 'asp-async' ? String(r.ds) : '',
      r.reachedTarget ? 'yes' : 'NO',
      (r.timeToTargetS ?? r.elapsedS).toPrecision(3),
      String(r.clocksToTarget ?? r.clocks.max),
      speed,
      ((r.wanBytesToTarget ?? r.wanBytes) / 1e6).toFixed(2),
      String(r.wanMessages),
      r.finalQuality.toPrecision(4),
      r.fractionBelowOnePercent.toFixed(2),
    ]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  return rows.map((row) => row.map((c, i) => c.padEnd(widths[i]!)).join('  ')).join('\n');
}
