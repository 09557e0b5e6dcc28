/**
 * Raw onnxruntime-node in a worker thread, with no serving system around it: the baseline of E0 (batch-size
 * profile: the curve an adaptive batcher must learn) and of E1 (the "raw call" Clipper's overhead is
 * measured against). Session options match `OnnxPredictor`'s defaults: one intra- and inter-op thread,
 * sequential execution, all graph optimisations.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

const SOURCE = `
'use strict';
const { parentPort, workerData } = require('node:worker_threads');
const ort = require(workerData.ortPath);
let session;
const inputs = new Map();
function feed(batch, width) {
  let x = inputs.get(batch);
  if (!x) {
    const data = new Float32Array(batch * width);
    for (let i = 0; i < data.length; i++) data[i] = ((i * 2654435761) % 1000) / 1000;
    x = new ort.Tensor('float32', data, [batch, ...workerData.shape]);
    inputs.set(batch, x);
  }
  return x;
}
parentPort.on('message', async (msg) => {
  try {
    if (msg.type === 'load') {
      session = await ort.InferenceSession.create(msg.model, {
        intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all',
      });
      parentPort.postMessage({ type: 'loaded' });
    } else if (msg.type === 'profile') {
      // Repeats batch size b until 'iterations' runs or 'maxMs' have passed; latencies in ms.
      const x = feed(msg.batch, msg.width);
      for (let i = 0; i < 3; i++) await session.run({ [msg.input]: x });
      const lat = [];
      const t0 = performance.now();
      while (lat.length < msg.iterations && performance.now() - t0 < msg.maxMs) {
        const s = performance.now();
        await session.run({ [msg.input]: x });
        lat.push(performance.now() - s);
      }
      parentPort.postMessage({ type: 'profiled', latencies: lat });
    } else if (msg.type === 'run') {
      const x = new ort.Tensor('float32', msg.data, [1, ...workerData.shape]);
      const out = await session.run({ [msg.input]: x });
      const y = out[msg.output].data;
      parentPort.postMessage({ type: 'ran', data: y }, [y.buffer]);
    }
  } catch (err) {
    parentPort.postMessage({ type: 'error', message: String(err && err.message || err) });
  }
});
`;

/** onnxruntime-node's entry, resolved from @geoml/core (which depends on it). */
export function ortPath(): string {
  const corePkg = createRequire(import.meta.url).resolve('@geoml/core/package.json');
  return createRequire(corePkg).resolve('onnxruntime-node');
}

export interface BatchProfile {
  batch: number;
  runs: number;
  meanMs: number;
  p50Ms: number;
  p99Ms: number;
  /**
   * Items per second at this batch size: batch / median latency (the median, since on a shared machine
   * the mean mostly measures time spent descheduled).
   */
  itemsPerSecond: number;
}

/** One onnxruntime session in its own worker thread, driven one message at a time. */
export class RawOrtWorker {
  private readonly worker: Worker;
  private chain: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly shape: readonly number[],
    private readonly input: string,
    private readonly output: string,
  ) {
    this.worker = new Worker(SOURCE, { eval: true, workerData: { ortPath: ortPath(), shape } });
  }

  static async create(
    model: Uint8Array,
    shape: readonly number[],
    names = { input: 'input', output: 'output' },
  ): Promise<RawOrtWorker> {
    const w = new RawOrtWorker(shape, names.input, names.output);
    await w.call({ type: 'load', model: new Uint8Array(model) });
    return w;
  }

  /** Session latencies at batch size `batch` (bounded by `iterations` and `maxMs`). */
  async profile(batch: number, iterations: number, maxMs: number): Promise<BatchProfile> {
    const width = this.shape.reduce((a, b) => a * b, 1);
    const reply = (await this.call({
      type: 'profile',
      batch,
      width,
      iterations,
      maxMs,
      input: this.input,
    })) as { latencies: number[] };
    const lat = reply.latencies.sort((a, b) => a - b);
    const mean = lat.reduce((a, b) => a + b, 0) / lat.length;
    const at = (p: number) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))]!;
    return {
      batch,
      runs: lat.length,
      meanMs: mean,
      p50Ms: at(0.5),
      p99Ms: at(0.99),
      itemsPerSecond: (batch * 1000) / at(0.5),
    };
  }

  /** One query of batch 1: input sent to the worker (transferred), run, output sent back. */
  async run(data: Float32Array): Promise<Float32Array> {
    const copy = new Float32Array(data);
    const reply = (await this.call({ type: 'run', data: copy, input: this.input, output: this.output }, [
      copy.buffer,
    ])) as { data: Float32Array };
    return reply.data;
  }

  terminate(): Promise<number> {
    return this.worker.terminate();
  }

  private call(msg: Record<string, unknown>, transfer: ArrayBuffer[] = []): Promise<unknown> {
    const next = this.chain.then(
      () =>
        new Promise((resolve, reject) => {
          const onMessage = (m: { type: string; message?: string }) => {
            this.worker.off('error', onError);
            if (m.type === 'error') reject(new Error(m.message));
            else resolve(m);
          };
          const onError = (err: Error) => {
            this.worker.off('message', onMessage);
            reject(err);
          };
          this.worker.once('message', onMessage);
          this.worker.once('error', onError);
          this.worker.postMessage(msg, transfer);
        }),
    );
    this.chain = next.catch(() => undefined);
    return next;
  }
}
