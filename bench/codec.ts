/**
 * Codec benchmark: encode and decode of a 4 MiB dense float32 map (four tensors) and of a 1%-sparse update of
 * it, each timed interleaved against a plain `Buffer.from` copy of the same bytes in the same process.
 * Also the lossy fp16 and int8 encodings (sizes, speed, worst error). Goals (issue 2):
 * `denseEncodeVsCopy` >= 0.5 and `decodeZeroCopy` true.
 */
import {
  createRng,
  decodeTensorMap,
  encodeTensorMap,
  isSparse,
  type SparseTensor,
  type Tensor,
  type UpdateMap,
} from '@geoml/core';
import { Progress } from './lib/progress.js';
import { QUICK, writeResult, writeSvg } from './lib/results.js';
import { barChart } from './lib/svg.js';
import { type Comparison, compare } from './lib/timing.js';

const SHAPES: [string, number[]][] = [
  ['dense1/kernel', [512, 1024]],
  ['dense2/kernel', [1024, 256]],
  ['dense3/kernel', [256, 768]],
  ['dense4/kernel', [256, 256]],
];
const DENSITY = 0.01;
// Encoding and decoding are pure computation: count CPU time, so that time spent descheduled on a shared
// machine does not land on whichever side happened to run. Short batches, many repetitions.
const opts = { repetitions: QUICK ? 11 : 101, batchMs: 5, clock: 'cpu' as const };

const rng = createRng(2017);
const dense: UpdateMap = new Map();
const sparse: UpdateMap = new Map();
for (const [name, shape] of SHAPES) {
  const n = shape[0]! * shape[1]!;
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = rng.normal() * 0.01;
  dense.set(name, { dtype: 'float32', shape, data });
  const picked: number[] = [];
  for (let i = 0; i < n; i++) if (rng.next() < DENSITY) picked.push(i);
  const indices = Uint32Array.from(picked);
  sparse.set(name, { dtype: 'float32', shape, indices, values: Float32Array.from(indices, (i) => data[i]!) });
}

/** The payload bytes of a map laid end to end: what a plain copy of "the same bytes" copies. */
function payload(map: UpdateMap): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const t of map.values()) {
    const arrays = isSparse(t) ? [t.indices, t.values] : [t.data];
    for (const a of arrays) parts.push(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  }
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const denseBytes = payload(dense);
const sparseBytes = payload(sparse);
const messages = {
  raw: encodeTensorMap(dense),
  fp16: encodeTensorMap(dense, { encoding: 'fp16' }),
  int8: encodeTensorMap(dense, { encoding: 'int8' }),
  sparse: encodeTensorMap(sparse),
};

const progress = new Progress('codec', 8);
const run = (label: string, baseline: () => unknown, candidate: () => unknown): Comparison => {
  const result = compare(baseline, candidate, opts);
  progress.tick(label);
  return result;
};
const copyDense = () => Buffer.from(denseBytes);
const copySparse = () => Buffer.from(sparseBytes);

const timings = {
  denseEncode: run('dense encode', copyDense, () => encodeTensorMap(dense)),
  denseDecode: run('dense decode', copyDense, () => decodeTensorMap(messages.raw)),
  fp16Encode: run('fp16 encode', copyDense, () => encodeTensorMap(dense, { encoding: 'fp16' })),
  fp16Decode: run('fp16 decode', copyDense, () => decodeTensorMap(messages.fp16)),
  int8Encode: run('int8 encode', copyDense, () => encodeTensorMap(dense, { encoding: 'int8' })),
  int8Decode: run('int8 decode', copyDense, () => decodeTensorMap(messages.int8)),
  sparseEncode: run('sparse encode', copySparse, () => encodeTensorMap(sparse)),
  sparseDecode: run('sparse decode', copySparse, () => decodeTensorMap(messages.sparse)),
};
progress.end();

/** True when every raw tensor decoded from `bytes` is a view into `bytes`' own memory. */
function viewsInto(bytes: Uint8Array): boolean {
  for (const t of decodeTensorMap(bytes).values()) {
    const arrays = isSparse(t) ? [t.indices, t.values] : [t.data];
    if (arrays.some((a) => a.buffer !== bytes.buffer)) return false;
  }
  return true;
}

/** Worst error of a lossy message against the dense original: relative for fp16, in scale steps for int8. */
function worstError(bytes: Uint8Array, relative: boolean): number {
  let worst = 0;
  const back = decodeTensorMap(bytes);
  for (const [name, t] of dense) {
    const x = (t as Tensor).data as Float32Array;
    const y = (back.get(name) as Tensor).data as Float32Array;
    let max = 0;
    for (const v of x) max = Math.max(max, Math.abs(v));
    for (let i = 0; i < x.length; i++) {
      const err = Math.abs(y[i]! - x[i]!);
      worst = Math.max(
        worst,
        relative ? (Math.abs(x[i]!) >= 2 ** -14 ? err / Math.abs(x[i]!) : 0) : err / (max / 127),
      );
    }
  }
  return worst;
}

const gbps = (bytes: number, ms: number) => bytes / ms / 1e6;
const nnz = [...sparse.values()].reduce((s, t) => s + (t as SparseTensor).indices.length, 0);
const summary = {
  denseEncodeVsCopy: timings.denseEncode.speedup,
  denseEncodeGoal: 0.5,
  decodeZeroCopy: viewsInto(messages.raw) && viewsInto(messages.sparse),
  denseDecodeVsCopy: timings.denseDecode.speedup,
  sparseEncodeVsCopy: timings.sparseEncode.speedup,
  sparseDecodeVsCopy: timings.sparseDecode.speedup,
  fp16EncodeVsCopy: timings.fp16Encode.speedup,
  fp16DecodeVsCopy: timings.fp16Decode.speedup,
  int8EncodeVsCopy: timings.int8Encode.speedup,
  int8DecodeVsCopy: timings.int8Decode.speedup,
  fp16SizeRatio: messages.fp16.length / messages.raw.length,
  int8SizeRatio: messages.int8.length / messages.raw.length,
  sparseSizeRatio: messages.sparse.length / messages.raw.length,
  fp16WorstRelativeError: worstError(messages.fp16, true),
  int8WorstErrorInSteps: worstError(messages.int8, false),
};

const throughputGBps = Object.fromEntries(
  Object.entries(timings).map(([k, c]) => {
    const bytes = k.startsWith('sparse') ? sparseBytes.length : denseBytes.length;
    return [k, { candidate: gbps(bytes, c.candidateMs), plainCopy: gbps(bytes, c.baselineMs) }];
  }),
);

writeResult('codec', summary, {
  workload: {
    tensors: SHAPES.map(([name, shape]) => ({ name, shape })),
    denseBytes: denseBytes.length,
    sparseDensity: DENSITY,
    sparseNonZeros: nnz,
    sparseBytes: sparseBytes.length,
    messageBytes: Object.fromEntries(Object.entries(messages).map(([k, m]) => [k, m.length])),
  },
  method:
    'compare(): baseline = Buffer.from(copy of the same payload bytes), candidate = codec call; interleaved ' +
    'calibrated batches timed in process CPU time, median over repetitions of baseline time / candidate time ' +
    '(= candidate throughput / copy throughput).',
  timingOptions: opts,
  timings,
  throughputGBps,
});

writeSvg(
  'codec',
  'vs-copy',
  barChart({
    title: 'geoml codec: throughput relative to a plain Buffer copy of the same bytes',
    labels: ['raw dense 4 MiB', 'fp16 dense', 'int8 dense', 'raw 1% sparse'],
    series: [
      {
        name: 'encode',
        values: [
          summary.denseEncodeVsCopy,
          summary.fp16EncodeVsCopy,
          summary.int8EncodeVsCopy,
          summary.sparseEncodeVsCopy,
        ],
      },
      {
        name: 'decode',
        values: [
          summary.denseDecodeVsCopy,
          summary.fp16DecodeVsCopy,
          summary.int8DecodeVsCopy,
          summary.sparseDecodeVsCopy,
        ],
      },
    ],
    yLabel: 'codec throughput / copy throughput (log)',
    log: true,
    refs: [
      { value: 1, label: 'as fast as a copy' },
      { value: 0.5, label: 'goal for raw dense encode: 0.5' },
    ],
  }),
);

const row = (label: string, c: Comparison, bytes: number) =>
  `${label.padEnd(14)} ${c.candidateMs.toFixed(3).padStart(9)} ms ${gbps(bytes, c.candidateMs).toFixed(2).padStart(8)} GB/s   copy ${gbps(bytes, c.baselineMs).toFixed(2).padStart(6)} GB/s   ratio ${c.speedup.toFixed(3)}`;
console.log(
  `\ncodec: ${denseBytes.length} dense bytes, ${nnz} sparse non-zeros (${sparseBytes.length} bytes)`,
);
for (const [k, c] of Object.entries(timings)) {
  console.log(row(k, c, k.startsWith('sparse') ? sparseBytes.length : denseBytes.length));
}
