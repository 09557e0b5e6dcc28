import type { InputSpec } from '../stack.js';

/** One batch's hold on a replica, from `ReplicaRouter.lease` until `release`. */
export interface ReplicaLease {
  readonly replica: string;
  /** The replica's own subject. */
  readonly subject: string;
  readonly inputs: readonly InputSpec[];
  /** Resolves when the replica is dropped or says goodbye (never rejects). */
  readonly gone: Promise<void>;
  release(): void;
}

/** Chooses the replica a batch goes to; `undefined` when none is known (the queue group then decides). */
export interface ReplicaRouter {
  lease(model: string, version: string): ReplicaLease | undefined;
}
