import type { Clipper } from './clipper.js';
import { HotLoadError } from './hot-load-events.js';
import type { VersionStats } from './scheduler.js';

/** How a live canary is run and judged (the `canary*` hot-load options). */
export interface LiveCanaryRule {
  /** Share of the model's live traffic the new version receives, in (0, 1]. */
  readonly share: number;
  /** Observe at least this long (clock ms)... */
  readonly durationMs: number;
  /** ...and at least this many canary queries before accepting. */
  readonly minQueries: number;
  /** Give up (refuse) if `minQueries` have not arrived by then (clock ms from the start). */
  readonly maxMs: number;
  /** How much worse than the serving version the canary's defaulted and failed shares may be. */
  readonly margin: number;
  /** How often the versions' counters are read (clock ms). */
  readonly pollMs: number;
}

/** What the live canary saw: each version's answers while the split ran. */
export interface LiveCanaryReport {
  readonly canary: VersionStats;
  readonly serving: VersionStats;
}

/** The live canary was refused (`CANARY_REFUSED`); `report` says what it and the serving version did. */
export class CanaryRefused extends HotLoadError {
  constructor(
    message: string,
    readonly report: LiveCanaryReport,
  ) {
    super('CANARY_REFUSED', message);
  }
}

const diff = (now: VersionStats, start: VersionStats): VersionStats => ({
  answered: now.answered - start.answered,
  defaulted: now.defaulted - start.defaulted,
  failed: now.failed - start.failed,
});

const total = (s: VersionStats) => s.answered + s.defaulted;
const share = (n: number, s: VersionStats) => (total(s) === 0 ? 0 : n / total(s));

/**
 * Why the canary does worse than the serving version, or undefined while it does not: its defaulted
 * (and its failed) share may exceed the serving version's by at most `margin`. Judged on counts, so a
 * canary is refused on its first failures (a few of its queries) rather than after the whole window.
 */
export function canaryVerdict(r: LiveCanaryReport, margin: number): string | undefined {
  const n = total(r.canary);
  for (const kind of ['failed', 'defaulted'] as const) {
    const allowed = (share(r.serving[kind], r.serving) + margin) * n;
    if (r.canary[kind] > allowed)
      return `${r.canary[kind]} of its ${n} live queries ${kind} (${(100 * share(r.canary[kind], r.canary)).toFixed(1)}%; serving version ${(100 * share(r.serving[kind], r.serving)).toFixed(1)}% + margin ${(100 * margin).toFixed(1)}%)`;
  }
  return undefined;
}

/**
 * A canary release (Clipper's model-selection layer would call it an A/B split): `rule.share` of the model's
 * live traffic goes to `version` through `Clipper.setCanary` while it and the serving version are counted.
 * Resolves when the canary has done no worse than the serving version for `durationMs` and `minQueries`;
 * rejects with `CanaryRefused` as soon as it does worse, or when too few queries arrive by `maxMs`. The
 * split always ends (all traffic back to the serving version) before this returns, either way.
 */
export async function runLiveCanary(
  clipper: Clipper,
  model: string,
  version: string,
  rule: LiveCanaryRule,
  /** Throws when the hot-loader was stopped meanwhile. */
  checkRunning: () => void,
): Promise<LiveCanaryReport> {
  const clock = clipper.clock;
  const statsOf = (v: string): VersionStats => {
    const info = clipper.getModel(model).versions.find((x) => x.version === v);
    return info ? { ...info.stats } : { answered: 0, defaulted: 0, failed: 0 };
  };
  const serving = clipper.getModel(model).servingVersion;
  if (serving === undefined) throw new Error('no serving version to compare a live canary with');
  const start = { canary: statsOf(version), serving: statsOf(serving) };
  const started = clock.now();
  clipper.setCanary(model, version, rule.share);
  try {
    for (;;) {
      await clock.sleep(rule.pollMs);
      if (clipper.getModel(model).canary?.version !== version)
        throw new Error('the canary split was ended from outside');
      const report = {
        canary: diff(statsOf(version), start.canary),
        serving: diff(statsOf(serving), start.serving),
      };
      const worse = canaryVerdict(report, rule.margin);
      if (worse) throw new CanaryRefused(`live canary refused: ${worse}`, report);
      const elapsed = clock.now() - started;
      if (elapsed >= rule.durationMs && total(report.canary) >= rule.minQueries) return report;
      if (elapsed >= rule.maxMs)
        throw new CanaryRefused(
          `live canary got ${total(report.canary)} queries in ${rule.maxMs} ms, fewer than canaryMinQueries (${rule.minQueries})`,
          report,
        );
      checkRunning();
    }
  } finally {
    if (clipper.getModel(model).canary?.version === version) clipper.clearCanary(model);
  }
}
