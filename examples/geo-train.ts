/**
 * Trains matrix factorization across three emulated regions (Virginia, Frankfurt, Singapore) in virtual
 * time, once with Gaia's ASP and once with a region-oblivious BSP parameter server, and prints what the
 * WAN cost each. Progress goes to stderr; the summary to stdout.
 *
 *   npx tsx --conditions=@geoml/source examples/geo-train.ts [--quick]
 */
import { calibrate, createMatrixFactorization, type Mode, type TrainResult, train } from '@geoml/gaia';
import { progressBar } from './demo/progress.js';

const quick = process.argv.includes('--quick');
const mf = { users: 1500, items: 750, rank: 8, density: 0.05, batchSize: 1024, learningRate: 0.3, seed: 3 };
const clocks = quick ? 100 : 300;
const modes: Mode[] = ['lan-bsp', 'bsp', 'asp', 'asp-int8'];

process.stderr.write('calibrating the compute cost of one step on this machine...\n');
const costModel = await calibrate(createMatrixFactorization(mf));
process.stderr.write(
  `one step of ${costModel.batchSize} ratings: ${costModel.stepMs.toFixed(3)} ms (${costModel.measuredOn})\n`,
);

const results = new Map<Mode, TrainResult>();
for (const mode of modes) {
  const started = performance.now();
  const bar = progressBar(mode, clocks);
  const result = await train(
    {
      workload: createMatrixFactorization(mf),
      mode,
      topology: 'ec2-11',
      profileOptions: { regions: ['virginia', 'frankfurt', 'singapore'] },
      workersPerRegion: 2,
      costModel,
      ds: 1,
      stop: { maxClocks: clocks },
      evalEvery: 10,
    },
    {
      onProgress: (e) =>
        bar.update(
          e.clock,
          `${e.quality.metric} ${e.quality.value.toFixed(4)}  virtual ${e.timeS.toFixed(1)} s  WAN ${(e.wanBytes / 1e6).toFixed(2)} MB`,
        ),
    },
  );
  bar.stop();
  process.stderr.write(
    `${mode}: done in ${((performance.now() - started) / 1000).toFixed(1)} s of real time\n`,
  );
  results.set(mode, result);
}

const bsp = results.get('bsp') as TrainResult;
const rows = [...results].map(([mode, r]) => [
  mode,
  r.finalQuality.value.toFixed(4),
  r.elapsedS.toFixed(1),
  (r.wanBytes / 1e6).toFixed(2),
  String(r.wanMessages),
  (bsp.elapsedS / r.elapsedS).toFixed(1),
  r.wanBytes === 0 ? '-' : `${((100 * r.wanBytes) / bsp.wanBytes).toFixed(1)} %`,
]);
const head = ['mode', 'rmse', 'virtual s', 'WAN MB', 'WAN msgs', 'speed-up vs bsp', 'WAN bytes vs bsp'];
const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
const line = (cells: string[]) => cells.map((c, i) => c.padStart(widths[i] as number)).join('  ');
const asp = results.get('asp') as TrainResult;
console.log(
  `\nMatrix factorization (${asp.params} parameters), 3 regions x 2 workers, ${clocks} clocks, DS = ${asp.ds}, tau0 = ${asp.tau0}`,
);
console.log(line(head));
for (const r of rows) console.log(line(r));
console.log(
  `ASP shipped ${(100 * asp.fractionShipped).toFixed(1)} % of its accumulated update entries; ` +
    `${(100 * asp.fractionBelowOnePercent).toFixed(1)} % of all updates changed a parameter by less than 1 %.`,
);
console.log(
  `Reads under ASP waited ${(asp.blocked.mirrorMs / 1000).toFixed(1)} s on the mirror clock and ` +
    `${(asp.blocked.barrierMs / 1000).toFixed(1)} s on selective barriers (summed over reads, virtual time).`,
);
