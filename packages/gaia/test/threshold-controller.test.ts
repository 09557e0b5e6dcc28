import { createRng } from '@geoml/core';
import { describe, expect, it } from 'vitest';
import { SignificanceFilter } from '../src/significance-filter.js';
import { ThresholdController, type ThresholdRule } from '../src/threshold-controller.js';

/**
 * A mirror in virtual time: a significance filter fed 4 000 parameters whose relative change per clock
 * spans 1e-4..1e-1 (log-uniform), one clock per virtual millisecond, 5 bytes per shipped entry (a
 * varint index and a float32). `decay`: updates shrink as 1/√t (the paper's η/√t) or stay constant.
 * Returns the bytes each clock shipped over the budget, and the raise after each clock.
 */
function simulate(rule: ThresholdRule, budgetBytesPerClock: number, clocks: number, decay: boolean) {
  const n = 4000;
  const rng = createRng(7);
  const w = new Float32Array(n).fill(1);
  const rate = Float64Array.from({ length: n }, () => 10 ** (-4 + 3 * rng.next()));
  const filter = new SignificanceFilter(n, { tau0: 0.01 });
  // bytes per ms × 8 / 1000 = Mbit/s
  const c = new ThresholdController({ budgetMbps: (budgetBytesPerClock * 8) / 1000, rule });
  const load: number[] = [];
  const raise: number[] = [];
  for (let t = 1; t <= clocks; t++) {
    const scale = decay ? 1 / Math.sqrt(t) : 1;
    const d = new Float32Array(n);
    for (let i = 0; i < n; i++) d[i] = (rate[i] as number) * scale * (rng.next() < 0.5 ? -1 : 1.5);
    filter.accumulate(d);
    const bytes = filter.take(w, t, c.raise).indices.length * 5;
    c.observe([bytes], 1, t);
    load.push(bytes / budgetBytesPerClock);
    raise.push(c.raise);
  }
  return { load, raise };
}

/** First clock (1-based) whose 5-clock mean load is within 10 % over the budget or under it. */
function inBudgetAt(load: number[]): number {
  const mean = (i: number) => load.slice(i, i + 5).reduce((a, b) => a + b, 0) / 5;
  let i = 0;
  while (i + 5 <= load.length && mean(i) > 1.1) i++;
  return i + 1;
}
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
/** Budgets' worth shipped over the budget in clocks 2–30 (clock 1 ships before any control). */
const excess = (load: number[]) => load.slice(1, 30).reduce((n, x) => n + Math.max(0, x - 1), 0);

describe('ThresholdController, ratio rule (default)', () => {
  it('brings a link 12× over budget to the budget within 5 clocks and holds it while updates decay as 1/√t', () => {
    const { load } = simulate('ratio', 600, 300, true);
    expect(load[0]).toBeGreaterThan(10);
    expect(inBudgetAt(load)).toBeLessThanOrEqual(5);
    const held = mean(load.slice(10));
    expect(held).toBeGreaterThan(0.85);
    expect(held).toBeLessThan(1.15);
  });

  it('gets there in under half the clocks of the authors’ ±0.005 step, with a third of its excess', () => {
    const ratio = simulate('ratio', 600, 60, true).load;
    const step = simulate('step', 600, 60, true).load;
    expect(2 * inBudgetAt(ratio)).toBeLessThan(inBudgetAt(step));
    expect(3 * excess(ratio)).toBeLessThan(excess(step));
  });

  it('never goes below τ0/√t and lowers the raise to 0 once the budget is generous', () => {
    const c = new ThresholdController({ budgetMbps: 8, tau0: 0.01 }); // 1000 bytes per ms
    for (let t = 1; t <= 5; t++) c.observe([5000], 1, t);
    expect(c.raise).toBeGreaterThan(0.05);
    for (let t = 6; t <= 40; t++) c.observe([10], 1, t);
    expect(c.raise).toBe(0);
    expect(c.observe([0], 1, 41)).toBe(0);
  });

  it('caps the raise at maxRaise/√t, so the threshold stays within the schedule (τ0 + maxRaise)/√t', () => {
    // Updates that do not shrink need an ever larger share of the shrinking cap: the link then runs
    // over budget rather than leaving every replica a constant fraction off.
    const { load, raise } = simulate('ratio', 300, 400, false);
    raise.forEach((r, i) => {
      expect(r).toBeLessThanOrEqual(0.5 / Math.sqrt(i + 1) + 1e-12);
    });
    expect(load[399]).toBeGreaterThan(1.25);
    const c = new ThresholdController({ budgetMbps: 8, maxRaise: 0.2 });
    for (let t = 1; t <= 30; t++) c.observe([1e6], 1, 100);
    expect(c.raise).toBeCloseTo(0.02, 12); // 0.2 / √100
  });

  it('moves at most ×2 per clock, so one empty or bursty clock cannot swing the threshold', () => {
    const c = new ThresholdController({ budgetMbps: 8, tau0: 0.01 });
    c.observe([1e9], 1, 1);
    expect(c.raise).toBeCloseTo(0.01, 12); // threshold 0.01 → 0.02
    c.observe([1e9], 1, 1);
    expect(c.raise).toBeCloseTo(0.03, 12); // → 0.04
    c.observe([0], 1e12, 1);
    expect(c.raise).toBeCloseTo(0.01, 12); // → 0.02, not to the floor at once
  });
});

describe('ThresholdController, step rule (the authors’)', () => {
  it('raises by a fixed step over budget, holds inside the band, lowers under it, never below 0', () => {
    // 8 Mbit/s = 1000 bytes per ms
    const c = new ThresholdController({ budgetMbps: 8, step: 0.01, rule: 'step' });
    expect(c.observe([500, 2000], 1)).toBeCloseTo(0.01, 12); // the busiest link decides
    expect(c.observe([1050], 1)).toBeCloseTo(0.01, 12);
    expect(c.observe([100], 1)).toBeCloseTo(0, 12);
    expect(c.observe([100], 1)).toBe(0);
  });

  it('holds a constant cap whatever the clock, and needs maxRaise/step clocks to reach it', () => {
    const c = new ThresholdController({ budgetMbps: 8, rule: 'step' });
    let clocks = 0;
    while (c.raise < c.maxRaise) c.observe([1e6], 1, ++clocks);
    expect(clocks).toBe(100); // 0.5 / 0.005
    c.observe([1e6], 1, 10_000);
    expect(c.raise).toBe(0.5);
  });

  it('rejects a budget that is not positive and a gain outside (0, 1]', () => {
    expect(() => new ThresholdController({ budgetMbps: 0 })).toThrow(/budgetMbps/);
    expect(() => new ThresholdController({ budgetMbps: 1, gain: 2 })).toThrow(/gain/);
  });
});
