/**
 * The bandwidth-budget set's answer: the headline ratios and goals with asp+budget in asp's place (and
 * asp-int8+budget in asp-int8's), against the same lan-bsp and bsp runs. Counted apart: the headline
 * `goalsMet` is asp's alone.
 */
import type { PartResult } from './part.js';
import type { RunRecord } from './run-one.js';
import { GOALS } from './spec.js';
import { bytesOf, compact, countMet, emptyGroups, judgedOf, profileRatios, type Ratio } from './summary.js';
import { sweepPoint } from './sweep-points.js';

const baselines = (runs: RunRecord[]) => runs.filter((r) => r.mode === 'lan-bsp' || r.mode === 'bsp');
const fmt = (r: { reachedTarget: boolean; timeToTargetS: number | null }, bytes: number) =>
  `${r.reachedTarget ? `${r.timeToTargetS?.toPrecision(3)} s` : 'missed'}, ${(bytes / 1e6).toPrecision(3)} MB`;

export function summarizeBudget(parts: PartResult[]): Record<string, unknown> {
  const g = emptyGroups();
  const w8 = emptyGroups();
  const finalQualityGap: Record<string, Ratio> = {};
  const budgetMbps: Record<string, number> = {};
  const fractionShipped: Record<string, number> = {};
  const fractionSweep: Record<string, string[]> = {};
  const authorsRule: Record<string, string> = {};
  const all: RunRecord[] = [];
  for (const part of parts) {
    const w = part.workload;
    const b = part.budget;
    all.push(...b.runs, ...b.whatIf);
    for (const [p, mbps] of Object.entries(b.budgetMbps)) budgetMbps[`${w}/${p}`] = +mbps.toPrecision(3);
    for (const p of new Set(b.runs.map((r) => r.profile))) {
      const at = b.runs.filter((r) => r.profile === p);
      profileRatios(g, `${w}/${p}`, [...baselines(part.runs.filter((r) => r.profile === p)), ...at], p);
      const asp = at.find((r) => r.mode === 'asp');
      if (asp) fractionShipped[`${w}/${p}`] = +asp.fractionShipped.toFixed(3);
    }
    if (b.whatIf.length > 0) {
      profileRatios(w8, `${w}/ss-what-if`, [...baselines(part.whatIf.runs), ...b.whatIf], 'ss');
    }
    const ss = b.runs.find((r) => r.profile === 'ss' && r.mode === 'asp');
    const ref = part.runs.find((r) => r.profile === 'ss' && r.mode === 'lan-bsp');
    const gap = ss && ref ? sweepPoint(ss, ref).gapToReference : null;
    if (gap !== null) {
      finalQualityGap[`${w}/ss`] = {
        value: gap,
        goal: `<= ${GOALS.finalQualityGap} (asp+budget after as many clocks as the reference)`,
        met: gap <= GOALS.finalQualityGap,
      };
    }
    fractionSweep[w] = b.fractionSweep.map(
      (x) =>
        `×${x.fraction} (${x.budgetMbps.toPrecision(3)} Mbit/s): ${fmt(x, x.wanBytesToTarget ?? x.wanBytes)}`,
    );
    const step = b.authorsRule[0];
    if (step && ss)
      authorsRule[`${w}/ss`] = `step ${fmt(step, bytesOf(step))}; ratio ${fmt(ss, bytesOf(ss))}`;
  }
  const { bspSlowdownOverLan: _g, ...judged } = g;
  const groups = { ...judged, finalQualityGap };
  const { bspSlowdownOverLan: _w, ...w8Judged } = w8;
  return {
    rule: parts[0]?.budget.rule,
    goalsMet: countMet(judgedOf(groups)),
    runsReachingTarget: `${all.filter((r) => r.reachedTarget).length}/${all.length}`,
    budgetMbps,
    ...Object.fromEntries(Object.entries(groups).map(([k, v]) => [k, compact(v)])),
    fractionShipped,
    fractionSweep,
    authorsRule,
    whatIf: {
      note: 'NOT ss: ss bandwidth with WAN latency scaled to 1/3 of a clock, ss budget',
      goalsMet: countMet(judgedOf(w8Judged)),
      ...Object.fromEntries(Object.entries(w8Judged).map(([k, v]) => [k, compact(v)])),
    },
  };
}
