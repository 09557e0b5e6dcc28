import { describe, expect, it } from 'vitest';
import { GroupClock } from '../src/group-clock.js';
import { MirrorLink } from '../src/mirror-link.js';

describe('GroupClock', () => {
  it("is the slowest of the hub's clock and its members', reporting each clock reached once, in order", () => {
    const g = new GroupClock(['a', 'b']);
    expect(g.ownClock(3)).toEqual([]);
    expect(g.memberClock('a', 2)).toEqual([]);
    expect(g.memberClock('b', 5)).toEqual([1, 2]);
    expect(g.memberClock('a', 1)).toEqual([]); // an older report changes nothing
    expect(g.memberClock('a', 9)).toEqual([3]);
    expect(g.ownClock(6)).toEqual([4, 5]);
    expect(g.clock).toBe(5);
  });

  it('a hub alone in its group follows its own clock', () => {
    const g = new GroupClock([]);
    expect(g.ownClock(2)).toEqual([1, 2]);
  });
});

describe('MirrorLink', () => {
  it('runs what waits for data once that many messages have arrived, in order', () => {
    const l = new MirrorLink(100);
    const ran: string[] = [];
    l.afterReceived(0, () => ran.push('now'));
    l.afterReceived(2, () => ran.push('two'));
    l.afterReceived(2, () => ran.push('two again'));
    l.afterReceived(3, () => ran.push('three'));
    expect(ran).toEqual(['now']);
    l.accept(0, 0, () => {});
    expect(ran).toEqual(['now']);
    l.accept(1, 0, () => {});
    expect(ran).toEqual(['now', 'two', 'two again']);
    l.accept(2, 0, () => {});
    expect(ran).toEqual(['now', 'two', 'two again', 'three']);
  });

  it('numbers data messages sent, counts their bytes until acknowledged and when the last arrived', () => {
    const l = new MirrorLink(100);
    expect(l.sending(new Uint8Array(80), 0)).toBe(0);
    expect(l.sending(new Uint8Array(80), 1)).toBe(1);
    expect(l.backlog.unacknowledged).toBe(160);
    l.backlog.acknowledged(0, 50);
    expect(l.backlog.unacknowledged).toBe(80);
    expect(l.sinceTick).toBe(160);
    expect(l.lastArrivalAt).toBeNaN();
    l.accept(0, 7, () => {});
    expect(l.lastArrivalAt).toBe(7);
  });
});
