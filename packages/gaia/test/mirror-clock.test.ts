import { describe, expect, it } from 'vitest';
import { MirrorClock } from '../src/mirror-clock.js';
import { mayRead, stalenessBound } from '../src/sync-policy.js';

describe('MirrorClock', () => {
  it('blocks a region more than DS clocks ahead of the slowest mirror, and releases when it catches up', async () => {
    const m = new MirrorClock(['b', 'c'], 1);
    expect(m.allows(1)).toBe(true);
    expect(m.allows(2)).toBe(false);
    let released = false;
    const read = m.wait(3).then(() => {
      released = true;
    });
    m.report('b', 5);
    m.report('c', 1);
    await Promise.resolve();
    expect(released).toBe(false); // 3 - 1 > DS
    m.report('c', 2);
    await read;
    expect(released).toBe(true);
    expect(m.slowest).toBe(2);
  });

  it('DS = 0 waits for every mirror to reach the same clock; no peers never blocks', () => {
    const m = new MirrorClock(['b'], 0);
    m.report('b', 4);
    expect(m.allows(4)).toBe(true);
    expect(m.allows(5)).toBe(false);
    expect(new MirrorClock([], 0).allows(1000)).toBe(true);
    expect(() => new MirrorClock(['b'], -1)).toThrow(RangeError);
  });
});

describe('sync policies', () => {
  it('BSP, SSP(s) and TAP bound staleness by 0, s and nothing', () => {
    expect(stalenessBound({ kind: 'bsp' })).toBe(0);
    expect(mayRead({ kind: 'bsp' }, 3, 2)).toBe(false);
    expect(mayRead({ kind: 'bsp' }, 3, 3)).toBe(true);
    expect(mayRead({ kind: 'ssp', staleness: 2 }, 5, 3)).toBe(true);
    expect(mayRead({ kind: 'ssp', staleness: 2 }, 6, 3)).toBe(false);
    expect(mayRead({ kind: 'tap' }, 1000, 0)).toBe(true);
  });
});
