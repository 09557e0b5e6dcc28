import type { CacheLookup } from './prediction-cache.js';
import type { DefaultReason } from './query.js';

/** One answered query (`predict` or `predictModel`). */
export interface PredictionEvent {
  /** The application, or undefined for a direct `predictModel` call. */
  readonly app: string | undefined;
  readonly model: string | undefined;
  readonly version: string | undefined;
  readonly latencyMs: number;
  readonly default: boolean;
  readonly reason: DefaultReason | undefined;
}

/** One batch a replica executed (successfully or not). */
export interface BatchEvent {
  readonly model: string;
  readonly version: string;
  readonly replica: number;
  readonly size: number;
  /** The size the controller allowed. */
  readonly cap: number;
  readonly latencyMs: number;
  readonly budgetMs: number;
  /** Time each query of the batch waited in its queue before the batch was sent. */
  readonly queueMs: readonly number[];
  /** False when the container failed the batch. */
  readonly ok: boolean;
}

/** Queries of a model version answered without being executed: refused, expired, or failed. */
export interface DropEvent {
  readonly model: string;
  readonly version: string;
  readonly reason: DefaultReason;
  readonly count: number;
}

export interface CacheEvent {
  readonly model: string;
  readonly version: string;
  readonly lookup: CacheLookup;
}

/**
 * Hooks the serving core calls as it works; every method is optional and must be cheap and must not throw
 * (a throwing hook is ignored). A frontend wires these to prom-client histograms and counters: latency per
 * app and model, batch size, queue time, cache hits, default ratio.
 */
export interface ServingMetrics {
  prediction?(event: PredictionEvent): void;
  batch?(event: BatchEvent): void;
  drop?(event: DropEvent): void;
  cache?(event: CacheEvent): void;
}

type Hook = keyof ServingMetrics;
type EventOf<K extends Hook> = Parameters<NonNullable<ServingMetrics[K]>>[0];

/** Calls `metrics[kind]` with `event`, ignoring a hook's own failure so metrics can never break serving. */
export function emit<K extends Hook>(metrics: ServingMetrics | undefined, kind: K, event: EventOf<K>): void {
  const hook = metrics?.[kind] as ((event: EventOf<K>) => void) | undefined;
  if (!hook) return;
  try {
    hook.call(metrics, event);
  } catch {
    // A broken metrics sink must not fail queries.
  }
}
