import type { Tensor } from '@geoml/core';
import { z } from 'zod';
import type { ArtifactFiles, ArtifactLoaderOptions } from './artifact-loader.js';
import { modelDeploymentSchema } from './config.js';
import type { HotLoadEvent, HotLoadMetrics } from './hot-load-events.js';

type Query = Record<string, Tensor>;

/** The plain settings of one watched model; every field has a default. */
export const hotLoadOptionsSchema = z.strictObject({
  /** Name of the model in the registry; default the deployed model's name. */
  artifact: z.string().min(1).optional(),
  /** Replicas of each version. */
  replicas: z.int().min(1).max(64).default(1),
  /** Versions kept loaded, the serving one included: 1 disposes each old version once it drains. */
  keepVersions: z.int().min(1).max(16).default(1),
  /** Load the newest published version when the watch starts (when newer than what serves). */
  fromLatest: z.boolean().default(true),
  /** Batch sizes each replica runs once before it is deployed. */
  warmUpBatchSizes: z.array(z.int().min(1).max(4096)).min(1).max(16).default([1]),
  /**
   * Shadow queries sent through the new version's own queue while it is deployed dark, before the swap;
   * each must be answered by the model in `canaryTimeoutMs`, else the version is refused. 0 = none.
   */
  canaryQueries: z.int().min(0).max(100_000).default(0),
  canaryTimeoutMs: z.number().positive().max(600_000).default(10_000),
  /**
   * Live canary: after the shadow queries, this share of the model's live traffic goes to the new version
   * (`Clipper.setCanary`) before the swap; it is refused (the serving version untouched) if its defaulted or
   * failed share exceeds the serving version's by more than `canaryMargin`. Unset = no live canary.
   */
  canaryShare: z.number().gt(0).max(1).optional(),
  /** The live canary runs at least this long (ms)... */
  canaryDurationMs: z.number().min(0).max(3_600_000).default(5_000),
  /** ...and until the new version has had at least this many live queries. */
  canaryMinQueries: z.int().min(0).max(10_000_000).default(50),
  /** A live canary without `canaryMinQueries` queries by then is refused (ms from its start). */
  canaryMaxMs: z.number().positive().max(86_400_000).default(60_000),
  /** How much larger (absolute share, 0.01 = one point) the canary's defaulted/failed shares may be. */
  canaryMargin: z.number().min(0).max(1).default(0.01),
  /**
   * Boot a spare ONNX worker thread (onnxruntime imported, lowest priority) once a version serves, so the
   * next version only creates its session; after a swap the old version's threads become spares anyway.
   */
  prestartWorker: z.boolean().default(true),
  /** Refuse a version whose warm-up or canary answers hold NaN or ±Infinity. */
  rejectNonFinite: z.boolean().default(true),
  /** How long an old version may take to finish its queued queries before it is removed anyway. */
  drainTimeoutMs: z.number().min(0).max(3_600_000).default(30_000),
  /** Deployment settings of every version (batching, queue bound, cache, input type, ...). */
  deploy: modelDeploymentSchema
    .pick({ batching: true, maxQueueLength: true, cache: true, budgetDecay: true, inputType: true })
    .partial()
    .default({}),
});

/** Callbacks and inputs of one watched model (not plain data, so not part of the schema). */
export interface HotLoadHooks {
  /** The warm-up query; default zeros shaped from the model's inputs (free dimensions as 1). */
  readonly warmUpInput?: Query;
  /** Canary inputs, cycled through `canaryQueries` times; default the warm-up query. */
  readonly canaryInputs?: readonly Query[];
  /**
   * An acceptance test on the canary answers (e.g. accuracy on held-out data, or agreement with the
   * serving version): throw to refuse the version.
   */
  readonly accept?: (check: {
    model: string;
    version: string;
    artifact: ArtifactFiles['artifact'];
    inputs: readonly Query[];
    outputs: readonly Query[];
  }) => void | Promise<void>;
  /** Containers per artifact format (ONNX session settings, tfjs options, custom loaders). */
  readonly loader?: ArtifactLoaderOptions;
}

export type HotLoadOptions = z.input<typeof hotLoadOptionsSchema> & HotLoadHooks;
/** Parsed options with their hooks. */
export type HotLoadSettings = z.output<typeof hotLoadOptionsSchema> & HotLoadHooks;

export interface HotLoaderOptions {
  /** Called with every event (also see `on`). */
  readonly onEvent?: (event: HotLoadEvent) => void;
  /** Counters (e.g. `HotLoadCounters` for Prometheus). */
  readonly metrics?: HotLoadMetrics;
  /** How often a draining version's queue is checked, ms. */
  readonly drainPollMs?: number;
}

/** What `watch` found: the version serving once the initial load (if any) is done. */
export interface WatchStatus {
  readonly model: string;
  readonly servingVersion: string | undefined;
}
