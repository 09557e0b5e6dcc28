import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type { Clock, Tensor } from '@geoml/core';
import { ContainerError } from './errors.js';
import type { CrashMode, FromWorker, LoadedModel, ToWorker, WireTensor } from './onnx-worker-protocol.js';
import { ONNX_WORKER_SOURCE } from './onnx-worker-source.js';
import { lowerPriority, raisePriority, type ThreadPriority } from './thread-priority.js';

export type { CrashMode, LoadedModel, WireMeta } from './onnx-worker-protocol.js';

export interface OnnxWorkerOptions {
  readonly clock: Clock;
  readonly resourceLimits?: Worker['resourceLimits'];
  /** Called once if the thread dies or is abandoned (timeout) while not retired; calls in flight are already failed. */
  readonly onDeath: (worker: OnnxWorker) => void;
  /**
   * Boot, load and warm up at the lowest OS priority (Linux nice 19, per thread) until `serve()`, so a
   * model being loaded does not slow the ones serving. Ignored where the priority could not be raised back.
   */
  readonly background?: boolean;
}

interface Call<T> {
  resolve(value: T): void;
  reject(err: Error): void;
}

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

/**
 * One worker thread holding one onnxruntime session, and the calls in flight to it. Loads and runs are
 * answered in order. If the thread dies, every call in flight rejects with `CRASHED` and `onDeath` runs;
 * a call past its time bound rejects with `TIMEOUT` and the thread is abandoned the same way.
 */
export class OnnxWorker {
  /** Resolves when the thread has exited. */
  readonly exited: Promise<void>;
  private readonly thread: Worker;
  private readonly runs = new Map<number, Call<Record<string, Tensor>>>();
  /** Loads in flight, answered in the order they were sent. */
  private readonly loads: Call<LoadedModel>[] = [];
  private nextId = 1;
  private readonly releases: Call<void>[] = [];
  /** Set once the thread is dead, abandoned or retired: no more calls, no second `onDeath`. */
  private gone = false;
  /** True between `serve()` and `release()`. */
  private serving = false;
  private loadCount = 0;
  private booted: ThreadPriority | undefined;
  private readonly bootWaiters: ((info: { tid: number | undefined; background: boolean }) => void)[] = [];
  private options: OnnxWorkerOptions;

  constructor(options: OnnxWorkerOptions) {
    this.options = options;
    this.thread = new Worker(ONNX_WORKER_SOURCE, {
      eval: true,
      name: 'geoml-onnx',
      workerData: { ortPath: resolveOrt(), background: options.background ?? false },
      ...(options.resourceLimits ? { resourceLimits: options.resourceLimits } : {}),
    });
    this.thread.on('message', (msg: FromWorker) => this.onMessage(msg));
    this.thread.on('error', (err) => this.die(err));
    this.thread.on('exit', (code) => this.die(new Error(`worker exited with code ${code}`)));
    this.exited = new Promise((resolve) => this.thread.once('exit', () => resolve()));
    this.holdProcess();
  }

  /** False once the thread is dead, abandoned or retired. */
  get usable(): boolean {
    return !this.gone;
  }

  /** Sessions this thread was asked to create. */
  get loadsDone(): number {
    return this.loadCount;
  }

  /** No load, run or release in flight. */
  get idle(): boolean {
    return this.runs.size === 0 && this.loads.length === 0 && this.releases.length === 0;
  }

  /** The thread's kernel id and whether it runs in the background (resolves once it has booted). */
  boot(): Promise<{ tid: number | undefined; background: boolean }> {
    if (this.booted) return Promise.resolve(this.booted);
    return new Promise((resolve) => this.bootWaiters.push(resolve));
  }

  /** Hands the worker to a new owner (a pool's spare taken by a predictor): its clock and death callback. */
  adopt(options: Pick<OnnxWorkerOptions, 'clock' | 'onDeath'>): void {
    this.options = { ...this.options, ...options };
  }

  /**
   * From now on the thread runs at its normal priority: it serves. Raised from this thread, at once: a
   * message would first wait for the thread, still at nice 19, to get a core, and on a busy machine the
   * batch sent right after it (a new version's first) would wait with it.
   */
  serve(): void {
    if (this.serving || this.gone) return;
    this.serving = true;
    if (!this.options.background) return;
    if (raisePriority(this.booted)) return;
    this.thread.postMessage({ type: 'priority', serving: true } satisfies ToWorker);
  }

  /** True after `serve()` until `release()`. */
  get isServing(): boolean {
    return this.serving;
  }

  /**
   * Releases the session (in the background again) and keeps the thread, idle, for another model.
   * Rejects with CRASHED if the thread dies first.
   */
  release(): Promise<void> {
    if (this.gone) return Promise.reject(new ContainerError('CRASHED', 'the onnx worker is gone'));
    this.serving = false;
    // Lowered before it is woken: a thread woken at normal priority can take this thread's core and keep
    // it while it frees the session (~2 ms of the main thread's time per swap, seen as postMessage).
    if (this.options.background) lowerPriority(this.booted);
    const released = new Promise<void>((resolve, reject) => this.releases.push({ resolve, reject }));
    this.post({ type: 'release' });
    return released;
  }

  /**
   * Creates a session from `model`. Bytes in shared memory (a `SharedArrayBuffer` view, e.g. from an
   * in-process model registry) cross as they are: the worker copies them, so this thread neither copies
   * nor allocates the model. Other bytes are copied once and the copy transferred, so the caller keeps
   * them for a reload (structured cloning took ~6 ms of the main thread for a 0.8 MB model). With
   * `sha256` the worker hashes the bytes it builds from and refuses them (`HASH_MISMATCH`) unless they
   * match. A worker already serving keeps its old session if the new one fails (`LOAD_FAILED`).
   */
  load(
    model: Uint8Array | string,
    sessionOptions: Record<string, unknown>,
    timeoutMs: number,
    sha256?: string,
  ): Promise<LoadedModel> {
    if (this.gone) return Promise.reject(new ContainerError('CRASHED', 'the onnx worker is gone'));
    this.loadCount++;
    let call: Call<LoadedModel> | undefined;
    const loaded = new Promise<LoadedModel>((resolve, reject) => {
      call = { resolve, reject };
    });
    this.loads.push(call as Call<LoadedModel>);
    const checked = sha256 === undefined ? {} : { sha256 };
    if (typeof model === 'string' || model.buffer instanceof SharedArrayBuffer)
      this.post({ type: 'load', model, ...checked, options: sessionOptions });
    else {
      const copy = model.slice();
      this.post({ type: 'load', model: copy, ...checked, options: sessionOptions }, [
        copy.buffer as ArrayBuffer,
      ]);
    }
    return this.bounded(
      loaded,
      call as Call<LoadedModel>,
      timeoutMs,
      `loading the model took longer than ${timeoutMs} ms`,
    );
  }

  /** Runs one stacked batch; its buffers are transferred (detached here). */
  run(feeds: Record<string, Tensor>, timeoutMs?: number, crash?: CrashMode): Promise<Record<string, Tensor>> {
    if (this.gone) return Promise.reject(new ContainerError('CRASHED', 'the onnx worker is gone'));
    const wire: Record<string, WireTensor> = {};
    const transfer: ArrayBuffer[] = [];
    let n = 0;
    for (const [name, t] of Object.entries(feeds)) {
      wire[name] = { dtype: t.dtype, dims: [...t.shape], data: t.data };
      transfer.push(t.data.buffer as ArrayBuffer);
      n = t.shape[0] ?? 0;
    }
    const id = this.nextId++;
    let call: Call<Record<string, Tensor>> | undefined;
    const result = new Promise<Record<string, Tensor>>((resolve, reject) => {
      call = { resolve, reject };
    });
    this.runs.set(id, call as Call<Record<string, Tensor>>);
    this.post({ type: 'run', id, feeds: wire, ...(crash ? { crash } : {}) }, transfer);
    if (timeoutMs === undefined) return result;
    return this.bounded(
      result,
      call as Call<Record<string, Tensor>>,
      timeoutMs,
      `batch of ${n} took longer than ${timeoutMs} ms`,
    );
  }

  /**
   * Ends the thread without `onDeath`: it releases its session and exits at its next safe point (its
   * message handler runs only between native calls; `worker.terminate()` during `session.run` aborts the
   * whole process instead). Calls in flight reject with `err`.
   */
  retire(err: Error = new ContainerError('DISPOSED', 'the onnx worker was retired')): void {
    const first = !this.gone;
    this.gone = true;
    this.failAll(err);
    if (first) this.thread.postMessage({ type: 'exit' } satisfies ToWorker);
    this.thread.unref();
  }

  private post(message: ToWorker, transfer: ArrayBuffer[] = []): void {
    this.thread.postMessage(message, transfer);
    this.holdProcess();
  }

  /**
   * Fails `call` with TIMEOUT after `ms`. The thread, stuck in native code, is then abandoned as if it had
   * died: whatever else it held fails with CRASHED.
   */
  private bounded<T>(work: Promise<T>, call: Call<T>, ms: number, message: string): Promise<T> {
    const stop = new AbortController();
    this.options.clock.sleep(ms, stop.signal).then(
      () => {
        if (this.gone) return;
        call.reject(new ContainerError('TIMEOUT', message));
        this.retire(new ContainerError('CRASHED', 'the onnx worker was replaced after a timeout'));
        this.options.onDeath(this);
      },
      () => undefined,
    );
    return work.finally(() => stop.abort());
  }

  private die(cause: Error): void {
    if (this.gone) return;
    this.gone = true;
    this.failAll(new ContainerError('CRASHED', `onnx worker died: ${cause.message}`, { cause }));
    this.options.onDeath(this);
  }

  private onMessage(msg: FromWorker): void {
    if (msg.type === 'ready') {
      this.booted = { tid: msg.tid, background: msg.background, baseNice: msg.baseNice };
      for (const wake of this.bootWaiters.splice(0)) wake(this.booted);
    } else if (msg.type === 'released') {
      this.releases.shift()?.resolve();
    } else if (msg.type === 'loaded') {
      this.loads.shift()?.resolve({ inputs: msg.inputs, outputs: msg.outputs });
    } else if (msg.type === 'load-failed') {
      this.loads
        .shift()
        ?.reject(
          msg.code === 'HASH_MISMATCH'
            ? new ContainerError('HASH_MISMATCH', msg.message)
            : new ContainerError('LOAD_FAILED', `onnxruntime could not load the model: ${msg.message}`),
        );
    } else {
      const call = this.runs.get(msg.id);
      if (!call) return;
      this.runs.delete(msg.id);
      if (msg.type === 'run-failed') {
        call.reject(new ContainerError('BAD_INPUT', `onnxruntime rejected the batch: ${msg.message}`));
      } else {
        const outputs: Record<string, Tensor> = {};
        for (const [name, t] of Object.entries(msg.outputs)) {
          outputs[name] = { dtype: t.dtype, shape: t.dims, data: t.data as Tensor['data'] };
        }
        call.resolve(outputs);
      }
    }
    this.holdProcess();
  }

  private failAll(err: Error): void {
    for (const call of this.runs.values()) call.reject(err);
    this.runs.clear();
    for (const call of this.loads.splice(0)) call.reject(err);
    for (const call of this.releases.splice(0)) call.reject(err);
    this.booted ??= { tid: undefined, background: false, baseNice: 0 };
    for (const wake of this.bootWaiters.splice(0)) wake(this.booted);
  }

  /** Keeps the process alive only while the thread has work, so an idle predictor never holds it open. */
  private holdProcess(): void {
    if (this.gone) return;
    if (this.runs.size > 0 || this.loads.length > 0 || this.releases.length > 0) this.thread.ref();
    else this.thread.unref();
  }
}
