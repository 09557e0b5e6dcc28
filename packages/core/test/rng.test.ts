import { describe, expect, it } from 'vitest';
import { createRng } from '../src/index.js';

describe('createRng', () => {
  it('repeats its sequence for the same seed and differs for another', () => {
    const a = createRng(42);
    const b = createRng(42);
    const c = createRng(43);
    const xs = Array.from({ length: 5 }, () => a.next());
    expect(Array.from({ length: 5 }, () => b.next())).toEqual(xs);
    expect(Array.from({ length: 5 }, () => c.next())).not.toEqual(xs);
  });

  it('draws uniform values in [0, 1) with the right mean, and normals with mean 0 and variance 1', () => {
    const rng = createRng(7);
    let sum = 0;
    let sq = 0;
    let usum = 0;
    const n = 20_000;
    for (let i = 0; i < n; i++) {
      const u = rng.next();
      expect(u).toBeGreaterThanOrEqual(0);
      expect(u).toBeLessThan(1);
      usum += u;
      const z = rng.normal();
      sum += z;
      sq += z * z;
    }
    expect(usum / n).toBeCloseTo(0.5, 1);
    expect(sum / n).toBeCloseTo(0, 1);
    expect(sq / n).toBeCloseTo(1, 1);
  });

  it('forks independent streams that do not depend on later draws of the parent', () => {
    const a = createRng(1);
    const fa = a.fork('region-a').next();
    a.next();
    expect(createRng(1).fork('region-a').next()).toBe(fa);
    expect(createRng(1).fork('region-b').next()).not.toBe(fa);
  });

  it('shuffles to a permutation', () => {
    const items = Array.from({ length: 50 }, (_, i) => i);
    const shuffled = createRng(3).shuffle([...items]);
    expect(shuffled).not.toEqual(items);
    expect([...shuffled].sort((x, y) => x - y)).toEqual(items);
  });
});
