import { createRng } from '@geoml/core';
import { describe, expect, it } from 'vitest';
import { Clipper } from '../src/clipper.js';
import { FunctionPredictor } from '../src/function-predictor.js';

/** Whether model `m` answers query `q` right: seeded, so the accuracies are known and the run repeats. */
function oracle(accuracy: readonly number[], queries: number, seed: number): boolean[][] {
  const rng = createRng(seed);
  return accuracy.map((a) => Array.from({ length: queries }, () => rng.next() < a));
}

describe('Exp3 through the serving core', () => {
  it('learns from /update feedback to send a user to the most accurate model', async () => {
    const accuracy = [0.5, 0.65, 0.9];
    const rounds = 1200;
    const right = oracle(accuracy, rounds, 11);
    const clipper = new Clipper({ selection: { seed: 3 } });
    try {
      for (let m = 0; m < accuracy.length; m++) {
        // Input { q, y }: the model answers y when it is right on query q, else 1 − y.
        await clipper.deployModel(`m${m}`, 1, [
          FunctionPredictor.perItem(({ q, y }: { q: number; y: number }) => (right[m]![q] ? y : 1 - y)),
        ]);
      }
      clipper.registerApplication({
        name: 'pick',
        inputType: 'json',
        latencySloMs: 5000,
        linkedModels: ['m0', 'm1', 'm2'],
        selectionPolicy: 'exp3',
      });
      const chosen: string[] = [];
      for (let q = 0; q < rounds; q++) {
        const y = q % 2;
        const r = await clipper.predict<number>('pick', { q, y }, { uid: 'ada' });
        chosen.push(r.model!);
        await clipper.update('pick', { uid: 'ada', queryId: r.queryId, label: y });
      }
      const last = chosen.slice(-300);
      expect(last.filter((m) => m === 'm2').length / last.length).toBeGreaterThan(0.8);
      const first = chosen.slice(0, 15);
      expect(first.filter((m) => m === 'm2').length / first.length).toBeLessThan(0.6);
      // Every decision was logged with the probability its model was chosen with.
      const log = clipper.selection.decisions('pick');
      expect(log).toHaveLength(rounds);
      expect(log.at(-1)!.probabilities.m2).toBeGreaterThan(0.8);
    } finally {
      await clipper.close();
    }
  }, 60_000);
});
