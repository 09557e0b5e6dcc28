import { createRng, tensor } from '@geoml/core';
import { describe, expect, it } from 'vitest';
import { labelReward, weightedCombine } from '../src/selection/combination.js';
import { EpsilonGreedyPolicy } from '../src/selection/epsilon-greedy.js';
import { Exp3Policy } from '../src/selection/exp3.js';
import { Exp4Policy } from '../src/selection/exp4.js';
import type { SelectionPolicy } from '../src/selection/policy.js';
import { Ucb1Policy } from '../src/selection/ucb1.js';

const ctx = (seed = 1) => ({ key: '_', rng: createRng(seed) });
const models = ['a', 'b', 'c'];

describe('Exp3Policy', () => {
  it('starts uniform and follows s_i ← s_i·exp(−η·L/p_i) on hand-computed rewards', () => {
    const policy = new Exp3Policy({ eta: 0.5, gamma: 0 });
    let state = policy.init(['a', 'b']);
    expect(policy.probabilities(state)).toEqual([0.5, 0.5]);
    // Model a chosen with p = 0.5, wrong (reward 0, loss 1): log s_a = −0.5·1/0.5 = −1.
    state = policy.observe(state, { rewards: { a: 0 }, probabilities: { a: 0.5, b: 0.5 } });
    expect(state.logWeights).toEqual([-1, 0]); // shifted so the largest log weight is 0
    const pa = Math.exp(-1) / (Math.exp(-1) + 1);
    expect(policy.probabilities(state)[0]).toBeCloseTo(pa, 12);
    // Model b right (reward 1): no loss, nothing moves.
    const same = policy.observe(state, { rewards: { b: 1 } });
    expect(policy.probabilities(same)[0]).toBeCloseTo(pa, 12);
    // Model b with reward 0.25 (loss 0.75) at the current p_b = 1 − pa: log s_b = −0.5·0.75/(1 − pa).
    const next = policy.observe(state, { rewards: { b: 0.25 } });
    const lb = -(0.5 * 0.75) / (1 - pa);
    expect(policy.probabilities(next)[0]).toBeCloseTo(Math.exp(-1) / (Math.exp(-1) + Math.exp(lb)), 12);
    expect(next.updates).toBe(2);
  });

  it('keeps γ/K exploration and samples by its probabilities, logging them', () => {
    const policy = new Exp3Policy({ eta: 10, gamma: 0.3 });
    let state = policy.init(models);
    for (let i = 0; i < 5; i++) state = policy.observe(state, { rewards: { b: 0, c: 0 } });
    const p = policy.probabilities(state);
    expect(p[1]).toBeCloseTo(0.1, 6);
    expect(p[2]).toBeCloseTo(0.1, 6);
    expect(p[0]).toBeCloseTo(0.8, 6);
    const rng = createRng(7);
    const counts: Record<string, number> = { a: 0, b: 0, c: 0 };
    for (let i = 0; i < 4000; i++) {
      const s = policy.select(state, { key: '_', rng });
      expect(s.models).toHaveLength(1);
      expect(s.probabilities.a).toBeCloseTo(0.8, 6);
      counts[s.models[0]!]! += 1;
    }
    expect(counts.a! / 4000).toBeGreaterThan(0.77);
    expect(counts.a! / 4000).toBeLessThan(0.83);
  });

  it('state is JSON: a round trip through the kv changes nothing', () => {
    const policy = new Exp3Policy();
    const state = policy.observe(policy.init(models), { rewards: { a: 0.2 } });
    expect(JSON.parse(JSON.stringify(state))).toEqual(state);
  });

  it('refuses parameters out of range', () => {
    expect(() => new Exp3Policy({ eta: 0 })).toThrow(/eta/);
    expect(() => new Exp3Policy({ gamma: 1.5 })).toThrow(/gamma/);
  });
});

describe('Exp4Policy', () => {
  it('asks every model and updates every expert weight w_i ← w_i·exp(−η·L_i)', () => {
    const policy = new Exp4Policy({ eta: 1 });
    let state = policy.init(['a', 'b']);
    const first = policy.select(state);
    expect(first.models).toEqual(['a', 'b']);
    expect(first.probabilities).toEqual({ a: 1, b: 1 });
    expect(first.weights).toEqual({ a: 0.5, b: 0.5 });
    state = policy.observe(state, { rewards: { a: 1, b: 0 } });
    const wa = 1 / (1 + Math.exp(-1));
    expect(policy.weights(state).a).toBeCloseTo(wa, 12);
    state = policy.observe(state, { rewards: { a: 0.5, b: 0.5 } });
    expect(policy.weights(state).a).toBeCloseTo(wa, 12); // equal losses: ratio unchanged
    state = policy.observe(state, { rewards: { a: 0 } });
    // a: −1 + ... : log ratio a/b = 1 − 1 = 0 → equal again.
    expect(policy.weights(state).a).toBeCloseTo(0.5, 12);
  });

  it('combines numbers by weighted average and labels by weighted vote', () => {
    const policy = new Exp4Policy({ eta: 1 });
    const state = policy.observe(policy.init(['a', 'b']), { rewards: { a: 1, b: 0 } });
    const sel = policy.select(state);
    const wa = sel.weights!.a!;
    const avg = policy.combine(
      state,
      new Map([
        ['a', 10],
        ['b', 20],
      ]),
      sel,
    );
    expect(avg.output).toBeCloseTo(10 * wa + 20 * (1 - wa), 10);
    expect(avg.missing).toEqual([]);
    const vote = policy.combine(
      state,
      new Map([
        ['a', 'cat'],
        ['b', 'dog'],
      ]),
      sel,
    );
    expect(vote.output).toBe('cat');
    expect(vote.confidence).toBeCloseTo(wa, 10);
  });
});

describe('weightedCombine', () => {
  it('averages tensors and score arrays; confidence is the agreeing weight over all chosen', () => {
    const t = (xs: number[]) => tensor('float32', [xs.length], Float32Array.from(xs));
    const out = weightedCombine(
      new Map([
        ['a', t([0.9, 0.1])],
        ['b', t([0.7, 0.3])],
        ['c', t([0.2, 0.8])],
      ]),
      { a: 1, b: 1, c: 2 },
      ['a', 'b', 'c', 'd'],
    );
    expect(out.missing).toEqual(['d']);
    const data = Array.from((out.output as { data: Float32Array }).data);
    expect(data[0]).toBeCloseTo((0.9 + 0.7 + 0.4) / 4, 6);
    // Average [0.5, 0.5]: argmax 0 (first on ties), a and b agree: weight 2 of 4 chosen... d has weight 0.
    expect(out.confidence).toBeCloseTo(2 / 4, 6);
    const arrays = weightedCombine(
      new Map([
        ['a', [1, 3]],
        ['b', [3, 1]],
      ]),
      { a: 1, b: 1 },
      ['a', 'b'],
    );
    expect(arrays.output).toEqual([2, 2]);
  });

  it('a straggler lowers confidence; nothing arrived gives no output', () => {
    const all = weightedCombine(
      new Map([
        ['a', 1],
        ['b', 1],
      ]),
      { a: 1, b: 1 },
      ['a', 'b'],
    );
    const one = weightedCombine(new Map([['a', 1]]), { a: 1, b: 1 }, ['a', 'b']);
    expect(all.confidence).toBe(1);
    expect(one.confidence).toBe(0.5);
    expect(one.missing).toEqual(['b']);
    const none = weightedCombine(new Map(), { a: 1 }, ['a']);
    expect(none).toEqual({ output: undefined, confidence: 0, missing: ['a'] });
  });

  it('labelReward: argmax of scores against a class label, else equality', () => {
    expect(labelReward([0.1, 0.9], 1)).toBe(1);
    expect(labelReward([0.1, 0.9], 0)).toBe(0);
    expect(labelReward('cat', 'cat')).toBe(1);
    expect(labelReward({ y: 1 }, { y: 2 })).toBe(0);
  });
});

describe('Ucb1Policy', () => {
  it('tries each unexplored model first, in order, then the best upper bound', () => {
    const policy = new Ucb1Policy();
    let state = policy.init(models);
    expect(policy.select(state).models).toEqual(['a']);
    state = policy.observe(state, { rewards: { a: 1 } });
    expect(policy.select(state).models).toEqual(['b']);
    state = policy.observe(state, { rewards: { b: 0 } });
    expect(policy.select(state)).toEqual({ models: ['c'], probabilities: { a: 0, b: 0, c: 1 } });
    state = policy.observe(state, { rewards: { c: 0.5 } });
    // n = 3, n_i = 1: bounds 1 + √(2 ln 3), 0 + …, 0.5 + … → a.
    const bonus = Math.sqrt(2 * Math.log(3));
    expect(policy.bounds(state)).toEqual([1 + bonus, bonus, 0.5 + bonus]);
    expect(policy.select(state).models).toEqual(['a']);
    // a twice more with reward 0: mean 1/3, bound 1/3 + √(2 ln 5 / 3) < c's 0.5 + √(2 ln 5).
    state = policy.observe(state, { rewards: { a: 0 } });
    state = policy.observe(state, { rewards: { a: 0 } });
    const b = policy.bounds(state);
    expect(b[0]).toBeCloseTo(1 / 3 + Math.sqrt((2 * Math.log(5)) / 3), 12);
    expect(b[2]).toBeCloseTo(0.5 + Math.sqrt(2 * Math.log(5)), 12);
    expect(policy.select(state).models).toEqual(['c']);
  });
});

describe('EpsilonGreedyPolicy', () => {
  it('exploits the best mean with probability 1 − ε + ε/K, logged per decision', () => {
    const policy = new EpsilonGreedyPolicy({ epsilon: 0.2 });
    let state = policy.init(models);
    state = policy.observe(state, { rewards: { a: 0.2 } });
    state = policy.observe(state, { rewards: { b: 0.9 } });
    state = policy.observe(state, { rewards: { c: 0.5 } });
    expect(policy.greedy(state)).toBe(1);
    const rng = createRng(42);
    const counts: Record<string, number> = { a: 0, b: 0, c: 0 };
    const n = 6000;
    for (let i = 0; i < n; i++) {
      const s = policy.select(state, { key: '_', rng });
      expect(s.probabilities).toEqual({ a: 0.2 / 3, b: 0.8 + 0.2 / 3, c: 0.2 / 3 });
      counts[s.models[0]!]! += 1;
    }
    expect(counts.b! / n).toBeCloseTo(0.8 + 0.2 / 3, 1);
    expect(counts.a! / n).toBeGreaterThan(0.045);
    expect(counts.a! / n).toBeLessThan(0.09);
    // Same seed, same choices.
    const again = policy.select(state, ctx(42));
    const first = policy.select(state, ctx(42));
    expect(again).toEqual(first);
  });

  it('tries models without feedback before exploiting', () => {
    const policy = new EpsilonGreedyPolicy({ epsilon: 0 });
    let state = policy.init(models);
    state = policy.observe(state, { rewards: { a: 1 } });
    expect(policy.select(state, ctx()).models).toEqual(['b']);
  });
});

/** Rewards of a synthetic task: model i answers right with probability accuracy[i]. */
function simulate(policy: SelectionPolicy, accuracy: Record<string, number>, rounds: number, seed: number) {
  const rng = createRng(seed);
  const names = Object.keys(accuracy);
  let state = policy.init(names);
  let reward = 0;
  const tail: Record<string, number> = {};
  for (let t = 0; t < rounds; t++) {
    const s = policy.select(state, { key: '_', rng });
    const m = s.models[0]!;
    const r = rng.next() < accuracy[m]! ? 1 : 0;
    reward += r;
    if (t >= rounds - 500) tail[m] = (tail[m] ?? 0) + 1;
    state = policy.observe(state, { rewards: { [m]: r }, probabilities: s.probabilities });
  }
  return { reward, tail };
}

describe('convergence on a synthetic task with known accuracies', () => {
  const accuracy = { weak: 0.55, fair: 0.7, good: 0.8, best: 0.92 };
  it('Exp3 ends up choosing the best model and beats uniform choice', () => {
    const { reward, tail } = simulate(new Exp3Policy(), accuracy, 3000, 3);
    expect((tail.best ?? 0) / 500).toBeGreaterThan(0.8);
    const uniform = 3000 * ((0.55 + 0.7 + 0.8 + 0.92) / 4);
    expect(reward).toBeGreaterThan(uniform + 0.6 * (3000 * 0.92 - uniform));
  });

  it('UCB1 and ε-greedy also settle on the best model', () => {
    expect((simulate(new Ucb1Policy(), accuracy, 3000, 4).tail.best ?? 0) / 500).toBeGreaterThan(0.8);
    expect((simulate(new EpsilonGreedyPolicy(), accuracy, 3000, 5).tail.best ?? 0) / 500).toBeGreaterThan(
      0.8,
    );
  });
});
