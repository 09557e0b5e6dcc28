/**
 * E6 (stragglers) and E7 (model selection) of reference/clipper.md §6.3.
 *
 * Stragglers: ensembles of k = 1..8 models whose per-query latency is heavy-tailed (lognormal body, rare
 * Pareto stalls), an Exp4 application with a 20 ms SLO under open-loop Poisson load. "deadline" is Clipper:
 * combine at the deadline from what arrived; "blocking" waits for every model. Run in virtual time
 * (deterministic), and for k = 8 once more in wall time, where timers and the event loop add their real
 * overhead: that run gives `stragglerP99Ms`.
 *
 * Selection: a synthetic task with K models of known accuracy and a best model per user (personalisation);
 * per-user state; regret and accuracy against feedback count for Exp3 (η sweep), Exp4, ε-greedy, UCB1 and
 * uniform random choice. `exp3RegretRatio` = Exp3's regret over uniform random's after 5 000 feedbacks.
 */

import { loadavg } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import {
  Clipper,
  EpsilonGreedyPolicy,
  Exp3Policy,
  Exp4Policy,
  FunctionPredictor,
  type SelectionPolicy,
  Ucb1Policy,
} from '@geoml/clipper';
import { type Clock, createRng, type Rng, systemClock, VirtualClock } from '@geoml/core';
import { Progress } from './lib/progress.js';
import { QUICK, shareSummary, writeResult, writeSvg } from './lib/results.js';
import { barChart, lineChart } from './lib/svg.js';

const NAME = 'clipper-selection';
const SLO_MS = 20;
const SEED = 2017;

// ------------------------------------------------------------------ stragglers (E6)

/** Per-query service time of one model: lognormal (median 3 ms, σ 0.5) plus, 0.5% of the time, a Pareto stall. */
function latencyMs(rng: Rng): number {
  const body = 3 * Math.exp(0.5 * rng.normal());
  const stall = rng.next() < 0.005 ? 30 / (1 - rng.next()) ** (1 / 1.5) : 0;
  return Math.min(body + stall, 1000);
}

/** Latency and correctness of every model on every query, drawn once so both modes see the same world. */
interface World {
  latency: number[][];
  correct: boolean[][];
  truth: number[];
  gaps: number[];
}

function world(k: number, queries: number, seed: number): World {
  const rng = createRng(seed);
  const latency = Array.from({ length: k }, () => Array.from({ length: queries }, () => latencyMs(rng)));
  const correct = Array.from({ length: k }, () => Array.from({ length: queries }, () => rng.next() < 0.8));
  const truth = Array.from({ length: queries }, () => rng.int(2));
  const gaps = Array.from({ length: queries }, () => -Math.log(1 - rng.next()) * 10); // 100 queries/s
  return { latency, correct, truth, gaps };
}

interface StragglerStats {
  k: number;
  mode: 'deadline' | 'blocking';
  clock: 'virtual' | 'wall';
  queries: number;
  p50Ms: number;
  p99Ms: number;
  meanMs: number;
  /** Share of the ensemble missing per query: mean and p99. */
  missingMean: number;
  missingP99: number;
  /** Queries with no model in time (default output). */
  defaults: number;
  /** Share of queries answered within SLO + 2 ms (the straggler goal's bound). */
  withinGoalShare: number;
  accuracy: number;
}

function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
}

async function runStragglers(
  k: number,
  mode: 'deadline' | 'blocking',
  w: World,
  clock: Clock,
): Promise<StragglerStats> {
  const clipper = new Clipper({ clock });
  const names = Array.from({ length: k }, (_, i) => `m${i}`);
  for (let i = 0; i < k; i++) {
    const replica = () =>
      FunctionPredictor.perItem<{ q: number }, number>(
        async ({ q }) => {
          await clock.sleep(w.latency[i]![q]!);
          return w.correct[i]![q]! ? w.truth[q]! : 1 - w.truth[q]!;
        },
        { clock },
      );
    await clipper.deployModel(names[i]!, 1, [replica(), replica()], {
      batching: { mode: 'static', batchSize: 1 },
      cache: false,
      maxQueueLength: 100_000,
    });
  }
  clipper.registerApplication({
    name: 'ens',
    inputType: 'json',
    latencySloMs: SLO_MS,
    defaultOutput: -1,
    linkedModels: names,
    selectionPolicy: 'exp4',
  });
  const queries = w.truth.length;
  const latencies: number[] = [];
  const missing: number[] = [];
  let defaults = 0;
  let right = 0;
  const one = async (q: number) => {
    const start = clock.now();
    if (mode === 'deadline') {
      const r = await clipper.predict<number>('ens', { q });
      latencies.push(clock.now() - start);
      missing.push((r.missing?.length ?? 0) / k);
      if (r.default) defaults++;
      // Exp4 without feedback: equal weights, an averaged 0/1 vote; a tie counts as half right.
      if (!r.default) right += r.output === 0.5 ? 0.5 : Math.round(r.output) === w.truth[q] ? 1 : 0;
    } else {
      const outs = await Promise.all(
        names.map((m) => clipper.predictModel<number>(m, { q }, { timeoutMs: 60_000 })),
      );
      latencies.push(clock.now() - start);
      missing.push(0);
      const mean = outs.reduce((a, o) => a + (o.output as number), 0) / k;
      right += mean === 0.5 ? 0.5 : Math.round(mean) === w.truth[q] ? 1 : 0;
    }
  };
  const pending: Promise<void>[] = [];
  for (let q = 0; q < queries; q++) {
    pending.push(one(q));
    await clock.sleep(w.gaps[q]!);
  }
  await Promise.all(pending);
  await clipper.close();
  const sorted = [...latencies].sort((a, b) => a - b);
  const miss = [...missing].sort((a, b) => a - b);
  return {
    k,
    mode,
    clock: clock instanceof VirtualClock ? 'virtual' : 'wall',
    queries,
    p50Ms: round(quantile(sorted, 0.5)),
    p99Ms: round(quantile(sorted, 0.99)),
    meanMs: round(sorted.reduce((a, b) => a + b, 0) / sorted.length),
    missingMean: round(miss.reduce((a, b) => a + b, 0) / miss.length, 4),
    missingP99: round(quantile(miss, 0.99), 4),
    defaults,
    withinGoalShare: round(sorted.filter((l) => l <= SLO_MS + 2).length / sorted.length, 4),
    accuracy: round(right / queries, 4),
  };
}

// ------------------------------------------------------------------ selection (E7)

const BASE_ACCURACY = [0.6, 0.65, 0.7, 0.72, 0.75];
const BEST_ACCURACY = 0.92;
const USERS = 10;

/** Accuracy of model m for user u: each user's own best model (u mod K) is far better than the rest. */
const accuracyOf = (u: number, m: number) =>
  m === u % BASE_ACCURACY.length ? BEST_ACCURACY : BASE_ACCURACY[m]!;

/** Uniform random choice, as a policy, for the baseline. */
const uniform: SelectionPolicy<null> = {
  name: 'uniform',
  init: () => null,
  select: (_s, ctx) => {
    const k = BASE_ACCURACY.length;
    const m = ctx.rng.int(k);
    return { models: [`m${m}`], probabilities: {} };
  },
  combine: (_s, outputs, sel) => ({ output: outputs.get(sel.models[0]!), confidence: 1, missing: [] }),
  observe: (s) => s,
};

interface SelectionRun {
  policy: string;
  /** At each checkpoint (feedback count): cumulative regret and accuracy over the last window. */
  checkpoints: { feedbacks: number; regret: number; accuracy: number }[];
  regret: number;
  accuracy: number;
}

/**
 * T feedbacks, one per query of a uniformly random user; per-user state. Regret per query is the user's
 * best accuracy minus the expected accuracy of what the policy chose (pseudo-regret; for the Exp4 ensemble,
 * minus the realised correctness of its combined answer, as an ensemble has no single expected accuracy).
 */
function runSelection(policy: SelectionPolicy, feedbacks: number, seed: number, every: number): SelectionRun {
  const rng = createRng(seed);
  const pick = createRng(seed + 1);
  const models = BASE_ACCURACY.map((_, i) => `m${i}`);
  const states = Array.from({ length: USERS }, () => policy.init(models));
  const checkpoints: SelectionRun['checkpoints'] = [];
  let regret = 0;
  let windowRight = 0;
  let windowN = 0;
  let totalRight = 0;
  for (let t = 1; t <= feedbacks; t++) {
    const u = rng.int(USERS);
    const y = rng.int(2);
    const outputs = new Map<string, unknown>();
    const correct: Record<string, boolean> = {};
    models.forEach((m, i) => {
      correct[m] = rng.next() < accuracyOf(u, i);
      outputs.set(m, correct[m] ? y : 1 - y);
    });
    const state = states[u]!;
    const sel = policy.select(state, { key: `u${u}`, rng: pick });
    const combined = policy.combine(state, outputs, sel);
    const out = combined.output as number;
    const right = out === 0.5 ? 0.5 : Math.round(out) === y ? 1 : 0;
    const expected = sel.models.length === 1 ? accuracyOf(u, models.indexOf(sel.models[0]!)) : right;
    regret += BEST_ACCURACY - expected;
    windowRight += right;
    totalRight += right;
    windowN++;
    const rewards: Record<string, number> = {};
    for (const m of sel.models) rewards[m] = correct[m] ? 1 : 0;
    states[u] = policy.observe(state, { rewards, probabilities: sel.probabilities });
    if (t % every === 0) {
      checkpoints.push({ feedbacks: t, regret: round(regret, 2), accuracy: round(windowRight / windowN, 4) });
      windowRight = 0;
      windowN = 0;
    }
  }
  return { policy: policy.name, checkpoints, regret, accuracy: totalRight / feedbacks };
}

function averageRuns(runs: SelectionRun[]): SelectionRun {
  const n = runs.length;
  return {
    policy: runs[0]!.policy,
    regret: round(runs.reduce((a, r) => a + r.regret, 0) / n, 2),
    accuracy: round(runs.reduce((a, r) => a + r.accuracy, 0) / n, 4),
    checkpoints: runs[0]!.checkpoints.map((c, i) => ({
      feedbacks: c.feedbacks,
      regret: round(runs.reduce((a, r) => a + r.checkpoints[i]!.regret, 0) / n, 2),
      accuracy: round(runs.reduce((a, r) => a + r.checkpoints[i]!.accuracy, 0) / n, 4),
    })),
  };
}

function round(v: number, digits = 2): number {
  return Number.isFinite(v) ? +v.toFixed(digits) : v;
}

// ------------------------------------------------------------------ main

async function main(): Promise<void> {
  const queries = QUICK ? 400 : 2000;
  const ks = [1, 2, 3, 4, 5, 6, 7, 8];
  const progress = new Progress('stragglers', ks.length * 2 + 2);
  const straggler: StragglerStats[] = [];
  for (const k of ks) {
    for (const mode of ['deadline', 'blocking'] as const) {
      const clock = new VirtualClock();
      const w = world(k, queries, SEED + k);
      straggler.push(await clock.run(() => runStragglers(k, mode, w, clock)));
      progress.tick(`k=${k} ${mode}`);
    }
  }
  // Wall time: the event loop's own delay is recorded beside it, since the box is shared.
  const lag = monitorEventLoopDelay({ resolution: 1 });
  lag.enable();
  const wall = await runStragglers(8, 'deadline', world(8, QUICK ? 300 : 1500, SEED + 8), systemClock);
  lag.disable();
  const wallLoopDelayP99Ms = round(lag.percentile(99) / 1e6);
  const wallBlocking = await runStragglers(
    8,
    'blocking',
    world(8, QUICK ? 300 : 1500, SEED + 8),
    systemClock,
  );
  progress.tick('k=8 blocking, wall time');
  progress.tick('k=8 deadline, wall time');
  progress.end();

  const feedbacks = 5000;
  const seeds = QUICK ? 2 : 8;
  const every = 250;
  const candidates: { label: string; make: () => SelectionPolicy }[] = [
    { label: 'uniform', make: () => uniform as unknown as SelectionPolicy },
    { label: 'exp3', make: () => new Exp3Policy() },
    ...[0.02, 0.05, 0.1, 0.5, 1].map((eta) => ({
      label: `exp3 η=${eta}`,
      make: () => new Exp3Policy({ eta }),
    })),
    { label: 'exp4', make: () => new Exp4Policy() },
    { label: 'epsilon-greedy', make: () => new EpsilonGreedyPolicy() },
    { label: 'ucb1', make: () => new Ucb1Policy() },
  ];
  const sp = new Progress('selection', candidates.length);
  const selection: Record<string, SelectionRun> = {};
  for (const c of candidates) {
    const runs = Array.from({ length: seeds }, (_, s) =>
      runSelection(c.make(), feedbacks, SEED + 100 * s, every),
    );
    selection[c.label] = { ...averageRuns(runs), policy: c.label };
    sp.tick(c.label);
  }
  sp.end();

  const at = (k: number, mode: string) => straggler.find((s) => s.k === k && s.mode === mode)!;
  const exp3RegretRatio = round(selection.exp3!.regret / selection.uniform!.regret, 3);
  const summary = {
    stragglerP99Ms: wall.p99Ms,
    stragglerP99GoalMs: 22,
    wallWithinGoalShare: wall.withinGoalShare,
    wallBlockingP99Ms: wallBlocking.p99Ms,
    wallEventLoopDelayP99Ms: wallLoopDelayP99Ms,
    wallLoadAverage1m: round(loadavg()[0]!),
    stragglerP99VirtualMs: at(8, 'deadline').p99Ms,
    blockingP99Ms: at(8, 'blocking').p99Ms,
    missingShareMeanK8: at(8, 'deadline').missingMean,
    exp3RegretRatio,
    exp3RegretRatioGoal: 0.3,
  };

  console.log(
    `\nE6 stragglers: ensembles of k models, SLO ${SLO_MS} ms, ${queries} Poisson queries at 100/s`,
  );
  console.log('k  deadline p99  mean  missing(mean/p99)  acc   | blocking p99  mean   acc');
  for (const k of ks) {
    const d = at(k, 'deadline');
    const b = at(k, 'blocking');
    console.log(
      `${k}  ${String(d.p99Ms).padStart(8)}  ${String(d.meanMs).padStart(6)}  ${d.missingMean.toFixed(3)}/${d.missingP99.toFixed(3)}  ${d.accuracy.toFixed(3)} | ${String(b.p99Ms).padStart(8)}  ${String(b.meanMs).padStart(6)}  ${b.accuracy.toFixed(3)}`,
    );
  }
  console.log(
    `wall time, k = 8 deadline: p99 ${wall.p99Ms} ms, mean ${wall.meanMs} ms, missing ${wall.missingMean}, event-loop delay p99 ${wallLoopDelayP99Ms} ms, load ${loadavg()[0]}`,
  );
  console.log(
    `\nE7 selection: ${USERS} users, ${BASE_ACCURACY.length} models, ${feedbacks} feedbacks, ${seeds} seeds`,
  );
  for (const [label, r] of Object.entries(selection)) {
    console.log(
      `${label.padEnd(16)} regret ${String(r.regret).padStart(8)}  accuracy ${r.accuracy.toFixed(3)}`,
    );
  }
  console.log(`\nsummary ${JSON.stringify(summary)}`);
  // Issue 6 reads these two figures from clipper.json's summary.
  if (!QUICK)
    shareSummary('clipper', NAME, {
      stragglerP99Ms: summary.stragglerP99Ms,
      exp3RegretRatio: summary.exp3RegretRatio,
    });

  writeResult(NAME, summary, {
    stragglers: {
      sloMs: SLO_MS,
      latencyModel: 'lognormal(median 3 ms, sigma 0.5) + 0.5% Pareto(30 ms, alpha 1.5) stalls, capped at 1 s',
      arrivals: 'Poisson, 100 queries/s; 2 replicas per model, no batching, no cache',
      modelAccuracy: 0.8,
      virtual: straggler,
      wallK8: wall,
      wallBlockingK8: wallBlocking,
    },
    selection: {
      users: USERS,
      baseAccuracy: BASE_ACCURACY,
      bestAccuracyPerUser: BEST_ACCURACY,
      feedbacks,
      seeds,
      runs: selection,
    },
  });
  writeSvg(
    NAME,
    'stragglers',
    barChart({
      title: `E6: p99 latency of a k-model ensemble, SLO ${SLO_MS} ms (virtual time)`,
      labels: ks.map((k) => `k=${k}`),
      series: [
        { name: 'deadline-combine (Clipper)', values: ks.map((k) => at(k, 'deadline').p99Ms) },
        { name: 'wait for all', values: ks.map((k) => at(k, 'blocking').p99Ms) },
        { name: 'missing, % of ensemble (mean)', values: ks.map((k) => at(k, 'deadline').missingMean * 100) },
      ],
      yLabel: 'ms (missing: %)',
      refs: [{ value: SLO_MS, label: 'SLO' }],
    }),
  );
  writeSvg(
    NAME,
    'regret',
    lineChart({
      title: `E7: cumulative regret vs feedbacks (${USERS} users, per-user best model)`,
      xLabel: 'feedbacks',
      yLabel: 'regret (expected wrong answers vs per-user best)',
      lines: ['uniform', 'exp3', 'exp4', 'epsilon-greedy', 'ucb1'].map((label) => ({
        name: label,
        points: selection[label]!.checkpoints.map((c) => [c.feedbacks, c.regret] as const),
      })),
    }),
  );
}

await main();
