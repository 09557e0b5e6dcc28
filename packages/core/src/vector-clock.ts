/**
 * Progress clocks of a parameter server (as opposed to time, see `Clock`): one iteration count per
 * member — a worker inside a region, or a region among its mirrors. A member's clock is the number of
 * iterations it has completed. SSP(s) lets a member at clock `c` read only when the slowest member is at
 * least `c - s`; Gaia's mirror clock blocks a region more than `DS` clocks ahead of the slowest region.
 */
export class VectorClock {
  private readonly clocks = new Map<string, number>();
  private minCache: number | undefined;

  /** A clock for each of `members`, all at `initial`. */
  constructor(members: Iterable<string>, initial = 0) {
    for (const id of members) this.clocks.set(id, checkClock(initial));
    if (this.clocks.size === 0) throw new RangeError('a VectorClock needs at least one member');
  }

  /** Members, in the order given. */
  get members(): string[] {
    return [...this.clocks.keys()];
  }

  get size(): number {
    return this.clocks.size;
  }

  has(id: string): boolean {
    return this.clocks.has(id);
  }

  /** The clock of `id`; throws `RangeError` for an unknown member. */
  get(id: string): number {
    const c = this.clocks.get(id);
    if (c === undefined) throw new RangeError(`unknown clock member ${id}`);
    return c;
  }

  /**
   * Moves `id` to `clock`. Clocks only move forward: an older report (reordered on the wire) is ignored.
   * Returns true when the member's clock changed.
   */
  advance(id: string, clock: number): boolean {
    const current = this.get(id);
    if (checkClock(clock) <= current) return false;
    this.clocks.set(id, clock);
    this.minCache = undefined;
    return true;
  }

  /** Adds one to `id`'s clock and returns the new value. */
  tick(id: string): number {
    const next = this.get(id) + 1;
    this.advance(id, next);
    return next;
  }

  /** The slowest member's clock. */
  min(): number {
    if (this.minCache === undefined) {
      let m = Number.POSITIVE_INFINITY;
      for (const c of this.clocks.values()) if (c < m) m = c;
      this.minCache = m;
    }
    return this.minCache;
  }

  /** The fastest member's clock. */
  max(): number {
    let m = Number.NEGATIVE_INFINITY;
    for (const c of this.clocks.values()) if (c > m) m = c;
    return m;
  }

  /** How many clocks `clock` is ahead of the slowest member (0 when not ahead). */
  staleness(clock: number): number {
    return Math.max(0, clock - this.min());
  }

  /**
   * True when a member at `clock` may proceed under a staleness bound: the slowest member is at most
   * `bound` clocks behind (`bound` 0 = BSP; `Infinity` = fully asynchronous).
   */
  within(clock: number, bound: number): boolean {
    return withinStaleness(clock, this.min(), bound);
  }

  /** A plain copy, e.g. for a progress report. */
  toJSON(): Record<string, number> {
    return Object.fromEntries(this.clocks);
  }
}

/**
 * The staleness rule shared by SSP and the mirror clock: a reader at `clock` may proceed when the
 * slowest clock `min` is at least `clock - bound`.
 */
export function withinStaleness(clock: number, min: number, bound: number): boolean {
  if (!(bound >= 0)) throw new RangeError(`staleness bound must be >= 0, got ${bound}`);
  return clock - min <= bound;
}

function checkClock(clock: number): number {
  if (!Number.isInteger(clock) || clock < 0) {
    throw new RangeError(`a clock is a non-negative integer, got ${clock}`);
  }
  return clock;
}
