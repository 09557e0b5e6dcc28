import { VectorClock } from '@geoml/core';

/**
 * A hub's clock for its group (the intra-group level of the authors' two clock levels): the slowest of
 * its own region clock and its members' clocks. A member's clock counts only once the data it shipped
 * before reporting it has arrived (the caller checks), so when the group clock reaches `g` the hub's
 * inter-group accumulator holds every significant update its group made up to clock `g`.
 */
export class GroupClock {
  private own = 0;
  private reached = 0;
  private readonly members: VectorClock | undefined;

  constructor(members: readonly string[]) {
    this.members = members.length > 0 ? new VectorClock(members) : undefined;
  }

  get clock(): number {
    return this.reached;
  }

  /** The hub's own region reached `t`; returns the group clocks newly reached, in order. */
  ownClock(t: number): number[] {
    this.own = Math.max(this.own, t);
    return this.advance();
  }

  /** Member `m`'s clock `t` is complete at the hub; returns the group clocks newly reached. */
  memberClock(m: string, t: number): number[] {
    this.members?.advance(m, t);
    return this.advance();
  }

  private advance(): number[] {
    const g = Math.min(this.own, this.members?.min() ?? Number.POSITIVE_INFINITY);
    const out: number[] = [];
    while (this.reached < g) out.push(++this.reached);
    return out;
  }
}
