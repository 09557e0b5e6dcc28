import { ConfigError } from '@geoml/core';
import { InProcessHub, NatsTransport, startNatsServer, type Transport } from '@geoml/transport';
import { describe, expect, it } from 'vitest';
import { Clipper } from '../src/clipper.js';
import { FunctionPredictor } from '../src/function-predictor.js';
import { Exp3Policy, type Exp3State } from '../src/selection/exp3.js';
import { SelectionStateStore } from '../src/selection/state-store.js';
import { ServingError } from '../src/serving-error.js';

/** A frontend: its own serving core with two models ('left' says "L", 'right' says "R"). */
async function frontend(transport: Transport, seed: number): Promise<Clipper> {
  const clipper = new Clipper({ selection: { transport, seed } });
  await clipper.deployModel('left', 1, [FunctionPredictor.perItem(() => 'L')]);
  await clipper.deployModel('right', 1, [FunctionPredictor.perItem(() => 'R')]);
  clipper.registerApplication({
    name: 'rec',
    inputType: 'json',
    latencySloMs: 5000,
    defaultOutput: '?',
    linkedModels: ['left', 'right'],
    selectionPolicy: 'exp3',
  });
  return clipper;
}

/** Two frontends on two connections to one transport deployment share per-user state. */
async function sharedStateScenario(a: Transport, b: Transport, reopen: () => Transport) {
  const one = await frontend(a, 1);
  const two = await frontend(b, 2);
  try {
    const app = one.getApplication('rec');
    // User 7 on frontend one: 'left' keeps being wrong.
    for (let i = 0; i < 4; i++) await one.update('rec', { uid: 7, model: 'left', label: 'R', output: 'L' });
    const seen = (await two.selection.state(app, { uid: 7 })) as Exp3State;
    expect(seen.updates).toBe(4);
    expect(seen.logWeights[0]).toBeLessThan(seen.logWeights[1]!);
    // Frontend two decides for user 7 from that state, and logs the probabilities it chose with.
    const result = await two.predict('rec', { q: 1 }, { uid: 7 });
    expect(result.context).toBe('uid:7');
    expect(result.probabilities!.left).toBeCloseTo(new Exp3Policy().probabilities(seen)[0]!, 12);
    expect(result.probabilities!.left).toBeLessThan(0.4);
    expect(result.probabilities!.left! + result.probabilities!.right!).toBeCloseTo(1, 12);
    expect(two.selection.decisions('rec').at(-1)).toMatchObject({
      queryId: result.queryId,
      context: 'uid:7',
    });
    // Another user is untouched.
    expect(((await two.selection.state(app, { uid: 8 })) as Exp3State).updates).toBe(0);
    // Concurrent feedback on both frontends: compare-and-set retries lose none of it.
    await Promise.all(
      Array.from({ length: 24 }, (_, i) =>
        (i % 2 ? one : two).update('rec', { uid: 9, model: i % 3 ? 'left' : 'right', reward: 0.5 }),
      ),
    );
    expect(((await one.selection.state(app, { uid: 9 })) as Exp3State).updates).toBe(24);
    // A restarted frontend finds everything.
    const three = await frontend(reopen(), 3);
    expect(((await three.selection.state(app, { uid: 7 })) as Exp3State).logWeights).toEqual(seen.logWeights);
    await three.close();
  } finally {
    await Promise.all([one.close(), two.close()]);
  }
}

describe('selection state shared by frontends', () => {
  it('two Clippers on one in-process hub share per-user state; concurrent updates are all kept', async () => {
    const hub = new InProcessHub();
    await sharedStateScenario(hub.connect('eu'), hub.connect('eu'), () => hub.connect('eu'));
  });

  it('two Clippers over a real nats-server (JetStream kv) share per-user state', async () => {
    const server = await startNatsServer({ jetstream: true });
    const opened: NatsTransport[] = [];
    const connect = async () => {
      const t = await NatsTransport.connect({ servers: server.url, region: 'eu', reconnect: false });
      opened.push(t);
      return t;
    };
    try {
      const a = await connect();
      const b = await connect();
      const c = await connect();
      await sharedStateScenario(a, b, () => c);
    } finally {
      await Promise.all(opened.map((t) => t.close()));
      await server.close();
    }
  }, 60_000);

  it('feedback on a logged query (by id or by input) rewards the model that answered it', async () => {
    const hub = new InProcessHub();
    const clipper = await frontend(hub.connect('eu'), 5);
    try {
      const app = clipper.getApplication('rec');
      const r = await clipper.predict<string>('rec', { q: 'x' }, { context: 'shop-1' });
      const answered = r.model!;
      expect(r.models).toEqual([answered]);
      const update = await clipper.update('rec', { context: 'shop-1', queryId: r.queryId, label: 'nope' });
      expect(update.selection!.rewards).toEqual({ [answered]: 0 });
      // By input alone, for the same context: joined to the same decision.
      const again = await clipper.update('rec', { context: 'shop-1', input: { q: 'x' }, reward: 1 });
      expect(again.selection!.rewards).toEqual({ [answered]: 1 });
      // Naming only the query (as a REST client sending { query_id, reward } would): the query's context.
      const byId = await clipper.update('rec', { query_id: r.queryId, reward: 1 });
      expect(byId.selection!.context).toBe('shop-1');
      const state = (await clipper.selection.state(app, { context: 'shop-1' })) as Exp3State;
      expect(state.updates).toBe(3);
      // An input never queried: every linked model is asked again and judged.
      const fresh = await clipper.update('rec', { context: 'shop-2', input: { q: 'y' }, label: 'R' });
      expect(fresh.selection!.rewards).toEqual({ left: 0, right: 1 });
    } finally {
      await clipper.close();
    }
  });

  it('refuses bad feedback and unknown policies with errors naming the problem', async () => {
    const hub = new InProcessHub();
    const clipper = await frontend(hub.connect('eu'), 5);
    try {
      const bad = (f: unknown) => {
        try {
          void clipper.update('rec', f);
        } catch (e) {
          expect(e).toBeInstanceOf(ServingError);
          expect((e as ServingError).code).toBe('INVALID_INPUT');
          return (e as Error).message;
        }
        throw new Error('accepted');
      };
      expect(bad({ model: 'left' })).toMatch(/exactly one of "label" and "reward"/);
      expect(bad({ model: 'left', reward: 2 })).toMatch(/reward/);
      expect(bad({ model: 'ghost', reward: 1 })).toMatch(/ghost is not linked/);
      expect(bad({ label: 1 })).toMatch(/must name the query/);
      expect(bad({ model: 'left', reward: 1, colour: 'red' })).toMatch(/colour/);
      await expect(clipper.update('rec', { queryId: 999, reward: 1 })).rejects.toThrow(/no logged query/);
      expect(() =>
        clipper.registerApplication({
          name: 'x',
          inputType: 'json',
          latencySloMs: 10,
          selectionPolicy: 'exp5',
        }),
      ).toThrow(ConfigError);
    } finally {
      await clipper.close();
    }
  });

  it('kv keys escape any user or context text into one safe token', () => {
    expect(SelectionStateStore.key('rec', 'uid:7')).toBe('rec.uid=3A7');
    expect(SelectionStateStore.key('a.b', 'x.y z')).toBe('a.b.x=2Ey=20z');
    expect(SelectionStateStore.key('a', '')).toBe('a._');
  });
});
