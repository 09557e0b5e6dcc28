/**
 * The HTTP throughput limit alone (the binary OIP runs behind `servedVsRawLimit*`), with the same code as
 * `bench/clipper.ts`, optionally interleaved A/B against another checkout's server: on a shared box only
 * ratios within one run mean much. Run from the repository root:
 *
 *   npx tsx --conditions=@geoml/source bench/clipper/http-limit-ab.ts [--base <checkout>] [--rows 1,20,84]
 *     [--reps 3] [--duration-ms 1500] [--cpu-prof <dir>] [--base-node-args "<node flags>"]
 *
 * `--base` is a checkout with its packages resolvable (e.g. `git archive` of the old commit with
 * node_modules linked); each repetition runs every rows-per-request on both servers, order alternating.
 * `--base-node-args` runs the base server (this checkout's, without `--base`) with extra node flags, for
 * an A/B of a flag. E0's raw onnxruntime limit (mlp-l, batch 256) is measured before and after.
 * `--cpu-prof` writes V8 CPU profiles of the servers there (on exit). Prints one line per run, with the
 * load average beside it.
 */
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { buildOnnxModel, sampleInput } from '../../test/fixtures/onnx-models.js';
import { oipRequest, type ServerProcess, spawnServer } from './http-load.js';
import { RawOrtWorker } from './raw-ort.js';
import { type OipPoint, oipRun } from './serving-http.js';

const { values } = parseArgs({
  options: {
    base: { type: 'string' },
    'base-node-args': { type: 'string' },
    rows: { type: 'string', default: '1,20,84' },
    reps: { type: 'string', default: '3' },
    'duration-ms': { type: 'string', default: '1500' },
    'cpu-prof': { type: 'string' },
  },
});
const rowsList = values.rows.split(',').map(Number);
const reps = Number(values.reps);
const durationMs = Number(values['duration-ms']);
const MODEL = 'mlp-l';
const model = buildOnnxModel(MODEL);
const load = () => loadavg()[0]!.toFixed(2);

async function rawLimit(): Promise<number> {
  const raw = await RawOrtWorker.create(model.bytes, model.inputShape);
  try {
    return (await raw.profile(256, 60, 3000)).itemsPerSecond;
  } finally {
    await raw.terminate();
  }
}

const nodeArgs = values['cpu-prof'] ? ['--cpu-prof', `--cpu-prof-dir=${values['cpu-prof']}`] : [];
const servers: Record<string, ServerProcess> = {
  new: await spawnServer('geoml', MODEL, { nodeArgs }),
};
if (values.base || values['base-node-args']) {
  const baseArgs = values['base-node-args']?.split(' ').filter((a) => a.length > 0) ?? [];
  servers.base = await spawnServer('geoml', MODEL, {
    ...(values.base ? { root: values.base } : {}),
    nodeArgs: [...nodeArgs, ...baseArgs],
  });
}
const names = Object.keys(servers);
const raw0 = await rawLimit();
console.log(`raw ${MODEL} batch 256: ${raw0.toFixed(0)} items/s (load ${load()})`);
const results: Record<string, Record<number, OipPoint[]>> = {};
const input = { name: model.inputName, shape: model.inputShape };
try {
  for (let rep = 0; rep < reps; rep++) {
    for (const rows of rowsList) {
      const data = Array.from({ length: rows }, (_, i) => sampleInput(model, 100 + i));
      const { request, bodyBytes } = oipRequest('bulk', input, data, 'binary');
      const order = rep % 2 === 0 ? names : [...names].reverse();
      for (const name of order) {
        const p = await oipRun(
          servers[name]!,
          request,
          { encoding: 'binary', rows, bodyBytes },
          {
            warmupMs: 1000,
            durationMs,
          },
        );
        results[name] ??= {};
        results[name][rows] ??= [];
        results[name][rows].push(p);
        console.log(
          `rep ${rep} rows ${String(rows).padStart(3)} ${name.padEnd(4)} ${p.itemsPerSecond.toFixed(0).padStart(6)} items/s ` +
            `main ${p.mainCpuUsPerItem} µs/row cores main ${p.cores.serverMain} worker ${p.cores.serverWorker} ` +
            `other ${p.cores.serverOther} ` +
            `client ${p.cores.client} busy ${p.replicaBusy} batch ${p.meanBatch} p50 ${p.p50Ms.toFixed(1)} ms (load ${load()})`,
        );
      }
    }
  }
} finally {
  await Promise.all(Object.values(servers).map((s) => s.stop()));
}
const raw1 = await rawLimit();
const raw = (raw0 + raw1) / 2;
console.log(`raw ${MODEL} batch 256 after: ${raw1.toFixed(0)} items/s (load ${load()})`);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[(xs.length - 1) >> 1]!;
for (const rows of rowsList) {
  const line = names.map((name) => {
    const ps = results[name]![rows]!;
    const items = median(ps.map((p) => p.itemsPerSecond));
    const cpu = median(ps.map((p) => p.mainCpuUsPerItem));
    return `${name} ${items.toFixed(0)} items/s (ratio ${(items / raw).toFixed(2)}, main ${cpu} µs/row)`;
  });
  console.log(`rows ${rows}: ${line.join(' | ')}`);
}
