import { type Tensor, tensor, VirtualClock } from '@geoml/core';
import { afterEach, describe, expect, it } from 'vitest';
import { buildOnnxModel, referenceMlp, sampleInput } from '../../../test/fixtures/onnx-models.js';
import { Clipper, type ClipperOptions } from '../src/clipper.js';
import { ContainerError } from '../src/errors.js';
import { FunctionPredictor } from '../src/function-predictor.js';
import { HttpFrontend } from '../src/http/http-frontend.js';
import type { BatchEvent, DropEvent } from '../src/metrics.js';
import { OnnxPredictor } from '../src/onnx-predictor.js';
import { SyntheticReplica } from './synthetic-replica.js';

const mlp = buildOnnxModel('mlp-s');
const WIDTH = 784;

/** `rows` mlp-s inputs, seeds `seed`, `seed + 1`, …, as one `[rows, 784]` tensor. */
function rowsOf(seed: number, rows: number): Record<string, Tensor> {
  const data = new Float32Array(rows * WIDTH);
  for (let r = 0; r < rows; r++) data.set(sampleInput(mlp, seed + r), r * WIDTH);
  return { input: tensor('float32', [rows, WIDTH], data) };
}

/** Checks a multi-row answer against the plain-JS reference of mlp-s, row by row. */
function expectRows(output: unknown, seed: number, rows: number): void {
  const y = (output as Record<string, Tensor>).output!;
  expect(y.shape).toEqual([rows, 10]);
  for (let r = 0; r < rows; r++) {
    const ref = referenceMlp(mlp.layers, sampleInput(mlp, seed + r));
    for (let j = 0; j < 10; j++) expect(y.data[r * 10 + j]).toBeCloseTo(ref[j]!, 4);
  }
}

/** A replica in virtual time whose rows are `{ x: [1] }` and whose answer is `{ y: [2x] }`. */
function doubler(clock: VirtualClock, a: number, b: number) {
  return new SyntheticReplica<Record<string, Tensor>, Record<string, Tensor>>(clock, {
    a,
    b,
    answer: (q) => ({ y: tensor('float32', [1], Float32Array.of(2 * Number(q.x!.data[0]))) }),
  });
}

/** `[rows, 1]` float32 rows with the given values. */
const xs = (...values: number[]) => ({ x: tensor('float32', [values.length, 1], Float32Array.from(values)) });

let clipper: Clipper | undefined;
afterEach(async () => {
  await clipper?.close();
  clipper = undefined;
});

function virtualClipper(options: Omit<ClipperOptions, 'clock'> = {}) {
  const clock = new VirtualClock();
  const c = new Clipper({ ...options, clock });
  return { clock, clipper: c, run: <T>(main: () => Promise<T>) => clock.run(main) };
}

describe('multi-row queries (a request batch as one unit)', () => {
  it("merges requests' rows into full model batches, splitting one where only some rows fit", async () => {
    const batches: BatchEvent[] = [];
    clipper = new Clipper({ metrics: { batch: (e) => batches.push(e) } });
    await clipper.deployModel('mlp', 1, [await OnnxPredictor.create(mlp.bytes)], {
      batching: { mode: 'static', batchSize: 4 },
      cache: false,
    });
    // Queued together before the replica takes any: 3 + 3 + 3 rows and one single query, batches of 4.
    const a = clipper.predictModelBatch('mlp', rowsOf(10, 3), { timeoutMs: 30_000 });
    const b = clipper.predictModelBatch('mlp', rowsOf(20, 3), { timeoutMs: 30_000 });
    const c = clipper.predictModelBatch('mlp', rowsOf(30, 3), { timeoutMs: 30_000 });
    const single = clipper.predictModel(
      'mlp',
      { input: tensor('float32', [WIDTH], sampleInput(mlp, 40)) },
      { timeoutMs: 30_000 },
    );
    const [ra, rb, rc, rs] = await Promise.all([a, b, c, single]);
    for (const r of [ra, rb, rc, rs]) expect(r.default).toBe(false);
    expectRows(ra.output, 10, 3);
    expectRows(rb.output, 20, 3);
    expectRows(rc.output, 30, 3);
    const y = (rs.output as Record<string, Tensor>).output!;
    expect(y.shape).toEqual([10]);
    expect(y.data[3]).toBeCloseTo(referenceMlp(mlp.layers, sampleInput(mlp, 40))[3]!, 4);
    // Rows counted, batches full: a (3) + b's first row; b's other two + c's first two; c's last + single.
    expect(batches.map((e) => e.size)).toEqual([4, 4, 2]);
    expect(batches.map((e) => e.queueMs.length)).toEqual([2, 2, 2]);
  });

  it('answers a split query only once every part ran, and with the default if a later part expires', async () => {
    const drops: DropEvent[] = [];
    const { clock, clipper: c, run } = virtualClipper({ metrics: { drop: (e) => drops.push(e) } });
    clipper = c;
    const replica = doubler(clock, 10, 0);
    await run(async () => {
      await c.deployModel('m', 1, [replica], { batching: { mode: 'static', batchSize: 2 }, cache: false });
      // EDF: `urgent` (due at 12) goes first: rows 0-1 run 0-10, its row 2 with `later`'s row 0 runs
      // 10-20, past its deadline; `later`'s row 1 runs 20-30 and its answer joins both parts.
      const later = c.predictModelBatch('m', xs(1, 2), { timeoutMs: 100 });
      const urgent = c.predictModelBatch('m', xs(5, 6, 7), { timeoutMs: 12 });
      await clock.sleep(1);
      // Due at 6 while the first batch runs until 10: expires in the queue, never runs.
      const doomed = c.predictModelBatch('m', xs(9, 9), { timeoutMs: 5 });
      const [rl, ru, rd] = await Promise.all([later, urgent, doomed]);
      expect(ru).toMatchObject({ default: true, defaultReason: 'slo', output: null, latencyMs: 12 });
      expect(rd).toMatchObject({ default: true, output: null, latencyMs: 5 });
      expect(rl).toMatchObject({ default: false, latencyMs: 30 });
      const y = (rl.output as Record<string, Tensor>).y!;
      expect(y.shape).toEqual([2, 1]);
      expect([...y.data]).toEqual([2, 4]);
      expect(replica.batches.map((bt) => bt.inputs.map((q) => q.x!.data[0]))).toEqual([[5, 6], [7, 1], [2]]);
      // The doomed query's two rows were dropped from the queue, counted as rows.
      expect(drops).toEqual([{ model: 'm', version: '1', reason: 'expired', count: 2 }]);
    });
  });

  it('stops running a split query once one of its parts failed: its rows still queued never reach the model', async () => {
    const { clock, clipper: c, run } = virtualClipper();
    clipper = c;
    const replica = new SyntheticReplica<Record<string, Tensor>, Record<string, Tensor>>(clock, {
      a: 10,
      b: 0,
      answer: (q) => {
        const x = Number(q.x!.data[0]);
        if (x < 0) throw new Error('negative input');
        return { y: tensor('float32', [1], Float32Array.of(2 * x)) };
      },
    });
    await run(async () => {
      await c.deployModel('m', 1, [replica], { batching: { mode: 'static', batchSize: 2 }, cache: false });
      const failed = c.predictModelBatch('m', xs(-1, 2, 3, 4, 5), { timeoutMs: 1000 });
      const other = c.predictModelBatch('m', xs(6), { timeoutMs: 2000 });
      const [rf, ro] = await Promise.all([failed, other]);
      expect(rf).toMatchObject({ default: true, defaultReason: 'model-error', output: null });
      expect(ro.default).toBe(false);
      // Rows 3-5 of the failed query were left out; the other query ran next.
      expect(replica.batches.map((bt) => bt.inputs.map((q) => q.x!.data[0]))).toEqual([[-1, 2], [6]]);
    });
  });

  it('counts rows against the queue bound and refuses at once a query with no room for its rows', async () => {
    const { clock, clipper: c, run } = virtualClipper();
    clipper = c;
    await run(async () => {
      await c.deployModel('m', 1, [doubler(clock, 5, 0)], {
        batching: { mode: 'static', batchSize: 1 },
        maxQueueLength: 4,
        cache: false,
      });
      const first = c.predictModelBatch('m', xs(1, 2, 3), { timeoutMs: 1000 });
      const refused = await c.predictModelBatch('m', xs(4, 5), { timeoutMs: 1000 });
      expect(refused).toMatchObject({ default: true, defaultReason: 'queue-full', latencyMs: 0 });
      expect(refused.defaultExplanation).toMatch(
        /queue full \(3 of 4 rows queued, no room for this query's 2\)/,
      );
      const fits = c.predictModelBatch('m', xs(6), { timeoutMs: 1000 });
      expect((await first).default).toBe(false);
      expect((await fits).default).toBe(false);
    });
  });

  it('refuses rows that disagree, and isolates a query the model refuses from its batch-mates', async () => {
    clipper = new Clipper();
    await clipper.deployModel('mlp', 1, [await OnnxPredictor.create(mlp.bytes)], {
      batching: { mode: 'static', batchSize: 16 },
      cache: false,
    });
    const mismatched = {
      a: tensor('float32', [2, 1], Float32Array.of(1, 2)),
      b: tensor('float32', [3, 1], Float32Array.of(1, 2, 3)),
    };
    await expect(clipper.predictModelBatch('mlp', mismatched)).rejects.toMatchObject({
      code: 'INVALID_INPUT',
      message: expect.stringMatching(/input 'b' has 3 rows but input 'a' has 2/),
    });
    await expect(
      clipper.predictModelBatch('mlp', { input: tensor('float32', [0, WIDTH], new Float32Array(0)) }),
    ).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    const good = clipper.predictModelBatch('mlp', rowsOf(50, 2), { timeoutMs: 30_000 });
    const bad = clipper.predictModelBatch(
      'mlp',
      { input: tensor('float32', [2, 10], new Float32Array(20)) },
      { timeoutMs: 30_000 },
    );
    const [rg, rb] = await Promise.all([good, bad]);
    expectRows(rg.output, 50, 2);
    expect(rb).toMatchObject({ default: true, defaultReason: 'bad-input' });
    expect(rb.defaultExplanation).toMatch(/input 'input' of query 0 \(2 rows\) has shape \[2, 10\]/);
  });

  it('runs the rows of a model with a fixed batch dimension in chunks of that size', async () => {
    const fixed = buildOnnxModel('mlp-s', 42, { fixedBatch: 4 });
    clipper = new Clipper();
    await clipper.deployModel('fixed', 1, [await OnnxPredictor.create(fixed.bytes)], {
      batching: { mode: 'static', batchSize: 16 },
      cache: false,
    });
    const [r] = await Promise.all([
      clipper.predictModelBatch('fixed', rowsOf(70, 6), { timeoutMs: 30_000 }),
      clipper.predictModel('fixed', { input: tensor('float32', [WIDTH], sampleInput(mlp, 80)) }),
    ]);
    const y = (r!.output as Record<string, Tensor>).output!;
    expect(y.shape).toEqual([6, 10]);
    for (let row = 0; row < 6; row++) {
      const ref = referenceMlp(fixed.layers, sampleInput(mlp, 70 + row));
      for (let j = 0; j < 10; j++) expect(y.data[row * 10 + j]).toBeCloseTo(ref[j]!, 4);
    }
  });

  it('retries the part of a split query whose replica crashed on another replica', async () => {
    const { clock, clipper: c, run } = virtualClipper();
    clipper = c;
    const good = doubler(clock, 5, 0);
    let calls = 0;
    const crashing = {
      predict: async (rows: readonly Record<string, Tensor>[]) => {
        if (calls++ === 0) throw new ContainerError('CRASHED', 'worker exited with code 134');
        return good.predict(rows);
      },
    };
    await run(async () => {
      await c.deployModel('m', 1, [crashing, good], {
        batching: { mode: 'static', batchSize: 2 },
        cache: false,
      });
      const r = await c.predictModelBatch('m', xs(1, 2, 3, 4, 5), { timeoutMs: 1000 });
      expect(r.default).toBe(false);
      expect([...(r.output as Record<string, Tensor>).y!.data]).toEqual([2, 4, 6, 8, 10]);
      // The first part crashed on the first replica and ran again on the other.
      expect(calls).toBeGreaterThanOrEqual(1);
      expect(good.batches.map((bt) => bt.inputs.map((q) => q.x!.data[0]))).toContainEqual([1, 2]);
    });
  });

  it('caches a multi-row query as one entry, apart from single queries of the same data', async () => {
    clipper = new Clipper();
    await clipper.deployModel('mlp', 1, [await OnnxPredictor.create(mlp.bytes)], { cache: true });
    const rows = rowsOf(60, 1);
    const first = await clipper.predictModelBatch('mlp', rows, { timeoutMs: 30_000 });
    expect(first.cached).toBeUndefined();
    const again = await clipper.predictModelBatch('mlp', rowsOf(60, 1), { timeoutMs: 30_000 });
    expect(again.cached).toBe('hit');
    expectRows(again.output, 60, 1);
    // The same bytes as one query (no row dimension) are another entry, answered without one.
    const single = await clipper.predictModel(
      'mlp',
      { input: tensor('float32', [WIDTH], sampleInput(mlp, 60)) },
      { timeoutMs: 30_000 },
    );
    expect(single.cached).toBeUndefined();
    expect((single.output as Record<string, Tensor>).output!.shape).toEqual([10]);
  });
});

describe('multi-row Open Inference Protocol requests', () => {
  let server: HttpFrontend | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  /** Binary request of `rows` mlp-s rows (the extension's layout), outputs asked binary. */
  function binaryInfer(seed: number, rows: number, timeout: number): RequestInit {
    const x = rowsOf(seed, rows).input!.data as Float32Array;
    const header = Buffer.from(
      JSON.stringify({
        inputs: [
          {
            name: 'input',
            shape: [rows, WIDTH],
            datatype: 'FP32',
            parameters: { binary_data_size: x.byteLength },
          },
        ],
        parameters: { binary_data_output: true, timeout },
      }),
    );
    return {
      method: 'POST',
      headers: {
        'content-type': 'application/octet-stream',
        'inference-header-content-length': String(header.length),
      },
      body: Buffer.concat([header, Buffer.from(x.buffer, x.byteOffset, x.byteLength)]),
    };
  }

  it("answers each request's rows, merged with other requests' rows into one model batch", async () => {
    const batches: BatchEvent[] = [];
    clipper = new Clipper({ metrics: { batch: (e) => batches.push(e) } });
    await clipper.deployModel('mlp', 1, [await OnnxPredictor.create(mlp.bytes)], {
      // Waits (up to 20 s) until six rows are queued, so the three requests below share one batch.
      batching: { mode: 'delayed', maxBatchSize: 6, maxDelayMs: 20_000 },
      cache: false,
    });
    server = await HttpFrontend.start(clipper);
    const url = `${server.url}/v2/models/mlp/infer`;
    const timeout = 60_000_000;
    const json = {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        inputs: [
          { name: 'input', shape: [3, WIDTH], datatype: 'FP32', data: [...rowsOf(80, 3).input!.data] },
        ],
        parameters: { timeout },
      }),
    };
    const [two, three, one] = await Promise.all([
      fetch(url, binaryInfer(70, 2, timeout)),
      fetch(url, json),
      fetch(url, binaryInfer(90, 1, timeout)),
    ]);
    const binaryRows = async (res: Response, seed: number, rows: number) => {
      expect(res.status).toBe(200);
      const body = Buffer.from(await res.arrayBuffer());
      const jsonLength = Number(res.headers.get('inference-header-content-length'));
      const meta = JSON.parse(body.toString('utf8', 0, jsonLength)) as { outputs: { shape: number[] }[] };
      expect(meta.outputs[0]!.shape).toEqual([rows, 10]);
      const y = new Float32Array(
        body.buffer.slice(body.byteOffset + jsonLength, body.byteOffset + body.length),
      );
      expectRows({ output: tensor('float32', [rows, 10], y) }, seed, rows);
    };
    await binaryRows(two, 70, 2);
    await binaryRows(one, 90, 1);
    expect(three.status).toBe(200);
    const out = ((await three.json()) as { outputs: { shape: number[]; data: number[] }[] }).outputs[0]!;
    expectRows({ output: tensor('float32', out.shape, Float32Array.from(out.data)) }, 80, 3);
    expect(batches.map((e) => [e.size, e.queueMs.length])).toEqual([[6, 3]]);
  });

  it('refuses with a 400 a request whose inputs disagree in batch size, or that has no rows', async () => {
    clipper = new Clipper();
    await clipper.deployModel('echo', 1, [new FunctionPredictor(async (q: readonly unknown[]) => q)], {
      inputType: 'tensor',
    });
    server = await HttpFrontend.start(clipper);
    const infer = async (inputs: unknown[]) => {
      const res = await fetch(`${server!.url}/v2/models/echo/infer`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ inputs }),
      });
      return { status: res.status, error: ((await res.json()) as { error?: string }).error };
    };
    expect(
      await infer([
        { name: 'a', shape: [2], datatype: 'INT32', data: [1, 2] },
        { name: 'b', shape: [3], datatype: 'INT32', data: [1, 2, 3] },
      ]),
    ).toEqual({ status: 400, error: "input 'b' has batch size 3, other inputs 2" });
    expect(await infer([{ name: 'a', shape: [0, 4], datatype: 'INT32', data: [] }])).toEqual({
      status: 400,
      error: "input 'a' has batch size 0; send at least one row",
    });
    // Nothing accepted was lost: the next good request is answered.
    expect((await infer([{ name: 'a', shape: [2], datatype: 'INT32', data: [5, 6] }])).status).toBe(200);
  });
});
