/**
 * E0 (batch-size profile of raw onnxruntime, per model) and E1 (serving overhead of `noop` through
 * Clipper in process, against the same call made on a raw onnxruntime worker).
 */
import { Clipper } from '@geoml/clipper';
import { buildOnnxModel, type OnnxModelName, sampleInput } from '../../test/fixtures/onnx-models.js';
import { median } from '../lib/timing.js';
import { deployApp, queryOf } from './deploy.js';
import { type BatchProfile, RawOrtWorker } from './raw-ort.js';

export interface E0Result {
  model: OnnxModelName;
  profile: BatchProfile[];
  best: BatchProfile;
}

/** Session latency per batch size (1, 2, 4, … up to `maxBatch`), each bounded by `iterations` and `maxMs`. */
export async function batchProfile(
  name: OnnxModelName,
  opts: { maxBatch: number; iterations: number; maxMs: number },
  tick: (note: string) => void,
): Promise<E0Result> {
  const model = buildOnnxModel(name);
  const worker = await RawOrtWorker.create(model.bytes, model.inputShape);
  const profile: BatchProfile[] = [];
  try {
    for (let b = 1; b <= opts.maxBatch; b *= 2)
      profile.push(await worker.profile(b, opts.iterations, opts.maxMs));
  } finally {
    await worker.terminate();
  }
  const best = profile.reduce((a, p) => (p.itemsPerSecond > a.itemsPerSecond ? p : a));
  tick(`E0 ${name}: best ${best.itemsPerSecond.toFixed(0)} items/s at batch ${best.batch}`);
  return { model: name, profile, best };
}

export interface E1Result {
  /** Median over interleaved blocks of (Clipper p50 − raw p50), µs. */
  overheadP50Us: number;
  overheadP99Us: number;
  clipperP50Us: number;
  clipperP99Us: number;
  rawP50Us: number;
  rawP99Us: number;
  blocks: number;
  callsPerBlock: number;
}

const pct = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;

async function block(call: () => Promise<unknown>, n: number): Promise<{ p50: number; p99: number }> {
  const lat: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await call();
    lat.push((performance.now() - t0) * 1000);
  }
  lat.sort((a, b) => a - b);
  return { p50: pct(lat, 0.5), p99: pct(lat, 0.99) };
}

/**
 * `noop` at concurrency 1: `clipper.predict` (application, queue, batch controller, OnnxPredictor worker)
 * against a raw worker doing `session.run` on the same input, in alternating blocks.
 */
export async function overhead(opts: { blocks: number; callsPerBlock: number }): Promise<E1Result> {
  const model = buildOnnxModel('noop');
  const clipper = new Clipper();
  const raw = await RawOrtWorker.create(model.bytes, model.inputShape);
  try {
    await deployApp(clipper, 'noop', model, { mode: 'aimd' }, { sloMs: 1000 });
    const data = sampleInput(model, 1);
    const viaClipper = async () => {
      const r = await clipper.predict('noop', queryOf(model, data));
      if (r.default) throw new Error(`noop answered the default: ${r.defaultExplanation}`);
    };
    const viaRaw = () => raw.run(data);
    // Warm both sides until the JIT has optimised them (Clipper's path is longer code than the raw call).
    await block(viaClipper, 2000);
    await block(viaRaw, 2000);
    const c: { p50: number; p99: number }[] = [];
    const r: { p50: number; p99: number }[] = [];
    for (let i = 0; i < opts.blocks; i++) {
      if (i % 2 === 0) {
        c.push(await block(viaClipper, opts.callsPerBlock));
        r.push(await block(viaRaw, opts.callsPerBlock));
      } else {
        r.push(await block(viaRaw, opts.callsPerBlock));
        c.push(await block(viaClipper, opts.callsPerBlock));
      }
    }
    return {
      overheadP50Us: median(c.map((x, i) => x.p50 - r[i]!.p50)),
      overheadP99Us: median(c.map((x, i) => x.p99 - r[i]!.p99)),
      clipperP50Us: median(c.map((x) => x.p50)),
      clipperP99Us: median(c.map((x) => x.p99)),
      rawP50Us: median(r.map((x) => x.p50)),
      rawP99Us: median(r.map((x) => x.p99)),
      blocks: opts.blocks,
      callsPerBlock: opts.callsPerBlock,
    };
  } finally {
    await raw.terminate();
    await clipper.close();
  }
}
