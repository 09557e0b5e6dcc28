import type { Predictor } from '@geoml/core';
import { type BatchController, createBatchController } from './batch-controller.js';
import type { BatchingConfig } from './config.js';
import type { Task } from './query.js';

/** A model replica: its container and the controller sizing its batches. */
export interface Replica {
  readonly index: number;
  readonly predictor: Predictor;
  readonly controller: BatchController;
  /** Batches handed to this replica directly (retries after another replica crashed), run before the queue. */
  readonly inbox: Task[][];
  /** The batch it is executing: at most one per replica. */
  inflight: readonly Task[] | undefined;
  /** When its batch in flight is predicted to end (clock ms); in the past when idle. */
  busyUntil: number;
  /** Set when the replica is being removed: its loop ends after the batch in flight. */
  retired: boolean;
  loop: Promise<void>;
}

/** A replica's state, for status pages and tests. */
export interface ReplicaStatus {
  readonly index: number;
  readonly busy: boolean;
  readonly mode: string;
  /** The batch size its controller currently allows. */
  readonly batchSize: number;
}

/** A new, idle replica (its loop not yet started). */
export function newReplica(index: number, predictor: Predictor, batching: BatchingConfig): Replica {
  return {
    index,
    predictor,
    controller: createBatchController(batching),
    inbox: [],
    inflight: undefined,
    busyUntil: 0,
    retired: false,
    loop: Promise.resolve(),
  };
}

export function replicaStatus(r: Replica): ReplicaStatus {
  return {
    index: r.index,
    busy: r.inflight !== undefined,
    mode: r.controller.mode,
    batchSize: r.controller.current,
  };
}

/** Another replica for a retry: an idle one if any, else the one with the fewest batches handed to it. */
export function retryTarget(replicas: readonly Replica[], failed: Replica): Replica | undefined {
  let best: Replica | undefined;
  let bestLoad = Number.POSITIVE_INFINITY;
  for (const r of replicas) {
    if (r === failed) continue;
    const load = (r.inflight ? 1 : 0) + r.inbox.length;
    if (load < bestLoad) {
      best = r;
      bestLoad = load;
    }
  }
  return best;
}
