import { createRequire } from 'node:module';
import { resolve as resolvePath } from 'node:path';
import { Worker } from 'node:worker_threads';
import { type Clock, type DType, type Predictor, parseConfig, systemClock, type Tensor } from '@geoml/core';
import { z } from 'zod';
import { ContainerError } from './errors.js';
import {
  type FromWorker,
  ONNX_WORKER_SOURCE,
  type ToWorker,
  type WireMeta,
  type WireTensor,
} from './onnx-worker.js';
import { type InputSpec, sliceBatch, stackBatch, unstackBatch, zeroQuery } from './stack.js';

/** Session and worker settings of an `OnnxPredictor`; every field has a default. */
export const onnxPredictorConfigSchema = z
  .object({
    /** Threads inside one operator; keep replicas × threads ≤ cores. */
    intraOpNumThreads: z.number().int().min(1).default(1),
    interOpNumThreads: z.number().int().min(1).default(1),
    graphOptimizationLevel: z.enum(['disabled', 'basic', 'extended', 'layout', 'all']).default('all'),
    executionMode: z.enum(['sequential', 'parallel']).default('sequential'),
    executionProviders: z.array(z.string().min(1)).min(1).default(['cpu']),
    enableCpuMemArena: z.boolean().default(true),
    enableMemPattern: z.boolean().default(true),
    /** Bound on creating a session (ms); past it the load fails with TIMEOUT and the worker is replaced. */
    loadTimeoutMs: z.number().positive().default(120_000),
    /** Bound on one batch (ms); past it the call fails with TIMEOUT and the worker is replaced. */
    runTimeoutMs: z.number().positive().optional(),
    /** How many times a worker that dies while loading is replaced before the load gives up. */
    maxRespawns: z.number().int().min(0).default(3),
    /** V8 heap limits of the worker, so a runaway model dies alone (as CRASHED) instead of the process. */
    resourceLimits: z
      .object({
        maxOldGenerationSizeMb: z.number().positive(),
        maxYoungGenerationSizeMb: z.number().positive(),
        stackSizeMb: z.number().positive(),
      })
      .partial()
      .optional(),
  })
  .strict();

/** What a caller may pass (defaults optional). */
export type OnnxPredictorConfig = z.input<typeof onnxPredictorConfigSchema>;
type Settings = z.output<typeof onnxPredictorConfigSchema>;

/** A model as bytes (e.g. from the model registry) or as a path to a `.onnx` file. */
export type OnnxModelSource = Uint8Array | string;

/** Test hook (not public API): the next batch's worker exits, or throws uncaught, while holding it. */
export const CRASH_NEXT_RUN: unique symbol = Symbol('crashNextRun');

type Query = Record<string, Tensor>;

interface Pending {
  readonly n: number;
  resolve(outputs: Query[]): void;
  reject(err: Error): void;
}

interface LoadWaiter {
  resolve(msg: { inputs: WireMeta[]; outputs: WireMeta[] }): void;
  reject(err: Error): void;
}

/** How long `dispose` waits for a busy worker to finish its batch and exit. */
const EXIT_WAIT_MS = 5_000;

let ortEntry: string | undefined;

/** onnxruntime-node is a dependency of @geoml/core; resolve it from there so strict layouts find it. */
function resolveOrt(): string {
  if (!ortEntry) {
    try {
      const corePkg = createRequire(import.meta.url).resolve('@geoml/core/package.json');
      ortEntry = createRequire(corePkg).resolve('onnxruntime-node');
    } catch (err) {
      throw new ContainerError('LOAD_FAILED', 'onnxruntime-node cannot be resolved from @geoml/core', {
        cause: err,
      });
    }
  }
  return ortEntry;
}

/** Marks a promise's rejection as handled (callers still see it when they await). */
function quiet<T>(p: Promise<T>): Promise<T> {
  p.catch(() => undefined);
  return p;
}

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
 */
export class OnnxPredictor implements Predictor<Query, Query> {
  readonly config: Readonly<Settings>;
  private readonly clock: Clock;
  private model: OnnxModelSource | undefined;
  private worker: Worker | undefined;
  /** True while `worker` holds a loaded session. */
  private serving = false;
  private ready: Promise<void>;
  private loadWaiter: LoadWaiter | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private disposed = false;
  private crashNext: 'exit' | 'throw' | undefined;
  private specs: InputSpec[] = [];
  /** The model's batch dimension when it is fixed (e.g. exported with batch 1), else undefined. */
  private fixedBatch: number | undefined;
  private outputs: string[] = [];
  private restartCount = 0;
  /** Every worker not yet exited (the current one and retired ones finishing a batch), with its exit. */
  private readonly alive = new Map<Worker, Promise<void>>();

  constructor(config: OnnxPredictorConfig = {}, options: { clock?: Clock } = {}) {
    this.config = parseConfig(onnxPredictorConfigSchema, config, 'onnx predictor config');
    this.clock = options.clock ?? systemClock;
    this.ready = quiet(
      Promise.reject(new ContainerError('LOAD_FAILED', 'no model loaded; call load() first')),
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
    return this.restartCount;
  }

  /**
   * Loads `model` (bytes are copied, so the caller may reuse its buffer). A second load replaces the
   * model in the same worker only once the new session is created: a model that fails to load
   * (`LOAD_FAILED`) leaves the previous one serving.
   */
  async load(model: OnnxModelSource): Promise<void> {
    this.assertOpen();
    let source: OnnxModelSource;
    if (typeof model === 'string' && model.length > 0) source = resolvePath(model);
    else if (model instanceof Uint8Array && model.byteLength > 0) source = new Uint8Array(model);
    else
      throw new ContainerError(
        'LOAD_FAILED',
        'model must be non-empty ONNX bytes (Uint8Array) or a file path',
      );
    const attempt = this.ready
      .catch(() => undefined)
      .then(() => (this.serving && this.worker ? this.loadInto(this.worker, source) : this.start(source)));
    this.ready = quiet(
      attempt.catch((err) => {
        if (!this.serving) throw err;
      }),
    );
    await attempt;
  }

  /** Runs zero-filled (or `sample`) batches of each size once, so first real queries pay no setup cost. */
  async warmUp(options: { batchSizes?: readonly number[]; sample?: Query } = {}): Promise<void> {
    await this.ready;
    const query = options.sample ?? zeroQuery(this.specs);
    for (const size of options.batchSizes ?? [1]) {
      await this.predict(Array.from({ length: size }, () => query));
    }
  }

  async predict(inputs: readonly Query[]): Promise<Query[]> {
    this.assertOpen();
    if (!Array.isArray(inputs)) throw new ContainerError('BAD_INPUT', 'predict expects an array of queries');
    if (inputs.length === 0) return [];
    await this.ready;
    this.assertOpen();
    const worker = this.worker;
    if (!worker || !this.serving) throw new ContainerError('CRASHED', 'the onnx worker is restarting');
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

  /** Sends one stacked batch to the worker (its buffers transferred) and returns the first `keep` answers. */
  private run(worker: Worker, stacked: Query, keep: number): Promise<Query[]> {
    const feeds: Record<string, WireTensor> = {};
    const transfer: ArrayBuffer[] = [];
    let n = 0;
    for (const [name, t] of Object.entries(stacked)) {
      feeds[name] = { dtype: t.dtype, dims: [...t.shape], data: t.data };
      transfer.push(t.data.buffer as ArrayBuffer);
      n = t.shape[0] as number;
    }
    const id = this.nextId++;
    const message: Extract<ToWorker, { type: 'run' }> = { type: 'run', id, feeds };
    if (this.crashNext) {
      message.crash = this.crashNext;
      this.crashNext = undefined;
    }
    return new Promise<Query[]>((resolve, reject) => {
      const timer = this.config.runTimeoutMs === undefined ? undefined : new AbortController();
      const settle = () => timer?.abort();
      this.pending.set(id, {
        n,
        resolve: (outs) => {
          settle();
          resolve(keep === n ? outs : outs.slice(0, keep));
        },
        reject: (err) => {
          settle();
          reject(err);
        },
      });
      worker.postMessage(message, transfer);
      this.holdProcess();
      if (timer && this.config.runTimeoutMs !== undefined) {
        const ms = this.config.runTimeoutMs;
        this.clock.sleep(ms, timer.signal).then(
          () => {
            const timeout = new ContainerError('TIMEOUT', `batch of ${n} took longer than ${ms} ms`);
            this.pending.get(id)?.reject(timeout);
            this.pending.delete(id);
            this.replace(
              worker,
              new ContainerError('CRASHED', 'the onnx worker was replaced after a timeout'),
            );
          },
          () => undefined,
        );
      }
    });
  }

  /**
   * Rejects calls in flight with DISPOSED and ends the worker, which releases its session. A worker busy
   * in a long batch finishes it first (stopping a thread inside onnxruntime aborts the process); `dispose`
   * waits for that up to 5 s, and an unfinished worker never keeps the process alive. Idempotent.
   */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    const err = new ContainerError('DISPOSED', 'the predictor was disposed');
    this.ready = quiet(Promise.reject(err));
    this.failAll(err);
    const worker = this.worker;
    this.worker = undefined;
    this.serving = false;
    if (worker) this.retire(worker);
    // Also wait for workers retired earlier (after a timeout) that may still be finishing a batch.
    if (this.alive.size === 0) return;
    const bound = new AbortController();
    await Promise.race([
      Promise.all(this.alive.values()),
      this.clock.sleep(EXIT_WAIT_MS, bound.signal).catch(() => undefined),
    ]);
    bound.abort();
  }

  /** Test hook: makes the next batch crash its worker. */
  [CRASH_NEXT_RUN](how: 'exit' | 'throw' = 'exit'): void {
    this.crashNext = how;
  }

  private assertOpen(): void {
    if (this.disposed) throw new ContainerError('DISPOSED', 'the predictor was disposed');
  }

  /** Spawns workers and loads `source`, replacing a worker that dies while loading up to maxRespawns times. */
  private async start(source: OnnxModelSource): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const worker = this.spawn();
      try {
        await this.loadInto(worker, source);
        return;
      } catch (err) {
        if (this.worker === worker) {
          this.worker = undefined;
          this.retire(worker);
        }
        const crashed = err instanceof ContainerError && err.code === 'CRASHED';
        if (!crashed || this.disposed || attempt >= this.config.maxRespawns) throw err;
        this.restartCount++;
      }
    }
  }

  private spawn(): Worker {
    const { resourceLimits } = this.config;
    const worker = new Worker(ONNX_WORKER_SOURCE, {
      eval: true,
      name: 'geoml-onnx',
      workerData: { ortPath: resolveOrt() },
      ...(resourceLimits ? { resourceLimits } : {}),
    });
    worker.on('message', (msg: FromWorker) => {
      if (this.worker === worker) this.onMessage(msg);
    });
    worker.on('error', (err) => this.replace(worker, err));
    worker.on('exit', (code) => this.replace(worker, new Error(`worker exited with code ${code}`)));
    this.alive.set(
      worker,
      new Promise<void>((resolve) =>
        worker.once('exit', () => {
          this.alive.delete(worker);
          resolve();
        }),
      ),
    );
    this.worker = worker;
    this.serving = false;
    return worker;
  }

  private async loadInto(worker: Worker, source: OnnxModelSource): Promise<void> {
    const { loadTimeoutMs } = this.config;
    const options = {
      intraOpNumThreads: this.config.intraOpNumThreads,
      interOpNumThreads: this.config.interOpNumThreads,
      graphOptimizationLevel: this.config.graphOptimizationLevel,
      executionMode: this.config.executionMode,
      executionProviders: this.config.executionProviders,
      enableCpuMemArena: this.config.enableCpuMemArena,
      enableMemPattern: this.config.enableMemPattern,
    };
    const timer = new AbortController();
    const loaded = new Promise<{ inputs: WireMeta[]; outputs: WireMeta[] }>((resolve, reject) => {
      this.loadWaiter = { resolve, reject };
    });
    this.holdProcess();
    // Bytes are cloned (not transferred): the predictor keeps its copy to reload after a crash.
    worker.postMessage({ type: 'load', model: source, options } satisfies ToWorker);
    const timeout = this.clock.sleep(loadTimeoutMs, timer.signal).then(
      () => {
        throw new ContainerError('TIMEOUT', `loading the model took longer than ${loadTimeoutMs} ms`);
      },
      () => undefined,
    );
    try {
      const meta = await Promise.race([loaded, timeout]);
      if (!meta) throw new ContainerError('TIMEOUT', 'model load aborted');
      this.specs = meta.inputs.map(toSpec);
      const fixed = meta.inputs
        .map((m) => m.shape?.[0])
        .filter((d): d is number => typeof d === 'number' && d > 0);
      this.fixedBatch = fixed.length > 0 ? Math.min(...fixed) : undefined;
      this.outputs = meta.outputs.map((m) => m.name);
      this.model = source;
      this.serving = true;
    } catch (err) {
      // A worker stuck in a load cannot be trusted with the next one: replace it.
      if (err instanceof ContainerError && err.code === 'TIMEOUT') {
        this.replace(
          worker,
          new ContainerError('CRASHED', 'the onnx worker was replaced after a load timeout'),
        );
      }
      throw err;
    } finally {
      timer.abort();
      this.loadWaiter = undefined;
      this.holdProcess();
    }
  }

  private onMessage(msg: FromWorker): void {
    if (msg.type === 'loaded') this.loadWaiter?.resolve(msg);
    else if (msg.type === 'load-failed') {
      this.loadWaiter?.reject(
        new ContainerError('LOAD_FAILED', `onnxruntime could not load the model: ${msg.message}`),
      );
    } else if (msg.type === 'result' || msg.type === 'run-failed') {
      const call = this.pending.get(msg.id);
      if (!call) return;
      this.pending.delete(msg.id);
      this.holdProcess();
      if (msg.type === 'run-failed') {
        call.reject(new ContainerError('BAD_INPUT', `onnxruntime rejected the batch: ${msg.message}`));
        return;
      }
      try {
        const outputs: Query = {};
        for (const [name, t] of Object.entries(msg.outputs)) {
          outputs[name] = { dtype: t.dtype, shape: t.dims, data: t.data as Tensor['data'] };
        }
        call.resolve(unstackBatch(outputs, call.n));
      } catch (err) {
        call.reject(err as Error);
      }
    }
  }

  /**
   * The worker died or was abandoned: fail what it held with CRASHED and, if it was serving, start a new
   * worker with the same model. Events from workers already replaced are ignored.
   */
  private replace(worker: Worker, cause: unknown): void {
    if (this.worker !== worker) return;
    const wasServing = this.serving;
    this.worker = undefined;
    this.serving = false;
    this.retire(worker);
    const detail = cause instanceof Error ? cause.message : String(cause);
    const crash =
      cause instanceof ContainerError
        ? cause
        : new ContainerError('CRASHED', `onnx worker died: ${detail}`, { cause });
    this.failAll(crash);
    if (wasServing && !this.disposed && this.model !== undefined) {
      this.restartCount++;
      this.ready = quiet(this.start(this.model));
    }
  }

  /**
   * Asks a worker to end itself. Its message handler runs only between native calls, so it exits at a
   * safe point; `worker.terminate()` during `session.run` aborts the whole process (onnxruntime throws a
   * C++ exception into a dying environment). A dead worker ignores the message.
   */
  private retire(worker: Worker): void {
    worker.postMessage({ type: 'exit' } satisfies ToWorker);
    worker.unref();
  }

  private failAll(err: Error): void {
    for (const call of this.pending.values()) call.reject(err);
    this.pending.clear();
    this.loadWaiter?.reject(err);
    this.loadWaiter = undefined;
  }

  /** Keeps the process alive only while the worker has work, so an idle predictor never holds it open. */
  private holdProcess(): void {
    const worker = this.worker;
    if (!worker) return;
    if (this.pending.size > 0 || this.loadWaiter) worker.ref();
    else worker.unref();
  }
}
