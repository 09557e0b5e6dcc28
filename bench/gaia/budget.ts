/**
 * The bandwidth-budget set (beyond the paper): `asp` and `asp-int8` with the engine's threshold
 * controller (`budgetMbps`, default `ratio` rule) on every WAN profile and on the what-if set, at the DS
 * `asp` uses there, one budget rule for all (BUDGET_FRACTION of the profile's slowest WAN link). Beside
 * it, on ss: asp+budget at other fractions, and with the authors' ±0.005 step rule.
 */
import type { Mode } from '@geoml/gaia';
import { topologyProfile } from '@geoml/transport';
import type { RunInput, RunRecord } from './run-one.js';
import { BUDGET_FRACTION, BUDGET_FRACTION_SWEEP, BUDGET_MODES, type ProfileName } from './spec.js';
import { type Tau0Point, tau0Point } from './sweep-points.js';

export interface BudgetSet {
  rule: string;
  fraction: number;
  /** The budget each profile ran with (Mbit/s per link). */
  budgetMbps: Partial<Record<ProfileName, number>>;
  /** asp+budget and asp-int8+budget on vc, ss (run to the end, for quality at equal clocks), ec2-11. */
  runs: RunRecord[];
  /** The same two on the what-if set (ss bandwidth, latency a third of a clock): NOT ss. */
  whatIf: RunRecord[];
  /** asp+budget on ss at BUDGET_FRACTION (first) and the other fractions. */
  fractionSweep: (Tau0Point & { fraction: number; budgetMbps: number })[];
  /** asp+budget on ss with the authors' step rule instead of the ratio rule. */
  authorsRule: RunRecord[];
}

/** What a workload's part lends the budget set: its run inputs, its bounded runner, its references. */
export interface BudgetContext {
  readonly lanMbps: number;
  readonly quick: boolean;
  /** WAN profiles of this workload (no `lan`). */
  readonly profiles: readonly ProfileName[];
  /** The input of `mode` on `profile` at asp's DS, stopping at the target unless `toEnd`. */
  readonly input: (profile: ProfileName, mode: Mode, toEnd: boolean) => RunInput;
  readonly whatIfScale: number;
  readonly ssReference: RunRecord;
  readonly bounded: (
    input: RunInput,
    label: { profile: ProfileName | 'ss-what-if'; mode: Mode; variant: string },
  ) => Promise<RunRecord | null>;
}

/** Runs the set needs, for the progress count. */
export function budgetRunCount(profiles: readonly ProfileName[], quick: boolean): number {
  if (quick) return BUDGET_MODES.length;
  return BUDGET_MODES.length * (profiles.length + 1) + BUDGET_FRACTION_SWEEP.length + 1;
}

/** Bandwidth of the profile's slowest WAN link at this workload's sizing. */
export function slowestWanMbps(profile: ProfileName, lanMbps: number): number {
  const links = topologyProfile(profile, { lanMbps }).links.filter((l) => l.from !== l.to);
  return Math.min(...links.map((l) => l.bandwidthMbps));
}

export async function runBudgetSet(ctx: BudgetContext): Promise<BudgetSet> {
  const budgetOf = (p: ProfileName, fraction = BUDGET_FRACTION) => fraction * slowestWanMbps(p, ctx.lanMbps);
  const variantOf = (mode: Mode) => `${mode}+budget`;
  const runs: RunRecord[] = [];
  const whatIf: RunRecord[] = [];
  const budgetMbps: BudgetSet['budgetMbps'] = {};
  const profiles = ctx.quick ? (['ss'] as const) : ctx.profiles;
  for (const profile of profiles) {
    budgetMbps[profile] = budgetOf(profile);
    for (const mode of BUDGET_MODES) {
      // On ss asp+budget runs to the end, as asp's DS-sweep run does, for quality at equal clocks.
      const toEnd = profile === 'ss' && mode === 'asp';
      const input = { ...ctx.input(profile, mode, toEnd), budgetMbps: budgetOf(profile) };
      const r = await ctx.bounded(input, { profile, mode, variant: variantOf(mode) });
      if (r) runs.push(r);
    }
  }
  const fractionSweep: BudgetSet['fractionSweep'] = [];
  const authorsRule: RunRecord[] = [];
  const ssBudget = runs.find((r) => r.profile === 'ss' && r.mode === 'asp');
  if (!ctx.quick) {
    for (const mode of BUDGET_MODES) {
      const input = { ...ctx.input('ss', mode, false), wanLatencyScale: ctx.whatIfScale };
      const r = await ctx.bounded(
        { ...input, budgetMbps: budgetOf('ss') },
        { profile: 'ss-what-if', mode, variant: variantOf(mode) },
      );
      if (r) whatIf.push(r);
    }
    if (ssBudget) fractionSweep.push(sweepOf(ssBudget, ctx.ssReference, BUDGET_FRACTION));
    for (const fraction of BUDGET_FRACTION_SWEEP) {
      const input = { ...ctx.input('ss', 'asp', false), budgetMbps: budgetOf('ss', fraction) };
      const r = await ctx.bounded(input, { profile: 'ss', mode: 'asp', variant: `asp+budget×${fraction}` });
      if (r) fractionSweep.push(sweepOf(r, ctx.ssReference, fraction));
    }
    const step = {
      ...ctx.input('ss', 'asp', false),
      budgetMbps: budgetOf('ss'),
      budgetRule: 'step' as const,
    };
    const r = await ctx.bounded(step, { profile: 'ss', mode: 'asp', variant: 'asp+budget(step)' });
    if (r) authorsRule.push(r);
  }
  return {
    rule:
      `budgetMbps = ${BUDGET_FRACTION} × the profile's slowest WAN link, on every link, ratio rule; ` +
      'at the DS asp uses on that profile',
    fraction: BUDGET_FRACTION,
    budgetMbps,
    runs,
    whatIf,
    fractionSweep,
    authorsRule,
  };
}

function sweepOf(r: RunRecord, reference: RunRecord, fraction: number) {
  return { fraction, budgetMbps: r.budgetMbps as number, ...tau0Point(r, reference) };
}
