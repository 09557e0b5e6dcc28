/**
 * How a worker's read waits for the other workers sharing its parameter server:
 * `bsp` (every worker has finished the reader's previous clock), `ssp` (the slowest worker is at most
 * `staleness` clocks behind), `tap` (never waits: totally asynchronous parallel).
 */
export type SyncPolicy =
  | { readonly kind: 'bsp' }
  | { readonly kind: 'ssp'; readonly staleness: number }
  | { readonly kind: 'tap' };

/** The staleness bound a policy enforces: 0, s, or Infinity. */
export function stalenessBound(policy: SyncPolicy): number {
  switch (policy.kind) {
    case 'bsp':
      return 0;
    case 'ssp':
      if (!(Number.isInteger(policy.staleness) && policy.staleness >= 0)) {
        throw new RangeError(`SSP staleness must be an integer >= 0, got ${policy.staleness}`);
      }
      return policy.staleness;
    case 'tap':
      return Number.POSITIVE_INFINITY;
  }
}

/** Whether a reader at `clock` may read when the slowest worker sharing the server is at `min`. */
export function mayRead(policy: SyncPolicy, clock: number, min: number): boolean {
  return clock - min <= stalenessBound(policy);
}
