import { VectorClock, withinStaleness } from '@geoml/core';
import { Condition } from './condition.js';

/**
 * Gaia's mirror clock for one shard: the clocks its mirrors (the servers holding the same keys in the
 * other regions) report on the control lane. A region at clock `t` serves reads only while
 * `t - min(mirror clocks) <= DS`; further ahead, its workers wait until the slowest region catches up.
 */
export class MirrorClock {
  readonly ds: number;
  private readonly mirrors: VectorClock;
  private readonly changed = new Condition();

  /** `peers`: the other regions; `ds`: data-center staleness bound (>= 0). */
  constructor(peers: readonly string[], ds: number) {
    if (!(Number.isInteger(ds) && ds >= 0)) throw new RangeError(`DS must be an integer >= 0, got ${ds}`);
    this.ds = ds;
    this.mirrors = new VectorClock(peers.length > 0 ? peers : ['(none)']);
    // With no peers nothing can hold a region back.
    if (peers.length === 0) this.mirrors.advance('(none)', Number.MAX_SAFE_INTEGER);
  }

  /** A mirror reported `clock` (older, reordered reports are ignored). */
  report(peer: string, clock: number): void {
    if (this.mirrors.advance(peer, clock)) this.changed.notify();
  }

  /** The slowest mirror's clock. */
  get slowest(): number {
    return this.mirrors.min();
  }

  /** True when a reader at `clock` is within DS of the slowest mirror. */
  allows(clock: number): boolean {
    return withinStaleness(clock, this.mirrors.min(), this.ds);
  }

  /** Resolves when a reader at `clock` may proceed. */
  wait(clock: number, signal?: AbortSignal): Promise<void> {
    return this.changed.wait(() => this.allows(clock), signal);
  }

  toJSON(): Record<string, number> {
    return this.mirrors.toJSON();
  }
}
