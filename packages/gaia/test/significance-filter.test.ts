import { describe, expect, it } from 'vitest';
import { SignificanceFilter } from '../src/significance-filter.js';

describe('SignificanceFilter', () => {
  it('ships entries whose accumulated change exceeds tau0/sqrt(t) relative to w, and resets them', () => {
    const f = new SignificanceFilter(3, { tau0: 0.01 });
    const w = Float32Array.from([1, 1, 1]);
    f.accumulate(Float32Array.from([0.02, 0.005, 0]));
    const out = f.take(w, 1);
    expect([...out.indices]).toEqual([0]);
    expect(out.values[0]).toBeCloseTo(0.02, 7);
    expect(f.accumulator[0]).toBe(0);
    expect(f.accumulator[1]).toBeCloseTo(0.005, 7); // kept, not lost
  });

  it('accumulates insignificant updates until together they are significant', () => {
    const f = new SignificanceFilter(1, { tau0: 0.01 });
    const w = Float32Array.from([10]);
    for (let k = 0; k < 2; k++) {
      f.accumulate({ indices: Uint32Array.from([0]), values: Float32Array.from([0.04]) });
      expect(f.take(w, 1).indices.length).toBe(0);
    }
    f.accumulate({ indices: Uint32Array.from([0]), values: Float32Array.from([0.04]) });
    const out = f.take(w, 1); // 0.12 / 10 = 1.2 % > 1 %
    expect([...out.indices]).toEqual([0]);
    expect(out.values[0]).toBeCloseTo(0.12, 6);
    expect(f.stats).toEqual({ accumulated: 3, shipped: 1 });
  });

  it('always ships a non-zero accumulation on a parameter whose value is 0, never a zero one', () => {
    const f = new SignificanceFilter(2, { tau0: 0.5 });
    f.accumulate(Float32Array.from([1e-9, 0]));
    const out = f.take(Float32Array.from([0, 0]), 1);
    expect([...out.indices]).toEqual([0]);
  });

  it('lowers the threshold as tau0/sqrt(t)', () => {
    const f = new SignificanceFilter(1, { tau0: 0.01 });
    expect(f.threshold(1)).toBeCloseTo(0.01, 12);
    expect(f.threshold(4)).toBeCloseTo(0.005, 12);
    expect(f.threshold(100)).toBeCloseTo(0.001, 12);
    const w = Float32Array.from([1]);
    f.accumulate(Float32Array.from([0.006]));
    expect(f.take(w, 1).indices.length).toBe(0); // 0.6 % < 1 %
    expect(f.take(w, 4).indices.length).toBe(1); // 0.6 % > 0.5 %
  });

  it('adds a controller raise on top of the schedule', () => {
    const f = new SignificanceFilter(1, { tau0: 0.01 });
    f.accumulate(Float32Array.from([0.015]));
    expect(f.take(Float32Array.from([1]), 1, 0.01).indices.length).toBe(0);
    expect(f.take(Float32Array.from([1]), 1, 0).indices.length).toBe(1);
  });

  it('int8 with error feedback: shipped plus residue always equals what was accumulated', () => {
    const n = 50;
    const f = new SignificanceFilter(n, { tau0: 0.001, encoding: 'int8' });
    const w = new Float32Array(n).fill(1);
    let seed = 7;
    const rand = () => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed / 2147483648 - 0.5;
    };
    const input = new Float64Array(n);
    const shipped = new Float64Array(n);
    for (let round = 1; round <= 20; round++) {
      const delta = new Float32Array(n);
      for (let i = 0; i < n; i++) delta[i] = rand() * 0.1 * (i % 5 === 0 ? 10 : 1);
      for (let i = 0; i < n; i++) input[i] = (input[i] as number) + (delta[i] as number);
      f.accumulate(delta);
      const out = f.take(w, round);
      expect(out.int8).toBeDefined();
      for (let j = 0; j < out.indices.length; j++) {
        expect(Math.abs(out.int8?.q[j] as number)).toBeLessThanOrEqual(127);
        expect(out.int8?.q[j]).not.toBe(0); // a code of 0 would ship nothing: the entry waits instead
        // the float values are exactly what the int8 codes and the scale decode to
        expect(out.values[j]).toBe(Math.fround((out.int8?.q[j] as number) * (out.int8?.scale as number)));
        const i = out.indices[j] as number;
        shipped[i] = (shipped[i] as number) + (out.values[j] as number);
      }
    }
    for (let i = 0; i < n; i++) {
      expect((shipped[i] as number) + (f.accumulator[i] as number)).toBeCloseTo(input[i] as number, 9);
    }
    expect(f.stats.shipped).toBeGreaterThan(0);
  });

  it('int8 chooses the layout for the entries that ship, not those that round to 0 and wait', () => {
    // 1 000 keys all significant, but only every tenth is large: the rest round to 0 next to them.
    const n = 1000;
    const f = new SignificanceFilter(n, { tau0: 0.001, encoding: 'int8' });
    const d = new Float32Array(n);
    for (let i = 0; i < n; i++) d[i] = i % 10 === 0 ? 1 : 0.002;
    f.accumulate(d);
    const out = f.take(new Float32Array(n).fill(1), 1);
    expect(out.indices.length).toBe(100);
    // 100 pairs (1-byte gaps + 1-byte codes) beat a 125-byte bitmap + 100 codes
    expect(out.layout).toBe('sparse');
    expect(f.accumulator[1]).toBeCloseTo(0.002, 7);
  });
});
