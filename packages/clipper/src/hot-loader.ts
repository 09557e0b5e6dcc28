import { parseConfig } from '@geoml/core';
import type { ModelRegistry, ModelWatch } from '@geoml/transport';
import type { Clipper } from './clipper.js';
import { HotLoadError, type HotLoadEvent, type HotLoadMetrics, report } from './hot-load-events.js';
import {
  type HotLoaderOptions,
  type HotLoadOptions,
  type HotLoadSettings,
  hotLoadOptionsSchema,
  type WatchStatus,
} from './hot-load-options.js';
import { deferRetirement } from './onnx-worker-pool.js';
import { asError, VersionRollout, type Watched } from './version-rollout.js';

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
  private readonly rollout: VersionRollout;
  private stopped = false;

  constructor(
    clipper: Clipper,
    private readonly registry: ModelRegistry,
    options: HotLoaderOptions = {},
  ) {
    if (options.onEvent) this.listeners.add(options.onEvent);
    this.metrics = options.metrics;
    this.rollout = new VersionRollout({
      clipper,
      registry,
      drainPollMs: options.drainPollMs ?? 5,
      emit: (event) => this.emit(event),
      running: () => !this.stopped,
    });
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
    // With spare threads prestarted after each swap, used-up ones end then too (not inside the swap).
    if (settings.prestartWorker) w.undefer = deferRetirement();
    const name = settings.artifact ?? model;
    try {
      w.watch = await this.registry.watch(name, {
        signal: w.stop.signal,
        onError: (error) => this.emit({ type: 'failed', model, version: undefined, stage: 'watch', error }),
      });
    } catch (e) {
      this.models.delete(model);
      w.undefer?.();
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
    await this.serially(w, () => this.rollout.install(w, v, 'swapped', true));
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
      await this.rollout.install(w, n, 'rolled-back', true);
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
    w.undefer?.();
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
      await this.rollout.install(w, v, 'swapped', false).catch(() => undefined); // reported as `failed`
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

  private servingVersion(model: string): string | undefined {
    return this.rollout.servingVersion(model);
  }

  private get(model: string): Watched {
    const w = this.models.get(model);
    if (!w) throw new HotLoadError('NOT_WATCHED', `model ${model} is not watched by this hot-loader`);
    return w;
  }

  private assertRunning(): void {
    if (this.stopped) throw new HotLoadError('STOPPED', 'the hot-loader was stopped');
  }

  private emit(event: HotLoadEvent): void {
    report(this.listeners, this.metrics, event);
  }
}
