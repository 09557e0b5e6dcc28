import { type Clock, ConfigError, type Predictor } from '@geoml/core';
import { type CanaryInfo, CanarySplit } from './canary.js';
import type { BatchingConfig, InputType, ModelDeployment } from './config.js';
import type { ServingMetrics } from './metrics.js';
import type { ReplicaStatus } from './replica.js';
import { ModelVersionScheduler } from './scheduler.js';
import { ServingError } from './serving-error.js';
import type { VersionStats } from './version-stats.js';

/** Makes replica number `index` of a model version (e.g. an OnnxPredictor on the version's bytes). */
export type PredictorFactory = (index: number) => Predictor | Promise<Predictor>;

/** A deployed model version, as the admin API and the OIP metadata endpoints show it. */
export interface ModelVersionInfo {
  readonly name: string;
  readonly version: string;
  readonly serving: boolean;
  readonly ready: boolean;
  readonly inputType: InputType | undefined;
  readonly batching: BatchingConfig;
  readonly cache: boolean;
  readonly maxQueueLength: number;
  readonly queueLength: number;
  readonly replicas: readonly ReplicaStatus[];
  /** What the deployer attached (e.g. OIP input/output signatures). */
  readonly metadata: Readonly<Record<string, unknown>>;
  /** The version's answers since it was deployed, so a canary can be judged against the serving version. */
  readonly stats: VersionStats;
}

export interface ModelInfo {
  readonly name: string;
  readonly servingVersion: string | undefined;
  readonly versions: readonly ModelVersionInfo[];
  /** A version receiving a share of the live traffic beside the serving one (`Clipper.setCanary`). */
  readonly canary?: CanaryInfo;
}

interface ModelEntry {
  readonly versions: Map<string, ModelVersionScheduler>;
  /** The factory each version was deployed with, reused to scale it up. */
  readonly factories: Map<string, PredictorFactory>;
  serving: string | undefined;
  canary: CanarySplit | undefined;
}

/**
 * The deployed models: every version with its scheduler (queue and replicas), and which version of each
 * model serves. Applications link to model names; this resolves a name to its serving version.
 */
export class Deployments {
  private readonly models = new Map<string, ModelEntry>();
  /** `name:version` pairs whose replicas are being created, so a concurrent deploy of the same is refused. */
  private readonly deploying = new Set<string>();

  constructor(
    private readonly options: { clock: Clock; metrics: ServingMetrics | undefined; closeGraceMs: number },
  ) {}

  has(name: string): boolean {
    return this.models.has(name);
  }

  /** Every deployed version of `name` (none when the model is unknown). */
  versionsOf(name: string): ModelVersionScheduler[] {
    return [...(this.models.get(name)?.versions.values() ?? [])];
  }

  all(): ModelVersionScheduler[] {
    return [...this.models.values()].flatMap((e) => [...e.versions.values()]);
  }

  /** The scheduler of `version` (by default the serving one), or undefined. */
  find(name: string, version?: string): ModelVersionScheduler | undefined {
    const entry = this.models.get(name);
    const v = version ?? entry?.serving;
    return v === undefined ? undefined : entry?.versions.get(v);
  }

  /**
   * The version a live query of `name` goes to: the serving one, or its canary for the canary's share of
   * the queries. Undefined when the model is unknown or has no serving version.
   */
  route(name: string): ModelVersionScheduler | undefined {
    const entry = this.models.get(name);
    if (entry?.serving === undefined) return undefined;
    const { canary } = entry;
    return entry.versions.get(canary?.take() ? canary.version : entry.serving);
  }

  /** Like `find`, but throws `UNKNOWN_MODEL` / `UNKNOWN_VERSION`. */
  get(name: string, version?: string): ModelVersionScheduler {
    const entry = this.entry(name);
    const scheduler = this.find(name, version);
    if (scheduler) return scheduler;
    throw new ServingError(
      'UNKNOWN_VERSION',
      version === undefined && entry.serving === undefined
        ? `model ${name} has no serving version`
        : `model ${name} has no deployed version ${JSON.stringify(version ?? entry.serving)}`,
    );
  }

  /** Creates the replicas and starts serving the version; it becomes the serving one if `activate`. */
  async deploy(
    deployment: ModelDeployment,
    replicas: readonly Predictor[] | PredictorFactory,
    isClosed: () => boolean,
  ): Promise<ModelVersionScheduler> {
    const id = `${deployment.name}:${deployment.version}`;
    if (this.find(deployment.name, deployment.version) || this.deploying.has(id)) {
      throw new ServingError('ALREADY_EXISTS', `model ${id} is already deployed`);
    }
    this.deploying.add(id);
    let predictors: Predictor[];
    try {
      predictors = await createReplicas(replicas, deployment.replicas);
    } finally {
      this.deploying.delete(id);
    }
    if (isClosed()) {
      await Promise.allSettled(predictors.map((p) => p.dispose?.()));
      throw new ServingError('CLOSED', 'the serving core is closed');
    }
    const { clock, metrics, closeGraceMs } = this.options;
    const scheduler = new ModelVersionScheduler({
      deployment,
      predictors,
      clock,
      closeGraceMs,
      ...(metrics ? { metrics } : {}),
    });
    let entry = this.models.get(deployment.name);
    if (!entry) {
      entry = { versions: new Map(), factories: new Map(), serving: undefined, canary: undefined };
      this.models.set(deployment.name, entry);
    }
    entry.versions.set(deployment.version, scheduler);
    if (typeof replicas === 'function') entry.factories.set(deployment.version, replicas);
    if (deployment.activate || entry.serving === undefined) entry.serving = deployment.version;
    return scheduler;
  }

  /** Makes `version` the serving one; a canary of that version has then taken over, and ends. */
  setServing(name: string, version: string): void {
    this.get(name, version);
    const entry = this.entry(name);
    entry.serving = version;
    if (entry.canary?.version === version) entry.canary = undefined;
  }

  /** Sends `share` of the live traffic of `name` to `version` (one canary per model; replaces any). */
  setCanary(name: string, version: string, share: number): void {
    const entry = this.entry(name);
    const scheduler = this.get(name, version);
    if (entry.serving === undefined) {
      throw new ServingError(
        'INVALID_INPUT',
        `model ${name} has no serving version to take a canary's share from`,
      );
    }
    if (version === entry.serving) {
      throw new ServingError(
        'INVALID_INPUT',
        `model ${name}:${version} is the serving version; a canary must be another deployed version`,
      );
    }
    if (scheduler.closed) throw new ServingError('CLOSED', `model ${name}:${version} is shutting down`);
    entry.canary = new CanarySplit(version, share);
  }

  /** Sends all live traffic of `name` back to its serving version. */
  clearCanary(name: string): void {
    this.entry(name).canary = undefined;
  }

  /** Removes a version (the serving one only with `force`) and closes its scheduler. */
  async undeploy(name: string, version: string, force: boolean): Promise<void> {
    const scheduler = this.get(name, version);
    const entry = this.entry(name);
    if (entry.serving === version && !force) {
      throw new ServingError(
        'IN_USE',
        `model ${name}:${version} is the serving version; set another serving version first, or pass force`,
      );
    }
    entry.versions.delete(version);
    entry.factories.delete(version);
    if (entry.serving === version) entry.serving = undefined;
    if (entry.canary?.version === version) entry.canary = undefined;
    if (entry.versions.size === 0) this.models.delete(name);
    await scheduler.close();
  }

  /**
   * Sets a version's replica count (Clipper's `set_num_replicas`): new replicas come from `factory`, or
   * the one the version was deployed with; surplus ones finish their batch and are disposed.
   */
  async scale(name: string, version: string, count: number, factory?: PredictorFactory): Promise<void> {
    const scheduler = this.get(name, version);
    const current = scheduler.replicaCount;
    if (count > current) {
      const make = factory ?? this.entry(name).factories.get(version);
      if (!make) {
        throw new ConfigError(
          `invalid replica scaling: factory: model ${name}:${version} was deployed with fixed predictors; pass a factory`,
          ['factory'],
        );
      }
      const added = await createReplicas((i) => make(current + i), count - current);
      if (scheduler.closed) {
        await Promise.allSettled(added.map((p) => p.dispose?.()));
        throw new ServingError('CLOSED', `model ${name}:${version} was undeployed while scaling`);
      }
      for (const predictor of added) scheduler.addReplica(predictor);
    }
    for (let n = current; n > count; n--) await scheduler.removeReplica();
  }

  info(name: string, closed: boolean): ModelInfo {
    const entry = this.entry(name);
    const versions = [...entry.versions.values()].map((s) =>
      versionInfo(s, entry.serving === s.version, closed),
    );
    const info = { name, servingVersion: entry.serving, versions };
    return entry.canary ? { ...info, canary: entry.canary.info() } : info;
  }

  names(): string[] {
    return [...this.models.keys()];
  }

  private entry(name: string): ModelEntry {
    const entry = this.models.get(name);
    if (!entry) throw new ServingError('UNKNOWN_MODEL', `no model named ${JSON.stringify(name)} is deployed`);
    return entry;
  }
}

export function versionInfo(s: ModelVersionScheduler, serving: boolean, closed: boolean): ModelVersionInfo {
  const d = s.deployment;
  return {
    name: s.name,
    version: s.version,
    serving,
    ready: !s.closed && !closed,
    inputType: d.inputType,
    batching: d.batching,
    cache: d.cache,
    maxQueueLength: d.maxQueueLength,
    queueLength: s.queueLength,
    replicas: s.replicaStatus(),
    metadata: d.metadata,
    stats: { ...s.stats },
  };
}

/** The predictors given, or those the factory makes (all or none: a failed one disposes the others). */
async function createReplicas(
  replicas: readonly Predictor[] | PredictorFactory,
  count: number,
): Promise<Predictor[]> {
  if (typeof replicas !== 'function') {
    replicas.forEach((p, i) => {
      if (!p || typeof (p as Predictor).predict !== 'function') {
        throw new ConfigError(
          `invalid model deployment: replicas.${i}: not a Predictor (no predict method)`,
          [`replicas.${i}`],
        );
      }
    });
    return [...replicas];
  }
  const made = await Promise.allSettled(
    Array.from({ length: count }, (_, i) => Promise.resolve().then(() => replicas(i))),
  );
  const ok = made.flatMap((m) => (m.status === 'fulfilled' ? [m.value] : []));
  const failed = made.find((m): m is PromiseRejectedResult => m.status === 'rejected');
  if (failed || ok.some((p) => !p || typeof p.predict !== 'function')) {
    await Promise.allSettled(ok.map((p) => p?.dispose?.()));
    if (failed) throw failed.reason;
    throw new ConfigError('invalid model deployment: replicas: the factory returned a non-Predictor', [
      'replicas',
    ]);
  }
  return ok;
}
