import type { DefaultReason, TaskOutcome } from './query.js';

/**
 * Live counters of a model version's answers (plain increments, no cost per query worth measuring):
 * `answered` = the model's output returned (cached or not); `defaulted` = the default output because of
 * this version (SLO miss, admission, expiry, queue full, replica failure, shutdown); `failed` = the part of
 * `defaulted` due to a replica error (crash, model error, rejected input). A canary is judged by them.
 */
export interface VersionStats {
  answered: number;
  defaulted: number;
  failed: number;
}

/** Counts an outcome in its version's stats. */
export function countOutcome(stats: VersionStats, outcome: TaskOutcome): void {
  if (outcome.ok) stats.answered++;
  else {
    stats.defaulted++;
    if (isReplicaError(outcome)) stats.failed++;
  }
}

/** Whether an outcome is a replica's fault (counted as `failed`), not the deadline's or the queue's. */
export function isReplicaError(outcome: TaskOutcome): boolean {
  return !outcome.ok && REPLICA_ERRORS.has(outcome.reason);
}

/** Reasons that are a replica's fault, counted as `failed`. */
const REPLICA_ERRORS: ReadonlySet<DefaultReason> = new Set(['crashed', 'model-error', 'bad-input']);
