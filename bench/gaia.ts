/**
 * Gaia's comparison (NSDI'17) on our engine, in virtual time: every workload × network profile × mode
 * trained to the centralized run's quality within 1 %, with compute charged from a cost model measured on
 * this machine. See bench/README.md, section gaia.
 *
 *   pnpm bench gaia --quick                 # MF on ss only, under a minute
 *   pnpm bench gaia                         # everything; one child process per workload, in parallel
 *   node --import tsx --conditions=@geoml/source bench/gaia.ts --workloads=mf,lda --budget-min=20
 *   ... bench/gaia.ts --calibration=bench/results/gaia.json   # reuse that run's cost models and sizes
 */
import { spawn } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { summarizeBudget } from './gaia/budget-summary.js';
import type { Calibration } from './gaia/calibration.js';
import { dsChart, qualityChart, speedupChart, tau0Chart } from './gaia/charts.js';
import { calibrateSpec, type PartResult, runPart } from './gaia/part.js';
import type { RunRecord } from './gaia/run-one.js';
import {
  BUDGET_FRACTION,
  GOALS,
  PAPER,
  TARGET_TOLERANCE,
  TAU0_HEADLINE,
  TRANSFER_CLOCKS,
  WHAT_IF_LATENCY_CLOCKS,
  workloadSpecs,
} from './gaia/spec.js';
import { summarize, table } from './gaia/summary.js';
import { QUICK, RESULTS_DIR, writeResult, writeSvg } from './lib/results.js';

const arg = (name: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
const partFile = (name: string) => join(RESULTS_DIR, `gaia-part-${name}.json`);

async function main(): Promise<void> {
  const specs = workloadSpecs(QUICK);
  const part = arg('part');
  if (part) {
    // A child: one workload, its result to a part file for the parent to merge.
    const spec = specs.find((s) => s.name === part);
    if (!spec) throw new Error(`unknown workload '${part}'`);
    const calibration = JSON.parse(process.env.GAIA_CALIBRATION ?? 'null') as Calibration | null;
    if (!calibration) throw new Error('a part needs GAIA_CALIBRATION from its parent');
    const result = await runPart(spec, calibration, QUICK, Number(arg('deadline')));
    writeFileSync(partFile(part), JSON.stringify(result));
    return;
  }
  const started = Date.now();
  // Runs in virtual time cost only compute: bound the wall time, leaving room for the last run to end.
  const budgetMin = Number(arg('budget-min') ?? (QUICK ? 0.7 : 24));
  const deadline = started + budgetMin * 60_000;
  const wanted = arg('workloads')?.split(',');
  const chosen = specs.filter((s) => !wanted || wanted.includes(s.name));
  // Calibrate every workload first, one at a time, so no run of ours competes with a measurement; or
  // reuse an earlier run's measurements (--calibration=<its gaia.json>), so that two runs of different
  // engines differ by the engine alone and not by what the shared box's load did to a measurement.
  const reuseFrom = arg('calibration');
  const reused = reuseFrom ? (JSON.parse(readFileSync(reuseFrom, 'utf8')) as EarlierRun) : undefined;
  const calibrations: Calibration[] = [];
  for (const spec of chosen) {
    const earlier = reused?.calibration[spec.name];
    if (reused && !earlier) throw new Error(`${reuseFrom} holds no calibration of '${spec.name}'`);
    const c = earlier ?? (await calibrateSpec(spec));
    calibrations.push(c);
    console.error(
      `gaia ${spec.name}: step ${c.costModel.stepMs.toFixed(2)} ms (batch ${c.costModel.batchSize}), ` +
        `LAN ${c.lanMbps.toPrecision(3)} Mbit/s, ss transfer ${c.transferOverCompute.toFixed(1)} clocks, ` +
        `ss latency ${c.latencyOverCompute.toFixed(2)} clocks (cost model in ${c.costModel.clock} time, ` +
        `load ${c.loadAverage1m}); what-if latency scale ${c.whatIfLatencyScale.toPrecision(3)}`,
    );
  }
  let parts: PartResult[];
  if (QUICK) {
    parts = [];
    for (const [i, spec] of chosen.entries()) {
      parts.push(await runPart(spec, calibrations[i] as Calibration, true, deadline));
    }
  } else {
    parts = await Promise.all(chosen.map((s, i) => child(s.name, calibrations[i] as Calibration, deadline)));
  }
  const runs = parts.flatMap((p) => p.runs);
  // The budget set is judged apart: `goalsMet` stays asp's alone.
  const summary: Record<string, unknown> = { ...summarize(parts), budget: summarizeBudget(parts) };
  writeResult('gaia', summary, {
    runs,
    variants: parts.flatMap((p) => p.variants),
    calibration: Object.fromEntries(parts.map((p) => [p.workload, p.calibration])),
    references: Object.fromEntries(parts.map((p) => [p.workload, p.reference])),
    dsSweep: Object.fromEntries(parts.map((p) => [p.workload, p.dsSweep])),
    tau0Sweep: Object.fromEntries(parts.map((p) => [p.workload, p.tau0Sweep])),
    whatIf: Object.fromEntries(parts.map((p) => [p.workload, p.whatIf])),
    budget: Object.fromEntries(parts.map((p) => [p.workload, p.budget])),
    skipped: parts.flatMap((p) => p.skipped.map((s) => ({ workload: p.workload, ...s }))),
    method: {
      time: 'virtual (discrete-event); compute charged from each workload’s measured cost model (process CPU time)',
      sizing: `lanMbps chosen per workload so one dense model transfer over ss takes ${TRANSFER_CLOCKS} clocks of compute`,
      target: `centralized (lan-bsp, all workers in one region) final quality within ${TARGET_TOLERANCE * 100} %`,
      workers: '2 per region; lan/vc/ss use 2 regions, ec2-11 uses 11',
      stop: 'each run stops at the target or at 1.5× the reference’s clocks; asp on ss (DS and τ0 sweeps) runs to the end',
      tau0: `headline τ0 = ${TAU0_HEADLINE} (the issue's default); tau0Sweep runs asp on ss with the others beside it`,
      whatIf:
        `NOT a profile: ss bandwidth with every WAN one-way latency scaled (wanLatencyScale) to ${WHAT_IF_LATENCY_CLOCKS.toFixed(3)} ` +
        'clock of compute, the premise the real ss misses; all modes; judged apart (summary.whatIf)',
      bytesRatios: 'WAN bytes sent until the target was first measured (wanBytesToTarget)',
      budget:
        `beyond the paper, judged apart (summary.budget): asp and asp-int8 with budgetMbps = ${BUDGET_FRACTION} × ` +
        "the profile's slowest WAN link (the engine's threshold controller, ratio rule) on vc, ss, ec2-11 and " +
        "the what-if set, at asp's DS there; asp+budget on ss runs to the end like asp's DS-sweep run",
      calibrationSource: reused
        ? `reused from the run of ${reused.date} (--calibration=${reuseFrom}): measured then on this machine`
        : 'measured at the start of this run',
      wallSeconds: (Date.now() - started) / 1000,
      budgetMinutes: budgetMin,
    },
    // The run whose measurements were reused: its summary and ASP runs, to compare side by side.
    ...(reused ? { comparedWith: earlierRun(reused) } : {}),
    goals: GOALS,
    paper: PAPER,
  });
  for (const p of parts) {
    const q = qualityChart(
      p.workload,
      [...p.runs, ...p.budget.runs].filter((r) => r.profile === 'ss'),
      'ss',
    );
    if (q) writeSvg('gaia', `quality-${p.workload}-ss`, q);
    const w = qualityChart(
      p.workload,
      [...p.whatIf.runs, ...p.budget.whatIf],
      'ss what-if (latency 1/3 clock)',
    );
    if (w) writeSvg('gaia', `quality-${p.workload}-ss-what-if`, w);
    writeSvg('gaia', `speedup-${p.workload}`, speedupChart(p));
  }
  writeSvg('gaia', 'ds-sweep', dsChart(parts));
  writeSvg('gaia', 'tau0-sweep', tau0Chart(parts));
  console.log(table(parts));
  console.log(`\nsummary (goals: ${JSON.stringify(GOALS.aspSpeedupOverBsp)} speed-up over bsp, ...):`);
  for (const [k, v] of Object.entries(summary)) {
    if (k === 'whatIf' || k === 'budget') continue;
    console.log(`  ${k}: ${JSON.stringify(v)}`);
  }
  console.log('\nwhat-if, NOT the ss profile (ss bandwidth, WAN latency scaled to 1/3 of a clock):');
  for (const [k, v] of Object.entries(summary.whatIf as object)) console.log(`  ${k}: ${JSON.stringify(v)}`);
  console.log('\nbandwidth budget (beyond the paper; judged apart from asp):');
  for (const [k, v] of Object.entries(summary.budget as object)) console.log(`  ${k}: ${JSON.stringify(v)}`);
}

/** What a run reusing another's calibration reads of it. */
interface EarlierRun {
  date: string;
  summary: unknown;
  calibration: Record<string, Calibration>;
  runs: RunRecord[];
  dsSweep: unknown;
}

/** The earlier run in brief: its summary, DS sweep, and the headline figures of its ASP runs. */
function earlierRun(e: EarlierRun) {
  return {
    date: e.date,
    summary: e.summary,
    dsSweep: e.dsSweep,
    aspRuns: e.runs
      .filter((r) => r.mode === 'asp' || r.mode === 'asp-int8')
      .map((r) => ({
        workload: r.workload,
        profile: r.profile,
        mode: r.mode,
        ds: r.ds,
        reachedTarget: r.reachedTarget,
        timeToTargetS: r.timeToTargetS,
        clocksToTarget: r.clocksToTarget,
        wanBytesToTarget: r.wanBytesToTarget,
        wanMessages: r.wanMessages,
        finalQuality: r.finalQuality,
        blockedMs: r.blockedMs,
      })),
  };
}

/** Runs one workload in its own process (the 2 cores work in parallel) and reads back its part. */
function child(name: string, calibration: Calibration, deadline: number): Promise<PartResult> {
  const self = fileURLToPath(import.meta.url);
  return new Promise((resolve, reject) => {
    const proc = spawn(
      process.execPath,
      ['--import', 'tsx', '--conditions=@geoml/source', self, `--part=${name}`, `--deadline=${deadline}`],
      {
        stdio: ['ignore', 'inherit', 'inherit'],
        env: { ...process.env, GAIA_CALIBRATION: JSON.stringify(calibration) },
      },
    );
    proc.on('error', reject);
    proc.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`gaia part ${name} exited with ${code}`));
      try {
        const result = JSON.parse(readFileSync(partFile(name), 'utf8')) as PartResult;
        rmSync(partFile(name));
        resolve(result);
      } catch (e) {
        reject(e);
      }
    });
  });
}

await main();
