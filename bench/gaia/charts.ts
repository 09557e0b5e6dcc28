/** The benchmark's pictures: quality against virtual time per mode, and speed-up over bsp per profile. */
import { barChart, lineChart } from '../lib/svg.js';
import type { PartResult } from './part.js';
import type { RunRecord } from './run-one.js';
import { GOALS, MODES } from './spec.js';

/** The shared chart lays legends out 150 px apart on a 760 px canvas: widen the canvas to fit them all. */
function widen(svg: string, legendItems: number): string {
  const width = Math.max(760, 80 + legendItems * 150);
  return svg
    .replace('width="760"', `width="${width}"`)
    .replace('<rect width="760"', `<rect width="${width}"`);
}

/**
 * Quality against log10 virtual seconds for one workload's runs on one network: one line per mode, then
 * one per variant (e.g. `asp+budget`).
 */
export function qualityChart(workload: string, runs: RunRecord[], network: string): string | null {
  if (runs.length === 0) return null;
  const chosen = [
    ...MODES.flatMap((mode) => runs.find((x) => x.mode === mode && x.variant === undefined) ?? []),
    ...runs.filter((x) => x.variant !== undefined),
  ];
  const lines = chosen.flatMap((r) => {
    const points = r.series.filter((p) => p.timeS > 0).map((p) => [Math.log10(p.timeS), p.value] as const);
    return points.length ? [{ name: r.variant ?? r.mode, points }] : [];
  });
  const metric = runs[0]?.qualityMetric ?? 'quality';
  const target = runs[0]?.targetQuality;
  return widen(
    lineChart({
      title: `${workload} on ${network}: ${metric} against virtual time (target ${target?.toPrecision(4)})`,
      xLabel: 'virtual time, log10 seconds',
      yLabel: metric,
      lines,
    }),
    lines.length,
  );
}

/**
 * bsp's time to target over each mode's, per profile, the budget set's two modes last (log scale; a bar
 * is absent when the mode missed or did not run there).
 */
export function speedupChart(part: PartResult): string {
  const profiles = [...new Set(part.runs.map((r) => r.profile))];
  const time = (r: RunRecord | undefined) => (r?.reachedTarget ? (r.timeToTargetS as number) : Number.NaN);
  const bars = (name: string, runs: RunRecord[], mode: string) => ({
    name,
    values: profiles.map((p) => {
      const bsp = part.runs.find((r) => r.profile === p && r.mode === 'bsp');
      const bspTime = bsp ? (bsp.timeToTargetS ?? bsp.elapsedS) : Number.NaN;
      return bspTime / time(runs.find((r) => r.profile === p && r.mode === mode));
    }),
  });
  const series = [
    ...MODES.filter((m) => m !== 'bsp').map((mode) => bars(mode, part.runs, mode)),
    ...part.budget.runs
      .filter((r) => r.profile === 'ss')
      .map((r) => bars(r.variant as string, part.budget.runs, r.mode)),
  ];
  return widen(
    barChart({
      title: `${part.workload}: speed-up over bsp (time to target; lower bound where bsp missed it)`,
      labels: profiles,
      series,
      yLabel: 'bsp time / mode time',
      log: true,
      refs: [
        { value: GOALS.aspSpeedupOverBsp.vc as number, label: 'goal vc 3×' },
        { value: GOALS.aspSpeedupOverBsp.ss as number, label: 'goal ss, ec2-11 20×' },
      ],
    }),
    series.length,
  );
}

/** asp's time to target on ss against DS, with asp-async (no mirror clock) for reference. */
export function dsChart(parts: PartResult[]): string {
  const sweep = parts[0]?.dsSweep.points ?? [];
  return barChart({
    title: 'asp on ss: virtual time to target against the mirror-clock bound DS',
    labels: sweep.map((p) => `DS=${p.ds}`),
    series: parts.map((part) => ({
      name: part.workload,
      values: part.dsSweep.points.map((p) => p.timeToTargetS ?? Number.NaN),
    })),
    yLabel: 'seconds to target (virtual)',
    log: true,
  });
}

/** WAN bytes to target of asp on ss against τ0 (the headline 1 % and the sweep beside it). */
export function tau0Chart(parts: PartResult[]): string {
  const tau0s = [...new Set(parts.flatMap((p) => p.tau0Sweep.points.map((t) => t.tau0)))].sort(
    (a, b) => a - b,
  );
  return barChart({
    title: 'asp on ss: WAN MB until the target against τ0 (absent: target missed)',
    labels: tau0s.map((t) => `τ0=${t * 100} %`),
    series: parts.map((part) => ({
      name: part.workload,
      values: tau0s.map((t) => {
        const p = part.tau0Sweep.points.find((x) => x.tau0 === t);
        return p?.reachedTarget ? (p.wanBytesToTarget as number) / 1e6 : Number.NaN;
      }),
    })),
    yLabel: 'WAN MB to target',
    log: true,
  });
}
