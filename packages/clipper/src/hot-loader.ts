import { parseConfig, type Tensor } from '@geoml/core';
import type { ModelRegistry, ModelWatch } from '@geoml/transport';
import {
  type ArtifactFiles,
  checkFinite,
  checkInputs,
  type LoadedPredictor,
  loadReplica,
  signatureOf,
  warmUp,
  zeroInput,
} from './artifact-loader.js';
import type { Clipper } from './clipper.js';
import {
  HotLoadError,
  type HotLoadEvent,
  type HotLoadMetrics,
  type HotLoadStage,
  report,
} from './hot-load-events.js';
import {
  type HotLoaderOptions,
  type HotLoadOptions,
  type HotLoadSettings,
  hotLoadOptionsSchema,
  type WatchStatus,
} from './hot-load-options.js';

type Query = Record<string, Tensor>;

interface Watched {
  readonly model: string;
  readonly settings: HotLoadSettings;
  readonly stop: AbortController;
  watch: ModelWatch | undefined;
  /** Serial work on this model: loads, swaps and rollbacks never overlap. */
  chain: Promise<unknown>;
  /** Newest version announced by the watch and not yet taken up. */
  pending: number | undefined;
  /** Versions that served, oldest first (no duplicates): rollback goes to the one before the last. */
  readonly history: string[];
  loop: Promise<void> | undefined;
}

/**
 * Zero-downtime hot-loading (Clipper's model versions, Triton's `latest` version policy, TF Serving's
 * availability-preserving transitions): one registry watcher per deployed model. Each new version is
 * resolved (its sha256 verified by the registry), loaded into `replicas` containers, warmed up, deployed
 * dark, optionally checked with canary queries through its own queue, and swapped in atomically with
 * `Clipper.setServingVersion`; the old version finishes its queued queries and is disposed (or kept,
 * up to `keepVersions`). A version that fails any step never replaces the serving one; the failure is
 * reported as a `failed` event naming the stage. Versions announced while one loads are coalesced: only
 * the newest is loaded next.
 *
 * @example
 * const loader = new HotLoader(clipper, new ModelRegistry(transport), { onEvent: console.log });
 * await loader.watch('mnist', { replicas: 2 }); // serves the newest published version
 * clipper.registerApplication({ name: 'digits', inputType: 'tensor', latencySloMs: 20,
 *   defaultOutput: null, linkedModels: ['mnist'] });
 * // ... training publishes v2: it is loaded, warmed and swapped in while queries flow
 * await loader.rollback('mnist'); // back to v1
 * await loader.stop();
 */
export class HotLoader {
  private readonly models = new Map<string, Watched>();
  private readonly listeners = new Set<(event: HotLoadEvent) => void>();
  private readonly metrics: HotLoadMetrics | undefined;
  private readonly drainPollMs: number;
  private stopped = false;

  constructor(
    private readonly clipper: Clipper,
    private readonly registry: ModelRegistry,
    options: HotLoaderOptions = {},
  ) {
    if (options.onEvent) this.listeners.add(options.onEvent);
    this.metrics = options.metrics;
    this.drainPollMs = options.drainPollMs ?? 5;
  }

  /** Adds a listener for every event; returns the function that removes it. */
  on(listener: (event: HotLoadEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Models being watched. */
  watched(): string[] {
    return [...this.models.keys()];
  }

  /**
   * Starts watching the registry for `model` and, with `fromLatest` (default), loads the newest
   * published version when it is newer than what serves (a model Clipper already serves is adopted).
   * Resolves once the watch is live and that first load is done (it may have failed: see the events).
   */
  async watch(model: string, options: HotLoadOptions = {}): Promise<WatchStatus> {
    this.assertRunning();
    if (this.models.has(model))
      throw new HotLoadError('ALREADY_WATCHED', `model ${model} is already watched`);
    const { warmUpInput, canaryInputs, accept, loader, ...plain } = options;
    const parsed = parseConfig(hotLoadOptionsSchema, plain, `hot-load options of ${model}`);
    const settings: HotLoadSettings = { ...parsed, warmUpInput, canaryInputs, accept, loader };
    const w: Watched = {
      model,
      settings,
      stop: new AbortController(),
      watch: undefined,
      chain: Promise.resolve(),
      pending: undefined,
      history: [],
      loop: undefined,
    };
    const serving = this.servingVersion(model);
    if (serving !== undefined) w.history.push(serving);
    this.models.set(model, w);
    const name = settings.artifact ?? model;
    try {
      w.watch = await this.registry.watch(name, {
        signal: w.stop.signal,
        onError: (error) => this.emit({ type: 'failed', model, version: undefined, stage: 'watch', error }),
      });
    } catch (e) {
      this.models.delete(model);
      throw e;
    }
    w.loop = this.follow(w, w.watch);
    if (settings.fromLatest) {
      let latest: number | undefined;
      try {
        latest = (await this.registry.list(name)).at(-1);
      } catch (e) {
        await this.unwatch(model);
        throw e;
      }
      if (latest !== undefined) this.announce(w, latest);
    }
    await w.chain;
    return { model, servingVersion: this.servingVersion(model) };
  }

  /**
   * Loads `version` (default the newest published) of a watched model and swaps it in, whatever the
   * serving version is: a retry after a failure, or a roll forward by hand. Rejects with
   * `HotLoadError('INSTALL_FAILED')` (the serving version unchanged) when it does not load.
   */
  async load(model: string, version: number | 'latest' = 'latest'): Promise<WatchStatus> {
    const w = this.get(model);
    const v =
      version === 'latest' ? (await this.registry.list(w.settings.artifact ?? model)).at(-1) : version;
    if (v === undefined) throw new HotLoadError('INSTALL_FAILED', `model ${model} has no published version`);
    await this.serially(w, () => this.install(w, v, 'swapped', true));
    return { model, servingVersion: this.servingVersion(model) };
  }

  /**
   * Makes an older version serve again: `version`, or the one that served before the current one. A
   * version still loaded is swapped back at once; a disposed one is resolved, loaded and warmed up
   * again from the registry first. Rejects with `NO_PREVIOUS` or `INSTALL_FAILED` (nothing changed).
   * Versions published later are still hot-loaded (call `unwatch` to pin the model).
   */
  async rollback(model: string, version?: number | string): Promise<WatchStatus> {
    const w = this.get(model);
    await this.serially(w, async () => {
      const current = this.servingVersion(model);
      const target = version !== undefined ? String(version) : w.history.filter((v) => v !== current).at(-1);
      if (target === undefined)
        throw new HotLoadError('NO_PREVIOUS', `model ${model}: no earlier version has served`);
      const n = Number(target);
      if (!Number.isInteger(n) || n < 1)
        throw new HotLoadError(
          'INSTALL_FAILED',
          `model ${model}: version ${target} is not a registry version`,
        );
      await this.install(w, n, 'rolled-back', true);
    });
    return { model, servingVersion: this.servingVersion(model) };
  }

  /** Stops watching `model` (after the load in progress, if any); what serves keeps serving. */
  async unwatch(model: string): Promise<void> {
    const w = this.get(model);
    this.models.delete(model);
    w.stop.abort();
    w.watch?.stop();
    await Promise.allSettled([w.chain, w.loop]);
  }

  /** Stops every watch and waits for loads in progress; deployed versions stay deployed. Idempotent. */
  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.allSettled([...this.models.keys()].map((m) => this.unwatch(m)));
  }

  /** Resolves when the model has no load, swap or drain in progress or waiting. */
  async settled(model: string): Promise<void> {
    const w = this.get(model);
    for (let seen: Promise<unknown> | undefined; seen !== w.chain; ) {
      seen = w.chain;
      await seen.catch(() => undefined);
    }
  }

  // ---------------------------------------------------------------- internals

  private async follow(w: Watched, watch: ModelWatch): Promise<void> {
    try {
      for await (const artifact of watch) this.announce(w, artifact.version);
    } catch (error) {
      if (!w.stop.signal.aborted)
        this.emit({
          type: 'failed',
          model: w.model,
          version: undefined,
          stage: 'watch',
          error: asError(error),
        });
    }
  }

  /** Queues `version` for loading; a newer announcement before it starts replaces it. */
  private announce(w: Watched, version: number): void {
    const waiting = w.pending;
    if (waiting !== undefined && waiting >= version) return;
    if (waiting !== undefined)
      this.emit({ type: 'skipped', model: w.model, version: String(waiting), newer: String(version) });
    w.pending = version;
    if (waiting !== undefined) return; // a task is already queued and will take the newest
    void this.serially(w, async () => {
      const v = w.pending;
      w.pending = undefined;
      if (v === undefined || w.stop.signal.aborted) return;
      const serving = Number(this.servingVersion(w.model));
      if (Number.isFinite(serving) && v <= serving) return; // never roll back by announcement
      await this.install(w, v, 'swapped', false).catch(() => undefined); // reported as `failed`
    }).catch(() => undefined);
  }

  private serially<T>(w: Watched, task: () => Promise<T>): Promise<T> {
    const run = w.chain.then(
      () => task(),
      () => task(),
    );
    w.chain = run.catch(() => undefined);
    return run;
  }

  /**
   * Takes `version` to serving: reuse it if still deployed, else resolve → load → warm up → deploy
   * dark → canary → swap; then retire old versions. Any failure before the swap leaves the serving
   * version as it was, is reported, and (when `rethrow`) rejects with `INSTALL_FAILED`.
   */
  private async install(
    w: Watched,
    version: number,
    kind: 'swapped' | 'rolled-back',
    rethrow: boolean,
  ): Promise<void> {
    const { model, settings } = w;
    const v = String(version);
    const from = this.servingVersion(model);
    if (from === v) return;
    const loaded = this.clipper
      .listModels()
      .find((m) => m.name === model)
      ?.versions.some((x) => x.version === v);
    let stage: HotLoadStage = 'resolve';
    let deployed = false;
    try {
      if (!loaded) {
        this.emit({ type: 'loading', model, version: v });
        const started = this.clipper.clock.now();
        const resolved = await this.registry.resolve(settings.artifact ?? model, version);
        this.checkRunning(w);
        stage = 'load';
        const input = await this.deploy(w, v, resolved, (s) => {
          stage = s;
        });
        deployed = true;
        stage = 'canary';
        await this.canary(w, v, resolved, input);
        this.checkRunning(w);
        this.emit({
          type: 'loaded',
          model,
          version: v,
          replicas: settings.replicas,
          loadMs: this.clipper.clock.now() - started,
        });
      }
      stage = 'swap';
      this.clipper.setServingVersion(model, v);
    } catch (e) {
      const error = asError(e);
      if (deployed && this.servingVersion(model) !== v) {
        await this.clipper.undeployModel(model, v).catch(() => undefined);
      } else if (deployed && from === undefined) {
        // The first version of a model serves as soon as it is deployed: take it back down.
        await this.clipper.undeployModel(model, v, { force: true }).catch(() => undefined);
      }
      this.emit({ type: 'failed', model, version: v, stage, error });
      if (rethrow)
        throw new HotLoadError(
          error instanceof HotLoadError && error.code === 'STOPPED' ? 'STOPPED' : 'INSTALL_FAILED',
          `model ${model} v${v}: ${stage} failed: ${error.message}`,
          { cause: error },
        );
      return;
    }
    remember(w.history, v);
    this.emit({ type: kind, model, from, to: v });
    await this.retire(w);
  }

  /** Loads, checks and warms up the replicas and deploys them dark; returns the warm-up query. */
  private async deploy(
    w: Watched,
    v: string,
    resolved: ArtifactFiles,
    setStage: (stage: HotLoadStage) => void,
  ): Promise<Query> {
    const { model, settings } = w;
    const { artifact } = resolved;
    // Replica 0 is made first: its declared inputs and warm-up answer give the signature.
    const first = await loadReplica(resolved, settings.loader);
    let firstTaken = false;
    try {
      checkInputs(artifact, first);
      setStage('warm-up');
      const input = settings.warmUpInput ?? zeroInput(artifact, first);
      if (!input)
        throw new HotLoadError(
          'INSTALL_FAILED',
          'the model declares no inputs and the artifact metadata names none; pass warmUpInput',
        );
      const warm = { batchSizes: settings.warmUpBatchSizes, rejectNonFinite: settings.rejectNonFinite };
      const sample = await warmUp(first, input, warm);
      this.checkRunning(w);
      const signature = signatureOf(artifact, first, sample);
      setStage('load');
      // Further replicas load one after another: each load is a burst of CPU (a thread starting, a
      // session being built) that competes with the version still serving, so one burst at a time.
      let previous: Promise<unknown> = Promise.resolve();
      const factory = (index: number): Promise<LoadedPredictor> => {
        if (index === 0 && !firstTaken) {
          firstTaken = true;
          return Promise.resolve(first);
        }
        const made = previous.then(async () => {
          const replica = await loadReplica(resolved, settings.loader);
          try {
            await warmUp(replica, input, warm);
          } catch (e) {
            await replica.dispose?.();
            throw e;
          }
          return replica;
        });
        previous = made.catch(() => undefined);
        return made;
      };
      await this.clipper.deployModel(model, v, factory, {
        ...settings.deploy,
        replicas: settings.replicas,
        activate: false,
        metadata: {
          ...(signature ? { signature } : {}),
          artifact: {
            name: artifact.name,
            version: artifact.version,
            format: artifact.format,
            sha256: artifact.sha256,
            createdAt: artifact.createdAt,
          },
          ...(artifact.metadata.quality ? { quality: artifact.metadata.quality } : {}),
        },
      });
      firstTaken = true;
      return input;
    } finally {
      if (!firstTaken) await first.dispose?.();
    }
  }

  /** Shadow queries through the dark version's queue and batching, then the user's acceptance test. */
  private async canary(w: Watched, v: string, resolved: ArtifactFiles, warmUpInput: Query): Promise<void> {
    const { model, settings } = w;
    if (settings.canaryQueries === 0 && !settings.accept) return;
    const pool = settings.canaryInputs?.length ? settings.canaryInputs : [warmUpInput];
    const count = settings.canaryQueries || pool.length;
    const inputs = Array.from({ length: count }, (_, i) => pool[i % pool.length]!);
    const answers = await Promise.all(
      inputs.map((input) =>
        this.clipper.predictModel<Query>(model, input, { version: v, timeoutMs: settings.canaryTimeoutMs }),
      ),
    );
    const failed = answers.find((a) => a.default);
    if (failed)
      throw new Error(
        `a canary query was not answered (${failed.defaultReason}: ${failed.defaultExplanation ?? ''})`,
      );
    const outputs = answers.map((a) => a.output as Query);
    if (settings.rejectNonFinite) outputs.forEach(checkFinite);
    await settings.accept?.({ model, version: v, artifact: resolved.artifact, inputs, outputs });
  }

  /** Drains and disposes versions beyond `keepVersions` (most recently served kept). */
  private async retire(w: Watched): Promise<void> {
    const { model, settings } = w;
    const info = this.clipper.listModels().find((m) => m.name === model);
    if (!info) return;
    const rank = (v: string) => w.history.indexOf(v); // -1: never served through this loader
    const others = info.versions
      .map((x) => x.version)
      .filter((v) => v !== info.servingVersion)
      .sort((a, b) => rank(b) - rank(a));
    for (const v of others.slice(settings.keepVersions - 1)) {
      try {
        await this.drain(model, v, settings.drainTimeoutMs);
        await this.clipper.undeployModel(model, v);
        this.emit({ type: 'disposed', model, version: v });
      } catch (e) {
        this.emit({ type: 'failed', model, version: v, stage: 'drain', error: asError(e) });
      }
    }
  }

  /** Waits until version `v` has no queued query and no batch running, or `timeoutMs` passed. */
  private async drain(model: string, v: string, timeoutMs: number): Promise<void> {
    const clock = this.clipper.clock;
    const until = clock.now() + timeoutMs;
    while (clock.now() < until) {
      const info = this.clipper.getModel(model).versions.find((x) => x.version === v);
      if (!info || (info.queueLength === 0 && info.replicas.every((r) => !r.busy))) return;
      await clock.sleep(this.drainPollMs);
    }
  }

  private servingVersion(model: string): string | undefined {
    return this.clipper.listModels().find((m) => m.name === model)?.servingVersion;
  }

  private get(model: string): Watched {
    const w = this.models.get(model);
    if (!w) throw new HotLoadError('NOT_WATCHED', `model ${model} is not watched by this hot-loader`);
    return w;
  }

  private assertRunning(): void {
    if (this.stopped) throw new HotLoadError('STOPPED', 'the hot-loader was stopped');
  }

  private checkRunning(w: Watched): void {
    if (this.stopped || w.stop.signal.aborted)
      throw new HotLoadError('STOPPED', `the watch of model ${w.model} was stopped`);
  }

  private emit(event: HotLoadEvent): void {
    report(this.listeners, this.metrics, event);
  }
}

function remember(history: string[], v: string): void {
  const at = history.indexOf(v);
  if (at >= 0) history.splice(at, 1);
  history.push(v);
  if (history.length > 64) history.shift();
}

function asError(e: unknown): Error {
  return e instanceof Error ? e : new Error(String(e));
}
