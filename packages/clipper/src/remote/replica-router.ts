import type { InputSpec } from '../stack.js';

/** One batch's hold on a replica, from `ReplicaRouter.lease` until `release`. */
export interface ReplicaLease {
  readonly replica: string;
  /** The replica's own subject. */
  readonly subject: string;
  readonly inputs: readonly InputSpec[];
  /**
   * Calls `listener` once if the replica is dropped or says goodbye while the lease is held; returns a
   * function removing the listener (so long-lived replicas do not collect one per batch).
   */
  onGone(listener: () => void): () => void;
  release(): void;
}

/** Chooses the replica a batch goes to; `undefined` when none is known (the queue group then decides). */
export interface ReplicaRouter {
  lease(model: string, version: string): ReplicaLease | undefined;
}
