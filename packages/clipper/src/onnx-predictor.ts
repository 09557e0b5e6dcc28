import { type Clock, type DType, type Predictor, parseConfig, systemClock, type Tensor } from '@geoml/core';
import { ContainerError } from './errors.js';
import { type OnnxModelSource, sourceOf } from './onnx-model-source.js';
import {
  type OnnxPredictorConfig,
  onnxPredictorConfigSchema,
  type OnnxPredictorSettings as Settings,
  workerKindOf,
} from './onnx-predictor-config.js';
import type { CrashMode, LoadedModel, OnnxWorker, WireMeta } from './onnx-worker.js';
import type { WorkerKind } from './onnx-worker-pool.js';
import { OnnxWorkerSupervisor } from './onnx-worker-supervisor.js';
import { parsedBy } from './parsed-config.js';
import { concatRows, rowsView, sliceBatch } from './rows.js';
import { checkStacked, type InputSpec, stackBatch, unstackBatch, zeroQuery } from './stack.js';

/** Test hook (not public API): the next batch's worker exits, or throws uncaught, while holding it. */
export const CRASH_NEXT_RUN: unique symbol = Symbol('crashNextRun');

type Query = Record<string, Tensor>;

function toSpec(m: WireMeta): InputSpec {
  const dims = (m.shape ?? []).slice(1);
  return {
    name: m.name,
    dtype: m.type as DType,
    shape: dims.map((d) => (typeof d === 'number' && d >= 0 ? d : null)),
  };
}

/**
 * An ONNX model container: one onnxruntime-node session living in a `worker_threads` Worker, so
 * `session.run` never blocks the main thread. Per-query inputs are named tensors without the batch
 * dimension; a batch is stacked into one buffer per input and transferred (not copied) to the worker,
 * and the outputs come back the same way, split per query.
 *
 * If the worker dies, calls in flight reject with `ContainerError('CRASHED')` and the predictor starts a
 * new worker and reloads the model, so the next call works.
 *
 * @example
 * const mnist = await OnnxPredictor.create(modelBytes, { intraOpNumThreads: 1 });
 * await mnist.warmUp({ batchSizes: [1, 32] });
 * const [answer] = await mnist.predict([{ input: tensor('float32', [784], pixels) }]);
 * // answer.output: a float32 tensor of shape [10]
 * await mnist.dispose();
 */
export class OnnxPredictor implements Predictor<Query, Query> {
  readonly config: Readonly<Settings>;
  /** Starts, replaces and retires the worker thread; this class keeps the batch path. */
  private readonly supervisor: OnnxWorkerSupervisor;
  private crashNext: CrashMode | undefined;
  private specs: InputSpec[] = [];
  /** The model's batch dimension when it is fixed (e.g. exported with batch 1), else undefined. */
  private fixedBatch: number | undefined;
  private outputs: string[] = [];

  constructor(config: OnnxPredictorConfig = {}, options: { clock?: Clock } = {}) {
    // Settings parsed once for many replicas (a hot-loader's) are taken as they are.
    this.config = parsedBy(onnxPredictorConfigSchema, config)
      ? config
      : parseConfig(onnxPredictorConfigSchema, config, 'onnx predictor config');
    this.supervisor = new OnnxWorkerSupervisor(this.config, options.clock ?? systemClock, (meta) =>
      this.describe(meta),
    );
  }

  /** Creates a predictor and loads `model` into its worker. */
  static async create(
    model: OnnxModelSource,
    config: OnnxPredictorConfig = {},
    options: { clock?: Clock } = {},
  ): Promise<OnnxPredictor> {
    const predictor = new OnnxPredictor(config, options);
    try {
      await predictor.load(model);
    } catch (err) {
      await predictor.dispose();
      throw err;
    }
    return predictor;
  }

  /** The model's inputs, each with its per-query shape (`null` = free dimension). */
  get inputs(): readonly InputSpec[] {
    return this.specs;
  }

  /** The model's output names. */
  get outputNames(): readonly string[] {
    return this.outputs;
  }

  /** The model's fixed batch size, if it has one; larger batches are split into chunks of this size. */
  get maxBatchSize(): number | undefined {
    return this.fixedBatch;
  }

  /** How many times the worker was replaced after a crash or timeout. */
  get restarts(): number {
    return this.supervisor.restarts;
  }

  /**
   * Loads `model`. Bytes are kept by reference for a restart after a crash, not copied (every copy of a
   * model in a hot swap is garbage the main thread's GC pays for), so do not modify them afterwards. A
   * second load replaces the model in the same worker only once the new session is created: a model that
   * fails to load (`LOAD_FAILED`) or to match its sha256 (`HASH_MISMATCH`) leaves the previous one serving.
   */
  async load(model: OnnxModelSource): Promise<void> {
    this.assertOpen();
    const source = sourceOf(model);
    if (source === undefined)
      throw new ContainerError(
        'LOAD_FAILED',
        'model must be non-empty ONNX bytes (Uint8Array), { bytes, sha256 } with a hex sha256, or a file path',
      );
    await this.supervisor.load(source);
  }

  /** Runs zero-filled (or `sample`) batches of each size once, so first real queries pay no setup cost. */
  async warmUp(options: { batchSizes?: readonly number[]; sample?: Query } = {}): Promise<void> {
    await this.loaded();
    const query = options.sample ?? zeroQuery(this.specs);
    for (const size of options.batchSizes ?? [1]) {
      await this.predictInBackground(Array.from({ length: size }, () => query));
    }
  }

  /** Answers a batch; the first call raises a worker started in the background to normal priority. */
  predict(inputs: readonly Query[]): Promise<Query[]> {
    return this.batch(inputs, true);
  }

  /**
   * Like `predict`, but a worker still in the background stays there: for warm-up and checks before the
   * model serves (a hot-loaded version's warm-up must not compete with the version serving).
   */
  predictInBackground(inputs: readonly Query[]): Promise<Query[]> {
    return this.batch(inputs, false);
  }

  /**
   * Runs a batch already stacked (each input `[rows, ...item]`, as `stackQueries` builds it) and answers
   * its outputs stacked the same way: for a serving core that stacks several queries' rows itself and
   * slices the outputs back as views, with no per-row split and re-stack here.
   */
  async predictStacked(stacked: Query, rows: number): Promise<Query> {
    this.assertOpen();
    const worker = await this.readyWorker(true);
    checkStacked(stacked, this.specs, rows);
    const size = this.fixedBatch;
    if (size === undefined || size === rows) return this.runStacked(worker, stacked);
    const parts: Promise<Query>[] = [];
    for (let start = 0; start < rows; start += size) {
      const count = Math.min(size, rows - start);
      const chunk = this.runStacked(worker, sliceBatch(stacked, start, count, size));
      parts.push(chunk.then((out) => rowsView(out, 0, count)));
    }
    return concatRows(await Promise.all(parts));
  }

  /**
   * Resolves once a model is loaded. The errors are made only when thrown: an Error captures a stack,
   * which costs the main thread during a hot swap for a predictor that never needed it.
   */
  private loaded(): Promise<void> {
    this.assertOpen();
    return (
      this.supervisor.ready ??
      Promise.reject(new ContainerError('LOAD_FAILED', 'no model loaded; call load() first'))
    );
  }

  private async readyWorker(serve: boolean): Promise<OnnxWorker> {
    await this.loaded();
    this.assertOpen();
    const worker = this.supervisor.servingWorker;
    if (!worker) throw new ContainerError('CRASHED', 'the onnx worker is restarting');
    if (serve) worker.serve();
    return worker;
  }

  private async batch(inputs: readonly Query[], serve: boolean): Promise<Query[]> {
    this.assertOpen();
    if (!Array.isArray(inputs)) throw new ContainerError('BAD_INPUT', 'predict expects an array of queries');
    if (inputs.length === 0) return [];
    const worker = await this.readyWorker(serve);
    const stacked = stackBatch(inputs, this.specs);
    const n = inputs.length;
    const size = this.fixedBatch;
    if (size === undefined || size === n) return this.run(worker, stacked, n);
    // A model with a fixed batch dimension gets chunks of exactly that size, the last one padded.
    const parts: Promise<Query[]>[] = [];
    for (let start = 0; start < n; start += size) {
      const count = Math.min(size, n - start);
      parts.push(this.run(worker, sliceBatch(stacked, start, count, size), count));
    }
    return (await Promise.all(parts)).flat();
  }

  /** Sends one stacked batch to the worker and returns the first `keep` answers, split per query. */
  private async run(worker: OnnxWorker, stacked: Query, keep: number): Promise<Query[]> {
    const n = (Object.values(stacked)[0] as Tensor).shape[0] as number;
    const answers = unstackBatch(await this.runStacked(worker, stacked), n);
    return keep === n ? answers : answers.slice(0, keep);
  }

  /** Sends one stacked batch to the worker; its outputs come back stacked. */
  private runStacked(worker: OnnxWorker, stacked: Query): Promise<Query> {
    const crash = this.crashNext;
    this.crashNext = undefined;
    return worker.run(stacked, this.config.runTimeoutMs, crash);
  }

  /**
   * Rejects calls in flight with DISPOSED and releases the session. An idle worker goes back to the
   * process's spare pool (`reuseWorkers`) once its session is released, otherwise it ends. A worker busy in a long batch finishes it
   * first (stopping a thread inside onnxruntime aborts the process); `dispose` waits for that up to 5 s,
   * and an unfinished worker never keeps the process alive. Idempotent.
   */
  dispose(): Promise<void> {
    return this.supervisor.dispose();
  }

  /** The worker thread's kernel id and whether it loads in the background (diagnostics, tests). */
  workerThread(): Promise<{ tid: number | undefined; background: boolean } | undefined> {
    return this.supervisor.boot();
  }

  /** Which spare threads of the pool this predictor can use. */
  get workerKind(): WorkerKind {
    return workerKindOf(this.config);
  }

  /** Test hook: makes the next batch crash its worker. */
  [CRASH_NEXT_RUN](how: CrashMode = 'exit'): void {
    this.crashNext = how;
  }

  private assertOpen(): void {
    if (this.supervisor.disposed) throw new ContainerError('DISPOSED', 'the predictor was disposed');
  }

  /** Takes in the inputs and outputs of a session just created. */
  private describe(meta: LoadedModel): void {
    this.specs = meta.inputs.map(toSpec);
    const fixed = meta.inputs
      .map((m) => m.shape?.[0])
      .filter((d): d is number => typeof d === 'number' && d > 0);
    this.fixedBatch = fixed.length > 0 ? Math.min(...fixed) : undefined;
    this.outputs = meta.outputs.map((m) => m.name);
  }
}
