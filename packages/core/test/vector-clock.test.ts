import { describe, expect, it } from 'vitest';
import { VectorClock, withinStaleness } from '../src/vector-clock.js';

describe('VectorClock', () => {
  it('tracks min and max over members and only moves forward', () => {
    const vc = new VectorClock(['a', 'b', 'c']);
    expect(vc.min()).toBe(0);
    expect(vc.tick('a')).toBe(1);
    expect(vc.advance('b', 3)).toBe(true);
    expect(vc.min()).toBe(0);
    expect(vc.max()).toBe(3);
    vc.advance('c', 2);
    expect(vc.min()).toBe(1);
    // a late, older report is ignored
    expect(vc.advance('b', 2)).toBe(false);
    expect(vc.get('b')).toBe(3);
    expect(vc.toJSON()).toEqual({ a: 1, b: 3, c: 2 });
  });

  it('applies the SSP staleness bound: a reader at c proceeds when min >= c - s', () => {
    const vc = new VectorClock(['w0', 'w1']);
    vc.advance('w0', 3);
    expect(vc.staleness(3)).toBe(3);
    expect(vc.within(3, 0)).toBe(false); // BSP
    expect(vc.within(3, 2)).toBe(false);
    expect(vc.within(3, 3)).toBe(true);
    vc.advance('w1', 2);
    expect(vc.within(3, 1)).toBe(true);
    expect(vc.within(3, 0)).toBe(false);
    vc.advance('w1', 3);
    expect(vc.within(3, 0)).toBe(true);
    expect(vc.within(100, Number.POSITIVE_INFINITY)).toBe(true); // TAP
  });

  it('serves as a mirror clock: a region more than DS ahead of the slowest waits', () => {
    const mirrors = new VectorClock(['virginia', 'saopaulo']);
    mirrors.advance('virginia', 5);
    mirrors.advance('saopaulo', 3);
    expect(withinStaleness(5, mirrors.min(), 2)).toBe(true);
    expect(withinStaleness(6, mirrors.min(), 2)).toBe(false);
  });

  it('rejects unknown members, bad clocks and bad bounds', () => {
    const vc = new VectorClock(['a']);
    expect(() => vc.get('zz')).toThrow(RangeError);
    expect(() => vc.advance('a', -1)).toThrow(/non-negative integer/);
    expect(() => vc.advance('a', 1.5)).toThrow(RangeError);
    expect(() => vc.within(1, -1)).toThrow(/bound/);
    expect(() => new VectorClock([])).toThrow(RangeError);
  });
});
