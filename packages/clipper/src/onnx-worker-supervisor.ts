import type { Clock } from '@geoml/core';
import { ContainerError } from './errors.js';
import type { Source } from './onnx-model-source.js';
import { type OnnxPredictorSettings as Settings, workerKindOf } from './onnx-predictor-config.js';
import { type LoadedModel, OnnxWorker } from './onnx-worker.js';
import { returnWorker, takeWorker } from './onnx-worker-pool.js';

/** How long `dispose` waits for a busy worker to finish its batch and exit. */
const EXIT_WAIT_MS = 5_000;

/** Marks a promise's rejection as handled (callers still see it when they await). */
function quiet<T>(p: Promise<T>): Promise<T> {
  p.catch(() => undefined);
  return p;
}

/**
 * The worker thread behind one `OnnxPredictor`, through its whole life: spawns it (or takes a spare from
 * the pool), loads the model into it, replaces it with the same model when it dies or is abandoned, and
 * retires it (or gives it back to the pool) on `dispose`. Kept apart from the batch path so a crash
 * handled here is seen there only as a worker that is, or is not, serving.
 */
export class OnnxWorkerSupervisor {
  private model: Source | undefined;
  private worker: OnnxWorker | undefined;
  /** True while `worker` holds a loaded session. */
  private serving = false;
  /** The load in progress or done; undefined before the first `load`. */
  private loading: Promise<void> | undefined;
  private retired = false;
  private restartCount = 0;
  /** Every worker not yet exited: the current one, and retired ones finishing a batch. */
  private readonly alive = new Set<OnnxWorker>();

  constructor(
    private readonly config: Readonly<Settings>,
    private readonly clock: Clock,
    /** Called with each session's inputs and outputs once it is created, before it serves. */
    private readonly onLoaded: (model: LoadedModel) => void,
  ) {}

  /** The load in progress or done (a reload after a crash included); undefined before the first. */
  get ready(): Promise<void> | undefined {
    return this.loading;
  }

  /** The worker holding a loaded session, or undefined while none does (restarting, or disposed). */
  get servingWorker(): OnnxWorker | undefined {
    return this.serving ? this.worker : undefined;
  }

  /** True once `dispose` was called. */
  get disposed(): boolean {
    return this.retired;
  }

  /** How many times the worker was replaced after a crash or timeout. */
  get restarts(): number {
    return this.restartCount;
  }

  /**
   * Loads `source` after any load in progress: into the serving worker (which keeps its old session if
   * the new one fails), or else into a new one.
   */
  load(source: Source): Promise<void> {
    const attempt = (this.loading ?? Promise.resolve())
      .catch(() => undefined)
      .then(() => (this.serving && this.worker ? this.loadInto(this.worker, source) : this.start(source)));
    this.loading = quiet(
      attempt.catch((err) => {
        if (!this.serving) throw err;
      }),
    );
    return attempt;
  }

  /** The current thread's kernel id and priority mode, once the load in progress ends. */
  async boot(): Promise<{ tid: number | undefined; background: boolean } | undefined> {
    await this.loading?.catch(() => undefined);
    return this.worker?.boot();
  }

  /** See `OnnxPredictor.dispose`. Idempotent. */
  async dispose(): Promise<void> {
    if (this.retired) return;
    this.retired = true;
    // Calls waiting for a load find the predictor disposed when it ends.
    this.loading = undefined;
    const worker = this.worker;
    this.worker = undefined;
    this.serving = false;
    const kind = workerKindOf(this.config);
    const released = worker && this.config.reuseWorkers ? returnWorker(worker, kind) : undefined;
    if (released && worker) {
      // The thread stays (a spare); its session is gone once `released` resolves.
      this.alive.delete(worker);
      await released;
    } else worker?.retire(new ContainerError('DISPOSED', 'the predictor was disposed'));
    if (this.alive.size === 0) return;
    const bound = new AbortController();
    await Promise.race([
      Promise.all([...this.alive].map((w) => w.exited)),
      this.clock.sleep(EXIT_WAIT_MS, bound.signal).catch(() => undefined),
    ]);
    bound.abort();
  }

  /** Spawns workers and loads `source`, replacing a worker that dies while loading up to maxRespawns times. */
  private async start(source: Source): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const worker = this.spawn();
      try {
        await this.loadInto(worker, source);
        return;
      } catch (err) {
        if (this.worker === worker) {
          this.worker = undefined;
          worker.retire();
        }
        const crashed = err instanceof ContainerError && err.code === 'CRASHED';
        if (!crashed || this.retired || attempt >= this.config.maxRespawns) throw err;
        this.restartCount++;
      }
    }
  }

  private spawn(): OnnxWorker {
    const { resourceLimits, background } = this.config;
    const owner = { clock: this.clock, onDeath: (dead: OnnxWorker) => this.replace(dead) };
    const worker = this.config.reuseWorkers
      ? takeWorker(workerKindOf(this.config), owner)
      : new OnnxWorker({ ...owner, background, ...(resourceLimits ? { resourceLimits } : {}) });
    this.alive.add(worker);
    void worker.exited.then(() => this.alive.delete(worker));
    this.worker = worker;
    this.serving = false;
    return worker;
  }

  private async loadInto(worker: OnnxWorker, source: Source): Promise<void> {
    const c = this.config;
    const sessionOptions = {
      intraOpNumThreads: c.intraOpNumThreads,
      interOpNumThreads: c.interOpNumThreads,
      graphOptimizationLevel: c.graphOptimizationLevel,
      executionMode: c.executionMode,
      executionProviders: c.executionProviders,
      enableCpuMemArena: c.enableCpuMemArena,
      enableMemPattern: c.enableMemPattern,
    };
    const meta: LoadedModel =
      typeof source === 'string'
        ? await worker.load(source, sessionOptions, c.loadTimeoutMs)
        : await worker.load(source.bytes, sessionOptions, c.loadTimeoutMs, source.sha256);
    this.onLoaded(meta);
    this.model = source;
    this.serving = true;
  }

  /** The current worker died or was abandoned: if it was serving, start a new one with the same model. */
  private replace(dead: OnnxWorker): void {
    if (this.worker !== dead) return;
    const wasServing = this.serving;
    this.worker = undefined;
    this.serving = false;
    if (wasServing && !this.retired && this.model !== undefined) {
      this.restartCount++;
      this.loading = quiet(this.start(this.model));
    }
  }
}
