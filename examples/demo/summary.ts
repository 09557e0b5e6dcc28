import type { TrainResult } from '@geoml/gaia';
import type { LoadReport } from './load.js';

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;
const pct = (x: number) => `${(100 * x).toFixed(1)} %`;

/** The ten-second summary of the demo, on stdout. */
export function printSummary(s: {
  asp: TrainResult;
  bsp: TrainResult;
  round2: TrainResult;
  trainWallS: number;
  served: LoadReport;
  swaps: readonly string[];
  versions: readonly number[];
  url: string;
  keepServing: boolean;
}): void {
  const { asp, bsp, round2, served } = s;
  const answered = served.requests - served.failed - served.defaults;
  const lines = [
    '',
    '== geoml demo: train across regions (Gaia), serve with hot-loading (Clipper) ==',
    `training: MNIST MLP, ${asp.regions.length} regions (${asp.regions.join(', ')}) x ${asp.workersPerRegion} workers, ${asp.clocks.max} clocks, emulated WAN, virtual time, ASP tau0 = ${asp.tau0}, DS = ${asp.ds}`,
    `  ASP  accuracy ${asp.finalQuality.value.toFixed(3)}  time ${asp.elapsedS.toFixed(1)} s  WAN ${mb(asp.wanBytes)}`,
    `  BSP  accuracy ${bsp.finalQuality.value.toFixed(3)}  time ${bsp.elapsedS.toFixed(1)} s  WAN ${mb(bsp.wanBytes)}`,
    `  ASP was ${(bsp.elapsedS / asp.elapsedS).toFixed(1)}x faster than BSP and sent ${pct(asp.wanBytes / Math.max(1, bsp.wanBytes))} of its WAN bytes (${s.trainWallS.toFixed(0)} s of real time for both)`,
    `serving: v${s.versions[0]} hot-loaded from the registry, v${s.versions[1]} (second round, accuracy ${round2.finalQuality.value.toFixed(3)}) published and swapped in under load; swaps seen: ${s.swaps.join(' -> ')}`,
    `  ${served.requests} HTTP queries in ${served.seconds.toFixed(1)} s = ${(served.requests / served.seconds).toFixed(0)}/s, p50 ${served.p50Ms.toFixed(1)} ms, p99 ${served.p99Ms.toFixed(1)} ms`,
    `  failed requests: ${served.failed}; default answers (SLO missed): ${served.defaults}; served accuracy ${pct(served.correct / Math.max(1, answered))}${served.firstError ? ` (first failure: ${served.firstError})` : ''}`,
    `  queries per serving version: ${Object.entries(served.byVersion)
      .map(([v, n]) => `${v} ${n}`)
      .join(', ')}`,
    s.keepServing
      ? `the server stays up at ${s.url} (Ctrl-C stops it). Try:\n  curl -s ${s.url}/v2/models/mnist | head -c 300; echo\n  curl -s ${s.url}/metrics | grep geoml_predictions_total`
      : 'run with --keep-serving to keep the server up and query it yourself.',
  ];
  console.log(lines.join('\n'));
}
