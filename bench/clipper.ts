/**
 * Serving benchmark (issue 5 item 8; protocol E0–E5 of reference/clipper.md §6.3) on ONNX models generated
 * in code: E0 raw onnxruntime batch profile, E1 in-process overhead, E2 concurrency sweep over batching
 * modes at a 20 ms SLO, E3 open-loop Poisson and bursty load, E4 batch-wait sweep, E5 cache under Zipf
 * load; and, in the same run, geoml's HTTP frontend against a naive node:http server calling `session.run`
 * per request on its main thread. Every run is bounded in requests and time; `--quick` is a smoke run.
 * Writes `bench/results/clipper.json` and SVG plots; helpers live in `bench/clipper/`.
 */
import type { OnnxModelName } from '../test/fixtures/onnx-models.js';
import {
  batchWaitSweep,
  concurrencySweep,
  type E2Result,
  type LoadPoint,
  openLoopSweep,
  type WaitPoint,
} from './clipper/batching.js';
import { cacheExperiment } from './clipper/cache.js';
import { SLO_MS, STATIC_MODES } from './clipper/deploy.js';
import { batchProfile, type E0Result, overhead } from './clipper/profile.js';
import { type HttpResult, httpComparison, oipLimits } from './clipper/serving-http.js';
import { Progress } from './lib/progress.js';
import { QUICK, writeResult, writeSvg } from './lib/results.js';
import { lineChart } from './lib/svg.js';

const P = QUICK
  ? {
      e0: { maxBatch: 64, iterations: 20, maxMs: 200 },
      e1: { blocks: 11, callsPerBlock: 200 },
      e2: { concurrency: [1, 16], reps: 1, warmupMs: 150, durationMs: 500 },
      e3: { loads: [0.5, 1], burstyLoads: [0.5], warmupMs: 150, durationMs: 600 },
      e4: { waitsMs: [0, 2, 4], warmupMs: 150, durationMs: 600 },
      e5: { distinct: 1000, s: 1.1, concurrency: 16, reps: 1, warmupMs: 150, durationMs: 500, hitCalls: 300 },
      http: { concurrency: [1, 16], limitConcurrency: 64, reps: 1, warmupMs: 200, durationMs: 600 },
    }
  : {
      e0: { maxBatch: 256, iterations: 200, maxMs: 1500 },
      e1: { blocks: 21, callsPerBlock: 200 },
      e2: { concurrency: [1, 4, 16, 64], reps: 2, warmupMs: 300, durationMs: 1500 },
      e3: { loads: [0.2, 0.4, 0.6, 0.8, 1, 1.2], burstyLoads: [0.4, 0.8], warmupMs: 300, durationMs: 1200 },
      e4: { waitsMs: [0, 0.5, 1, 1.5, 2, 2.5, 3, 3.5, 4], warmupMs: 300, durationMs: 1500 },
      e5: {
        distinct: 1000,
        s: 1.1,
        concurrency: 16,
        reps: 3,
        warmupMs: 300,
        durationMs: 1500,
        hitCalls: 2000,
      },
      http: { concurrency: [1, 4, 16, 64], limitConcurrency: 128, reps: 2, warmupMs: 300, durationMs: 1500 },
    };

const E0_MODELS: OnnxModelName[] = ['noop', 'mlp-s', 'mlp-l', 'cnn-s'];
const E2_MODELS: OnnxModelName[] = ['mlp-s', 'mlp-l'];
const E3_MODES = ['aimd', 'quantile', 'delayed-2ms', 'static-1', 'static-32'];
const HEADLINE: OnnxModelName = 'mlp-l';

const progress = new Progress(
  'clipper',
  4 +
    1 +
    P.e2.concurrency.length * 2 +
    (P.e3.loads.length + P.e3.burstyLoads.length) * 2 +
    2 +
    2 +
    (P.http.concurrency.length + 1) * 2,
);
const tick = (note: string) => progress.tick(note);

const ratio = (a: number | undefined, b: number | undefined): number | null =>
  a !== undefined && b !== undefined && b > 0 ? +(a / b).toFixed(3) : null;

/**
 * Adaptive (AIMD) throughput against another mode, both at ≥ 99% SLO attainment; when a side never reached
 * 99% in this run, the comparison falls back to the best goodput (answers within the SLO per second),
 * and says so.
 */
function versus(e2: E2Result, mode: string, others: string[]) {
  const adaptive = e2.bestAtSlo[mode]?.throughput;
  const best = Math.max(...others.map((m) => e2.bestAtSlo[m]?.throughput ?? 0));
  if (adaptive !== undefined && best > 0)
    return { value: ratio(adaptive, best), basis: 'throughput at >= 99% SLO attainment' };
  const goodput = (m: string) => Math.max(...e2.points.filter((p) => p.mode === m).map((p) => p.goodput));
  return {
    value: ratio(goodput(mode), Math.max(...others.map(goodput))),
    basis: 'best goodput (a side never reached 99% SLO attainment in this run)',
  };
}

const e0: E0Result[] = [];
for (const m of E0_MODELS) e0.push(await batchProfile(m, P.e0, tick));
const e1 = await overhead(P.e1);
tick(`E1 overhead p50 ${e1.overheadP50Us.toFixed(0)} µs`);
const e2: E2Result[] = [];
for (const m of E2_MODELS) e2.push(await concurrencySweep(m, P.e2, tick));
const capacityOf = (r: E2Result) => Math.max(...Object.values(r.maxThroughput));
const e3: Record<string, { capacityQps: number; points: LoadPoint[] }> = {};
for (const r of e2) {
  e3[r.model] = {
    capacityQps: capacityOf(r),
    points: await openLoopSweep(r.model, E3_MODES, capacityOf(r), P.e3, tick),
  };
}
const e4: WaitPoint[] = [];
for (const r of e2) e4.push(...(await batchWaitSweep(r.model, 0.5 * capacityOf(r), P.e4, tick)));
const e5 = await cacheExperiment('mlp-s', P.e5, tick);
const http: Record<string, HttpResult> = {};
for (const m of E2_MODELS) http[m] = await httpComparison(m, P.http, tick);
progress.end();

/** The figures with goals, for one model (the summary's are mlp-l's; mlp-s's are given beside them). */
function figures(model: OnnxModelName) {
  const r = e2.find((x) => x.model === model)!;
  const vsStatic = versus(r, 'aimd', STATIC_MODES);
  const vsNone = versus(r, 'aimd', ['static-1']);
  const h = http[model]!;
  const raw = e0.find((x) => x.model === model)!.best;
  return {
    adaptiveVsBestStatic: vsStatic.value,
    adaptiveVsNoBatching: vsNone.value,
    goodputVsNaive: ratio(h.goodput.geoml, h.goodput.naive),
    // Binary OIP, one query per request (strict); batched requests and the JSON REST limit beside it.
    servedVsRawLimit: ratio(oipLimits(h).single, raw.itemsPerSecond),
    servedVsRawLimitBatched: ratio(oipLimits(h).batched, raw.itemsPerSecond),
    servedVsRawLimitJson: ratio(h.servedLimit.throughput, raw.itemsPerSecond),
    bases: { adaptiveVsBestStatic: vsStatic.basis, adaptiveVsNoBatching: vsNone.basis },
    rawLimit: { batch: raw.batch, itemsPerSecond: raw.itemsPerSecond },
    /**
     * At concurrency 1 every mode but delayed runs the same batches of 1: the spread of their throughputs
     * (max / min) is this run's noise floor for comparing modes.
     */
    noiseSpreadAtC1: ratio(
      Math.max(
        ...r.points.filter((p) => p.concurrency === 1 && p.mode !== 'delayed-2ms').map((p) => p.throughput),
      ),
      Math.min(
        ...r.points.filter((p) => p.concurrency === 1 && p.mode !== 'delayed-2ms').map((p) => p.throughput),
      ),
    ),
  };
}
const byModel = Object.fromEntries(E2_MODELS.map((m) => [m, figures(m)]));
const head = byModel[HEADLINE]!;
const small = byModel['mlp-s']!;
const summary = {
  adaptiveVsBestStatic: head.adaptiveVsBestStatic,
  adaptiveVsNoBatching: head.adaptiveVsNoBatching,
  goodputVsNaive: head.goodputVsNaive,
  servedVsRawLimit: head.servedVsRawLimit,
  servedVsRawLimitBatched: head.servedVsRawLimitBatched,
  servedVsRawLimitJson: head.servedVsRawLimitJson,
  overheadP50Us: +e1.overheadP50Us.toFixed(1),
  cacheHitP99Us: e5.cacheHitP99Us,
  coalescedExecutions: e5.coalescedExecutions,
  adaptiveVsBestStaticMlpS: small.adaptiveVsBestStatic,
  adaptiveVsNoBatchingMlpS: small.adaptiveVsNoBatching,
  goodputVsNaiveMlpS: small.goodputVsNaive,
  servedVsRawLimitMlpS: small.servedVsRawLimit,
};

const round = (x: number) => +x.toPrecision(4);
console.log(`\nclipper serving benchmark${QUICK ? ' (quick)' : ''}, SLO ${SLO_MS} ms`);
for (const r of e0) {
  console.log(
    `E0 ${r.model.padEnd(6)} best ${round(r.best.itemsPerSecond)} items/s at batch ${r.best.batch}`,
  );
}
console.log(`E1 noop p50 clipper ${round(e1.clipperP50Us)} µs vs raw ${round(e1.rawP50Us)} µs`);
for (const r of e2) {
  for (const [mode, best] of Object.entries(r.bestAtSlo)) {
    console.log(
      `E2 ${r.model.padEnd(6)} ${mode.padEnd(12)} max ${round(r.maxThroughput[mode]!)} q/s; at >=99% SLO: ` +
        (best ? `${round(best.throughput)} q/s (c=${best.concurrency})` : 'never'),
    );
  }
}
for (const [m, h] of Object.entries(http)) {
  console.log(
    `HTTP ${m}: goodput geoml ${round(h.goodput.geoml)} vs naive ${round(h.goodput.naive)} q/s; ` +
      `geoml limit ${round(h.servedLimit.throughput)} q/s JSON, binary ${round(oipLimits(h).single)} single / ` +
      `${round(oipLimits(h).batched)} batched items/s vs raw ${round(byModel[m]!.rawLimit.itemsPerSecond)} items/s`,
  );
}
console.log(
  `E5 hit rate ${round(e5.hitRate)}, hit p99 ${e5.cacheHitP99Us} µs, coalesced ${e5.coalescedExecutions}`,
);
console.log(JSON.stringify(summary, null, 2));

writeResult('clipper', summary, {
  sloMs: SLO_MS,
  headlineModel: HEADLINE,
  byModel,
  setup:
    'one OnnxPredictor replica (1 worker thread, intraOp 1) per configuration; load generator in the bench process ' +
    '(in-process experiments) or HTTP servers in child processes; unpinned; Node ' +
    process.version,
  e0,
  e1,
  e2,
  e3,
  e4,
  e5,
  http,
  parameters: P,
});

for (const r of e2) {
  const modes = [...new Set(r.points.map((p) => p.mode))];
  writeSvg(
    'clipper',
    `throughput-p99-${r.model}`,
    lineChart({
      title: `${r.model}: throughput vs p99 per batching mode (concurrency ${P.e2.concurrency.join(', ')})`,
      xLabel: 'throughput (model answers / s)',
      yLabel: 'p99 latency (ms, log)',
      log: true,
      lines: modes.map((mode) => ({
        name: mode,
        points: r.points
          .filter((p) => p.mode === mode)
          .map((p) => [p.throughput, Math.max(p.p99Ms, 0.01)] as const),
      })),
    }),
  );
}
for (const [model, { capacityQps, points }] of Object.entries(e3)) {
  for (const kind of ['poisson', 'bursty'] as const) {
    writeSvg(
      'clipper',
      `slo-attainment-${kind}-${model}`,
      lineChart({
        title: `${model}: SLO attainment (${SLO_MS} ms) vs offered load, ${kind} arrivals`,
        xLabel: `offered load (fraction of ${round(capacityQps)} q/s, the best closed-loop throughput)`,
        yLabel: 'queries answered by the model within the SLO (%)',
        lines: E3_MODES.map((mode) => ({
          name: mode,
          points: points
            .filter((p) => p.mode === mode && p.arrivals === kind)
            .map((p) => [p.load, 100 * p.sloAttainment] as const),
        })),
      }),
    );
  }
}
writeSvg(
  'clipper',
  'batch-profile',
  lineChart({
    title: 'E0: raw onnxruntime throughput vs batch size (1 thread)',
    xLabel: 'batch size',
    yLabel: 'items / s (log)',
    log: true,
    lines: e0.map((r) => ({
      name: r.model,
      points: r.profile.map((p) => [p.batch, p.itemsPerSecond] as const),
    })),
  }),
);
writeSvg(
  'clipper',
  'batch-wait',
  lineChart({
    title: 'E4: delayed batching (max 32) at 50% load: p99 vs batch wait',
    xLabel: 'batch wait timeout (ms)',
    yLabel: 'p99 latency (ms)',
    lines: E2_MODELS.map((m) => ({
      name: m,
      points: e4.filter((p) => p.model === m).map((p) => [p.maxDelayMs, p.p99Ms] as const),
    })),
  }),
);
// Replica workers and keep-alive sockets are closed above; exit anyway so a straggler cannot hold the run.
process.exit(0);
