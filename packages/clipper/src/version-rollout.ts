import type { Tensor } from '@geoml/core';
import type { ModelRegistry, ModelWatch } from '@geoml/transport';
import { checkFinite, onnxReplicaSettings, type ReplicaMaker, replicaMaker } from './artifact-loader.js';
import type { Clipper } from './clipper.js';
import type { ModelDeployment } from './config.js';
import { HotLoadError, type HotLoadEvent, type HotLoadStage } from './hot-load-events.js';
import type { HotLoadSettings } from './hot-load-options.js';
import { runLiveCanary } from './live-canary.js';
import { nextTurn } from './next-turn.js';
import { type OnnxPredictorSettings, workerKindOf } from './onnx-predictor-config.js';
import { deployDark } from './version-deploy.js';
import { tidyAtIdleMoments } from './worker-upkeep.js';

type Query = Record<string, Tensor>;

/** One model as the hot-loader follows it. */
export interface Watched {
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
  /** Its ONNX replicas' settings, parsed for its first ONNX version (parsing is not free). */
  onnx?: OnnxPredictorSettings;
  /** Its versions' deployment settings, parsed for its first version (version and metadata vary). */
  deployment?: ModelDeployment;
  /** Ends the pool's wait for this watch to end used-up ONNX threads (see `deferRetirement`). */
  undefer?: () => void;
}

/** What a rollout needs from its hot-loader. */
export interface RolloutContext {
  readonly clipper: Clipper;
  readonly registry: ModelRegistry;
  readonly drainPollMs: number;
  emit(event: HotLoadEvent): void;
  /** False once the hot-loader was stopped. */
  running(): boolean;
}

/**
 * The way of one version to serving (TF Serving's availability-preserving transition): resolve (sha256
 * verified by the registry) → load `replicas` containers → warm up → deploy dark → shadow canary queries
 * → optional live canary share → atomic swap (`Clipper.setServingVersion`) → the old version drains and
 * is disposed (or kept, up to `keepVersions`). A failure at any step before the swap leaves the serving
 * version as it was and is reported as a `failed` event naming the stage.
 */
export class VersionRollout {
  private readonly clipper: Clipper;
  private readonly registry: ModelRegistry;
  private readonly drainPollMs: number;

  constructor(private readonly ctx: RolloutContext) {
    this.clipper = ctx.clipper;
    this.registry = ctx.registry;
    this.drainPollMs = ctx.drainPollMs;
  }

  /**
   * Takes `version` to serving: reuse it if still deployed, else resolve → load → warm up → deploy
   * dark → canary → swap; then retire old versions. Any failure before the swap leaves the serving
   * version as it was, is reported, and (when `rethrow`) rejects with `INSTALL_FAILED`.
   */
  async install(
    w: Watched,
    version: number,
    kind: 'swapped' | 'rolled-back',
    rethrow: boolean,
  ): Promise<void> {
    const { model, settings } = w;
    const v = String(version);
    const from = this.servingVersion(model);
    if (from === v) return;
    const loaded = this.clipper.getModelVersion(model, v) !== undefined;
    let stage: HotLoadStage = 'resolve';
    let deployed = false;
    try {
      if (!loaded) {
        this.emit({ type: 'loading', model, version: v });
        const started = this.clipper.clock.now();
        // The announcement arrives in the same turn as the registry write that made it (in process: the
        // publisher's own): queries waiting go first.
        await nextTurn();
        // Fetched, not hashed: the files are checked where they are read (see `replicaMaker`).
        const fetched = await this.registry.fetch(settings.artifact ?? model, version);
        const maker = await replicaMaker(fetched, settings.loader, w);
        this.checkRunning(w);
        stage = 'load';
        await nextTurn();
        const setStage = (s: HotLoadStage) => {
          stage = s;
        };
        const input = await deployDark(this.clipper, w, v, maker, setStage, () => this.checkRunning(w));
        deployed = true;
        stage = 'canary';
        await this.canary(w, v, maker, input);
        this.checkRunning(w);
        if (settings.canaryShare !== undefined && from !== undefined) await this.liveCanary(w, v);
        this.emit({
          type: 'loaded',
          model,
          version: v,
          replicas: settings.replicas,
          loadMs: this.clipper.clock.now() - started,
        });
      }
      stage = 'swap';
      await nextTurn();
      this.clipper.setServingVersion(model, v);
    } catch (e) {
      const error = asError(e);
      // Bytes that do not match the registry's manifest fail resolving, wherever they were hashed.
      if ((error as { code?: unknown }).code === 'HASH_MISMATCH') stage = 'resolve';
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
    await nextTurn();
    await this.retire(w);
    if (settings.prestartWorker && !loaded) this.prestart(w);
  }

  /** A live share of traffic for the dark version, judged against the serving one (see `runLiveCanary`). */
  private async liveCanary(w: Watched, v: string): Promise<void> {
    const { model, settings } = w;
    const share = settings.canaryShare as number;
    this.emit({ type: 'canary', model, version: v, share, phase: 'started' });
    const report = await runLiveCanary(
      this.clipper,
      model,
      v,
      {
        share,
        durationMs: settings.canaryDurationMs,
        minQueries: settings.canaryMinQueries,
        maxMs: settings.canaryMaxMs,
        margin: settings.canaryMargin,
        pollMs: this.drainPollMs,
      },
      () => this.checkRunning(w),
    );
    this.emit({ type: 'canary', model, version: v, share, phase: 'passed', report });
  }

  /**
   * Once a version serves: ends used-up ONNX threads and boots a spare (in the background), at idle
   * moments, so the next version's replicas only create sessions; after the first swap the old
   * version's threads come back as spares.
   */
  private prestart(w: Watched): void {
    const { loader } = w.settings;
    const info = this.clipper.getModelVersion(w.model);
    const format = (info?.metadata?.artifact as { format?: string } | undefined)?.format;
    if (format !== 'onnx' || loader?.loaders?.onnx) return;
    w.onnx ??= onnxReplicaSettings(loader?.onnx);
    void tidyAtIdleMoments(this.clipper, w.model, workerKindOf(w.onnx), {
      pollMs: this.drainPollMs,
      waiting: () => w.pending !== undefined,
    }).catch(() => undefined); // a thread that fails to start is replaced by the next load
  }

  /** Shadow queries through the dark version's queue and batching, then the user's acceptance test. */
  private async canary(w: Watched, v: string, maker: ReplicaMaker, warmUpInput: Query): Promise<void> {
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
    await settings.accept?.({ model, version: v, artifact: maker.artifact, inputs, outputs });
  }

  /** Drains and disposes versions beyond `keepVersions` (most recently served kept). */
  async retire(w: Watched): Promise<void> {
    const { model, settings } = w;
    if (this.clipper.getModelVersion(model) === undefined) return; // nothing serves: nothing to retire
    const info = this.clipper.getModel(model);
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
      const info = this.clipper.getModelVersion(model, v);
      if (!info || (info.queueLength === 0 && info.replicas.every((r) => !r.busy))) return;
      await clock.sleep(this.drainPollMs);
    }
  }

  servingVersion(model: string): string | undefined {
    return this.clipper.getModelVersion(model)?.version;
  }

  /** Throws STOPPED once the hot-loader or this model's watch was stopped. */
  checkRunning(w: Watched): void {
    if (!this.ctx.running() || w.stop.signal.aborted)
      throw new HotLoadError('STOPPED', `the watch of model ${w.model} was stopped`);
  }

  private emit(event: HotLoadEvent): void {
    this.ctx.emit(event);
  }
}

/** Records `v` as the latest version that served (bounded history, no duplicates). */
export function remember(history: string[], v: string): void {
  const at = history.indexOf(v);
  if (at >= 0) history.splice(at, 1);
  history.push(v);
  if (history.length > 64) history.shift();
}

export function asError(e: unknown): Error {
  return e instanceof Error ? e : new Error(String(e));
}
