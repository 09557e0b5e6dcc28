import { VirtualClock } from '@geoml/core';
import { InProcessTransport, type KvStore } from '@geoml/transport';
import { describe, expect, it } from 'vitest';
import { Clipper } from '../src/clipper.js';
import { FunctionPredictor } from '../src/function-predictor.js';
import { SLO_EXPLANATION } from '../src/query.js';
import type { Exp4State } from '../src/selection/exp4.js';
import { SelectionStateStore } from '../src/selection/state-store.js';

/** A model answering `answer` after `ms` of virtual time. */
function model(clock: VirtualClock, ms: number, answer: unknown) {
  return FunctionPredictor.perItem(
    async () => {
      await clock.sleep(ms);
      return answer;
    },
    { clock },
  );
}

/** An ensemble application over models given as name → [latency ms, answer], SLO 20 ms. */
async function ensemble(
  clock: VirtualClock,
  models: Record<string, [number, unknown]>,
  selectionPolicy = 'exp4',
) {
  const clipper = new Clipper({ clock });
  for (const [name, [ms, answer]] of Object.entries(models)) {
    await clipper.deployModel(name, 1, [model(clock, ms, answer)]);
  }
  clipper.registerApplication({
    name: 'vote',
    inputType: 'json',
    latencySloMs: 20,
    defaultOutput: 'unknown',
    linkedModels: Object.keys(models),
    selectionPolicy,
  });
  return clipper;
}

describe('ensembles with stragglers', () => {
  it('combines at the deadline from what arrived, naming the straggler and lowering confidence', async () => {
    const clock = new VirtualClock();
    await clock.run(async () => {
      const clipper = await ensemble(clock, { a: [3, 'cat'], b: [4, 'cat'], slow: [80, 'cat'] });
      const start = clock.now();
      const late = await clipper.predict('vote', { x: 1 });
      expect(clock.now() - start).toBe(20);
      expect(late).toMatchObject({
        output: 'cat',
        default: false,
        models: ['a', 'b', 'slow'],
        missing: ['slow'],
        probabilities: { a: 1, b: 1, slow: 1 },
      });
      expect(late.confidence).toBeCloseTo(2 / 3, 12);
      expect(late.latencyMs).toBe(20);
      // The same ensemble when the slow model is not asked to run past the deadline: full agreement.
      const all = await (await ensemble(clock, { a: [3, 'cat'], b: [4, 'cat'], c: [5, 'cat'] })).predict(
        'vote',
        { x: 1 },
      );
      expect(all).toMatchObject({ missing: [], confidence: 1 });
      expect(all.latencyMs).toBe(5);
      await clipper.close();
    });
  });

  it('averages numeric outputs of the models that arrived', async () => {
    const clock = new VirtualClock();
    await clock.run(async () => {
      const clipper = await ensemble(clock, { a: [2, 1.0], b: [2, 1.05], slow: [50, 9] });
      const r = await clipper.predict<number>('vote', 0);
      expect(r.output).toBeCloseTo(1.025, 12);
      expect(r.missing).toEqual(['slow']);
      expect(r.confidence).toBeCloseTo(2 / 3, 12);
    });
  });

  it('no model in time: the default output, with an explanation naming every model', async () => {
    const clock = new VirtualClock();
    await clock.run(async () => {
      const clipper = await ensemble(clock, { a: [30, 'cat'], b: [40, 'dog'] });
      const r = await clipper.predict('vote', 1);
      expect(r).toMatchObject({ output: 'unknown', default: true, missing: ['a', 'b'], confidence: 0 });
      expect(r.defaultExplanation).toMatch(/none of the 2 ensemble models answered/);
      expect(r.defaultExplanation).toContain(`a: ${SLO_EXPLANATION}`);
      expect(r.latencyMs).toBe(20);
      // A single-model policy whose chosen model straggles gets Clipper's own SLO explanation.
      const single = await ensemble(clock, { only: [30, 'cat'] }, 'exp3');
      const s = await single.predict('vote', 1);
      expect(s).toMatchObject({ default: true, defaultExplanation: SLO_EXPLANATION, missing: ['only'] });
    });
  });

  it('label feedback moves Exp4 weights toward the models that were right, and the vote follows', async () => {
    const clock = new VirtualClock();
    await clock.run(async () => {
      const clipper = await ensemble(clock, { a: [2, 'cat'], b: [2, 'dog'], c: [2, 'dog'] });
      const first = await clipper.predict('vote', 'img-1', { uid: 'u1' });
      expect(first.output).toBe('dog');
      for (let i = 0; i < 3; i++) {
        const r = await clipper.predict('vote', `img-${i}`, { uid: 'u1' });
        await clipper.update('vote', { uid: 'u1', queryId: r.queryId, label: 'cat' });
      }
      const state = (await clipper.selection.state(clipper.getApplication('vote'), {
        uid: 'u1',
      })) as Exp4State;
      expect(state.updates).toBe(3);
      expect(state.logWeights[0]).toBeGreaterThan(state.logWeights[1]!);
      // η = 0.5, three losses for b and c: a's weight e^1.5 against 1 + 1 → a wins the vote for u1 only.
      expect((await clipper.predict('vote', 'img-9', { uid: 'u1' })).output).toBe('cat');
      expect((await clipper.predict('vote', 'img-9', { uid: 'u2' })).output).toBe('dog');
    });
  });

  it('a state store slower than half the SLO does not cost the query its deadline', async () => {
    const clock = new VirtualClock();
    await clock.run(async () => {
      const kv = await new InProcessTransport().kv('slow');
      const slow: KvStore = Object.assign(Object.create(kv) as KvStore, {
        get: async (key: string) => {
          await clock.sleep(500);
          return kv.get(key);
        },
      });
      const clipper = new Clipper({ clock, selection: { store: new SelectionStateStore(slow) } });
      await clipper.deployModel('a', 1, [model(clock, 3, 'cat')]);
      clipper.registerApplication({
        name: 'vote',
        inputType: 'json',
        latencySloMs: 20,
        linkedModels: ['a'],
        selectionPolicy: 'exp3',
      });
      const r = await clipper.predict('vote', 1);
      expect(r).toMatchObject({ output: 'cat', default: false, missing: [] });
      // Half the 20 ms for the state read, then the model's 3 ms.
      expect(r.latencyMs).toBe(13);
    });
  });
});
