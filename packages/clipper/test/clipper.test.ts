import { type Clock, ConfigError, type Predictor, VirtualClock } from '@geoml/core';
import { describe, expect, it } from 'vitest';
import { Clipper, type ClipperOptions } from '../src/clipper.js';
import { ContainerError } from '../src/errors.js';
import type { BatchEvent, DropEvent, PredictionEvent } from '../src/metrics.js';
import { NO_MODEL_EXPLANATION, SLO_EXPLANATION } from '../src/query.js';
import { ServingError } from '../src/serving-error.js';
import { SyntheticReplica } from './synthetic-replica.js';

/** A serving core on a virtual clock, and a way to run a scenario in virtual time. */
function virtualClipper(options: Omit<ClipperOptions, 'clock'> = {}) {
  const clock = new VirtualClock();
  const clipper = new Clipper({ ...options, clock });
  const run = <T>(main: () => Promise<T>) => clock.run(main);
  return { clock, clipper, run };
}

/** Numbers in, `x * factor` out, `a + b·n` ms per batch. */
function doubler(clock: VirtualClock, a = 2, b = 0.5, factor = 2) {
  return new SyntheticReplica<number, number>(clock, { a, b, answer: (x) => x * factor });
}

/** A replica whose container crashes on the listed batch numbers (0-based), as a dead worker would. */
class CrashingReplica implements Predictor<number, number> {
  calls = 0;
  constructor(
    private readonly inner: Predictor<number, number>,
    private readonly crashOn: ReadonlySet<number>,
  ) {}
  async predict(inputs: readonly number[]): Promise<number[]> {
    const call = this.calls++;
    if (this.crashOn.has(call))
      throw new ContainerError('CRASHED', `worker exited with code 134 (batch ${call})`);
    return this.inner.predict(inputs);
  }
}

describe('Clipper: applications, models and predictions', () => {
  it('answers a query with the linked model output, its version and latency', async () => {
    const { clock, clipper, run } = virtualClipper();
    const replica = doubler(clock, 3, 1);
    await run(async () => {
      clipper.registerApplication({ name: 'digits', inputType: 'json', latencySloMs: 50, defaultOutput: -1 });
      await clipper.deployModel('double', 1, [replica]);
      clipper.linkModel('digits', 'double');
      const result = await clipper.predict<number>('digits', 21);
      expect(result).toMatchObject({
        output: 42,
        default: false,
        model: 'double',
        version: '1',
        latencyMs: 4,
      });
      expect(result.defaultExplanation).toBeUndefined();
    });
  });

  it('refuses bad configuration with a ConfigError naming the field', async () => {
    const { clock, clipper } = virtualClipper();
    const fieldsOf = (fn: () => unknown) => {
      try {
        fn();
      } catch (e) {
        expect(e).toBeInstanceOf(ConfigError);
        return (e as ConfigError).fields;
      }
      throw new Error('no error');
    };
    expect(
      fieldsOf(() => clipper.registerApplication({ name: 'a', inputType: 'json', latencySloMs: -5 })),
    ).toEqual(['latencySloMs']);
    expect(
      fieldsOf(() => clipper.registerApplication({ name: 'a/b', inputType: 'json', latencySloMs: 5 })),
    ).toEqual(['name']);
    expect(
      fieldsOf(() => clipper.registerApplication({ name: 'a', inputType: 'xml' as 'json', latencySloMs: 5 })),
    ).toEqual(['inputType']);
    const deployFields = async (options: object) => {
      const error = await clipper.deployModel('m', '1', [doubler(clock)], options).catch((e) => e);
      expect(error).toBeInstanceOf(ConfigError);
      return (error as ConfigError).fields;
    };
    expect(await deployFields({ batching: { mode: 'aimd', maxBatchSize: 0 } })).toEqual([
      'batching.maxBatchSize',
    ]);
    expect(await deployFields({ batching: { mode: 'greedy' } })).toEqual(['batching.mode']);
    expect(await deployFields({ maxQueueLength: 1.5 })).toEqual(['maxQueueLength']);
    expect(await deployFields({ batching: { mode: 'delayed', maxDelayMs: -1 } })).toEqual([
      'batching.maxDelayMs',
    ]);
    const noReplicas = await clipper.deployModel('m', '1', []).catch((e) => e);
    expect((noReplicas as ConfigError).fields).toEqual(['replicas']);
    expect(() => new Clipper({ cache: { maxBytes: 0 } })).toThrow(/cache\.maxBytes/);
  });

  it('refuses unknown applications, models and versions, and input of the wrong kind', async () => {
    const { clock, clipper, run } = virtualClipper();
    await run(async () => {
      clipper.registerApplication({ name: 'app', inputType: 'tensor', latencySloMs: 10 });
      await expect(clipper.predict('nope', 1)).rejects.toMatchObject({ code: 'UNKNOWN_APPLICATION' });
      await expect(clipper.predict('app', [1, 2])).rejects.toMatchObject({
        code: 'INVALID_INPUT',
        message: expect.stringContaining('input must be a tensor'),
      });
      await expect(
        clipper.predict('app', { dtype: 'float32', shape: [3], data: new Float32Array(2) }),
      ).rejects.toThrow(ServingError);
      expect(() => clipper.linkModel('app', 'ghost')).toThrow(
        expect.objectContaining({ code: 'UNKNOWN_MODEL' }),
      );
      await clipper.deployModel('m', 'v1', [doubler(clock)], { inputType: 'json' });
      // A model taking JSON cannot serve an application sending tensors.
      expect(() => clipper.linkModel('app', 'm')).toThrow(ConfigError);
      expect(() => clipper.setServingVersion('m', 'v9')).toThrow(
        expect.objectContaining({ code: 'UNKNOWN_VERSION' }),
      );
      expect(clipper.getModelVersion('m')).toMatchObject({ version: 'v1', serving: true, ready: true });
      expect(clipper.getModelVersion('m', 'v9')).toBeUndefined();
      expect(clipper.getModelVersion('ghost')).toBeUndefined();
      await expect(clipper.deployModel('m', 'v1', [doubler(clock)])).rejects.toMatchObject({
        code: 'ALREADY_EXISTS',
      });
      await expect(
        clipper.predict(
          'app',
          { dtype: 'float32', shape: [1], data: new Float32Array(1) },
          { timeoutMs: -1 },
        ),
      ).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    });
  });

  it('answers the default output with an explanation when no model is linked', async () => {
    const { clipper, run } = virtualClipper();
    await run(async () => {
      clipper.registerApplication({
        name: 'empty',
        inputType: 'json',
        latencySloMs: 10,
        defaultOutput: 'unknown',
      });
      const result = await clipper.predict('empty', { a: 1 });
      expect(result).toMatchObject({
        output: 'unknown',
        default: true,
        defaultReason: 'no-model',
        defaultExplanation: NO_MODEL_EXPLANATION,
        latencyMs: 0,
      });
      expect(result.model).toBeUndefined();
    });
  });

  it('answers the default at the deadline when the model is too slow for the SLO', async () => {
    const { clock, clipper, run } = virtualClipper();
    await run(async () => {
      clipper.registerApplication({ name: 'app', inputType: 'json', latencySloMs: 20, defaultOutput: 0 });
      await clipper.deployModel('slow', '1', [doubler(clock, 50, 0)]);
      clipper.linkModel('app', 'slow');
      const result = await clipper.predict('app', 5);
      expect(result).toMatchObject({
        output: 0,
        default: true,
        defaultReason: 'slo',
        defaultExplanation: SLO_EXPLANATION,
        latencyMs: 20,
        model: 'slow',
        version: '1',
      });
      // A request may shorten the SLO, never extend it.
      expect((await clipper.predict('app', 6, { timeoutMs: 5 })).latencyMs).toBe(5);
      expect((await clipper.predict('app', 7, { timeoutMs: 500 })).latencyMs).toBe(20);
    });
  });
});

describe('Clipper: late answers', () => {
  it('an answer that arrives after the deadline, before a late-running SLO timer, is still an SLO miss', async () => {
    // A clock whose timers never fire on their own: what a congested event loop looks like to the core.
    let time = 0;
    const stalled: Clock = {
      now: () => time,
      sleep: (_ms, signal) =>
        new Promise((_, reject) => signal?.addEventListener('abort', () => reject(signal.reason))),
    };
    const clipper = new Clipper({ clock: stalled });
    clipper.registerApplication({ name: 'app', inputType: 'json', latencySloMs: 20, defaultOutput: 'late' });
    let delay = 25;
    await clipper.deployModel('m', '1', [
      {
        predict: async (xs: readonly unknown[]) => {
          time += delay;
          return xs.map(() => 'answer');
        },
      },
    ]);
    clipper.linkModel('app', 'm');
    expect(await clipper.predict('app', 1)).toMatchObject({
      output: 'late',
      default: true,
      defaultReason: 'slo',
      latencyMs: 25,
    });
    delay = 5;
    expect(await clipper.predict('app', 2)).toMatchObject({ output: 'answer', default: false, latencyMs: 5 });
    // The late answer was cached for the next identical query.
    expect(await clipper.predict('app', 1)).toMatchObject({ output: 'answer', cached: 'hit' });
  });
});

describe('Clipper: queues, admission and expiry', () => {
  it('drops queries that expire in the queue without executing them, answering the default', async () => {
    const drops: DropEvent[] = [];
    const { clock, clipper, run } = virtualClipper({ metrics: { drop: (e) => drops.push(e) } });
    const replica = doubler(clock, 10, 0);
    await run(async () => {
      clipper.registerApplication({ name: 'app', inputType: 'json', latencySloMs: 25, defaultOutput: null });
      await clipper.deployModel('m', '1', [replica], {
        batching: { mode: 'static', batchSize: 1 },
        cache: false,
      });
      clipper.linkModel('app', 'm');
      // One at a time, 10 ms each: q0 ends at 10, q1 at 20, q2 starts at 20 and misses 25; q3 and q4 expire queued.
      const results = await Promise.all([0, 1, 2, 3, 4].map((x) => clipper.predict('app', x)));
      expect(results.map((r) => r.default)).toEqual([false, false, true, true, true]);
      expect(results.slice(2).every((r) => r.latencyMs === 25 && r.output === null)).toBe(true);
      await clock.sleep(20); // let the replica finish q2 and form its next batch
      expect(replica.batches.map((b) => b.inputs)).toEqual([[0], [1], [2]]);
      expect(drops).toEqual([{ model: 'm', version: '1', reason: 'expired', count: 2 }]);
    });
  });

  it('bounds the queue: queries beyond it are answered at once', async () => {
    const { clock, clipper, run } = virtualClipper();
    await run(async () => {
      clipper.registerApplication({ name: 'app', inputType: 'json', latencySloMs: 100 });
      await clipper.deployModel('m', '1', [doubler(clock, 5, 0)], { maxQueueLength: 2, cache: false });
      clipper.linkModel('app', 'm');
      const results = await Promise.all([1, 2, 3, 4, 5].map((x) => clipper.predict('app', x)));
      expect(results.map((r) => r.default)).toEqual([false, false, true, true, true]);
      for (const r of results.slice(2)) {
        expect(r).toMatchObject({ defaultReason: 'queue-full', latencyMs: 0 });
        expect(r.defaultExplanation).toMatch(/^rejected at admission: queue full \(2 of 2 queries\)/);
      }
    });
  });

  it('admission control answers at once a query that cannot finish by its deadline', async () => {
    const { clock, clipper, run } = virtualClipper();
    const replica = doubler(clock, 10, 0);
    await run(async () => {
      clipper.registerApplication({ name: 'app', inputType: 'json', latencySloMs: 35 });
      await clipper.deployModel('m', '1', [replica], {
        batching: { mode: 'static', batchSize: 1 },
        cache: false,
      });
      clipper.linkModel('app', 'm');
      await clipper.predict('app', 0); // measures 10 ms per batch of one
      const results = await Promise.all(Array.from({ length: 10 }, (_, i) => clipper.predict('app', i + 1)));
      // (k + 1) · 10 ms, with the 8% slack batches also keep (÷ 0.92), fits 35 ms for k < 3: 3 admitted;
      // the other 7 are refused on arrival, not left to expire.
      expect(results.map((r) => r.default)).toEqual([
        false,
        false,
        false,
        true,
        true,
        true,
        true,
        true,
        true,
        true,
      ]);
      for (const r of results.slice(3)) {
        expect(r).toMatchObject({ defaultReason: 'admission', latencyMs: 0 });
        expect(r.defaultExplanation).toMatch(
          /^rejected at admission: predicted completion in 43\.5 ms with 3 queries ahead/,
        );
      }
      expect(replica.batches).toHaveLength(4);
    });
  });
});

describe('Clipper: batching', () => {
  it('delayed batching waits for a fuller batch, never longer than its bound', async () => {
    const { clock, clipper, run } = virtualClipper();
    const replica = doubler(clock, 1, 0.1);
    await run(async () => {
      clipper.registerApplication({ name: 'app', inputType: 'json', latencySloMs: 100 });
      await clipper.deployModel('m', '1', [replica], {
        batching: { mode: 'delayed', maxBatchSize: 8, maxDelayMs: 5 },
        cache: false,
      });
      clipper.linkModel('app', 'm');
      // Alone: waits the whole bound, then goes.
      const t0 = clock.now();
      await clipper.predict('app', 1);
      expect(replica.batches[0]).toMatchObject({ start: t0 + 5, inputs: [1] });
      // A full batch goes at once.
      const t1 = clock.now();
      await Promise.all([10, 11, 12, 13, 14, 15, 16, 17].map((x) => clipper.predict('app', x)));
      expect(replica.batches[1]).toMatchObject({ start: t1, inputs: [10, 11, 12, 13, 14, 15, 16, 17] });
      // Three now, five more 2 ms later: the batch fills at 2 ms and goes then.
      const t2 = clock.now();
      const early = [20, 21, 22].map((x) => clipper.predict('app', x));
      await clock.sleep(2);
      const late = [23, 24, 25, 26, 27].map((x) => clipper.predict('app', x));
      await Promise.all([...early, ...late]);
      expect(replica.batches[2]).toMatchObject({ start: t2 + 2 });
      expect(replica.batches[2]!.inputs).toHaveLength(8);
      // Three, then nothing: they go when the oldest has waited 5 ms.
      const t3 = clock.now();
      const few = [30, 31].map((x) => clipper.predict('app', x));
      await clock.sleep(3);
      await Promise.all([...few, clipper.predict('app', 32)]);
      expect(replica.batches[3]).toMatchObject({ start: t3 + 5, inputs: [30, 31, 32] });
    });
  });

  it('reports every batch and prediction to the metrics hooks', async () => {
    const batches: BatchEvent[] = [];
    const predictions: PredictionEvent[] = [];
    const { clock, clipper, run } = virtualClipper({
      metrics: {
        batch: (e) => batches.push(e),
        prediction: (e) => predictions.push(e),
        cache: () => {
          throw new Error('a broken sink must not break serving');
        },
      },
    });
    await run(async () => {
      clipper.registerApplication({ name: 'app', inputType: 'json', latencySloMs: 50 });
      await clipper.deployModel('m', '1', [doubler(clock, 2, 1)], {
        batching: { mode: 'static', batchSize: 4 },
      });
      clipper.linkModel('app', 'm');
      const results = await Promise.all([1, 2, 3].map((x) => clipper.predict('app', x)));
      expect(results.every((r) => !r.default)).toBe(true);
    });
    expect(batches).toEqual([
      {
        model: 'm',
        version: '1',
        replica: 0,
        size: 3,
        cap: 4,
        latencyMs: 5,
        budgetMs: (50 / 2) * 0.92,
        queueMs: [0, 0, 0],
        ok: true,
      },
    ]);
    expect(predictions).toHaveLength(3);
    expect(predictions[0]).toEqual({
      app: 'app',
      model: 'm',
      version: '1',
      latencyMs: 5,
      default: false,
      reason: undefined,
    });
  });
});

describe('Clipper: prediction cache', () => {
  it('runs 100 identical concurrent queries once and serves a repeat from the cache', async () => {
    const { clock, clipper, run } = virtualClipper();
    const replica = doubler(clock, 4, 0.5);
    await run(async () => {
      clipper.registerApplication({ name: 'app', inputType: 'json', latencySloMs: 50 });
      await clipper.deployModel('m', '1', [replica]);
      clipper.linkModel('app', 'm');
      const results = await Promise.all(Array.from({ length: 100 }, () => clipper.predict<number>('app', 7)));
      expect(results.every((r) => r.output === 14 && !r.default)).toBe(true);
      expect(results.filter((r) => r.cached === 'coalesced')).toHaveLength(99);
      expect(replica.batches.flatMap((b) => b.inputs)).toEqual([7]);
      const repeat = await clipper.predict('app', 7);
      expect(repeat).toMatchObject({ output: 14, cached: 'hit', latencyMs: 0 });
      expect(clipper.cacheStats()).toMatchObject({ misses: 1, coalesced: 99, hits: 1, pending: 0 });
    });
  });

  it('a cached query whose task expired does not hang later identical queries', async () => {
    const { clock, clipper, run } = virtualClipper();
    const replica = doubler(clock, 12, 0);
    await run(async () => {
      clipper.registerApplication({ name: 'app', inputType: 'json', latencySloMs: 10, defaultOutput: -1 });
      await clipper.deployModel('m', '1', [replica], { batching: { mode: 'static', batchSize: 1 } });
      clipper.linkModel('app', 'm');
      // 'b' occupies the replica for 12 ms; 'a' waits behind it and expires in the queue at 10 ms.
      const [b, a] = await Promise.all([clipper.predict('app', 100), clipper.predict('app', 1)]);
      expect(b).toMatchObject({ default: true, defaultReason: 'slo' });
      expect(a).toMatchObject({ default: true, output: -1 });
      await clock.sleep(5); // the replica frees at 12 ms and drops 'a' from the queue
      expect(clipper.cacheStats().pending).toBe(0);
      // The model speeds up; the same query now executes afresh instead of waiting on a dead entry.
      replica.a = 2;
      const again = await clipper.predict<number>('app', 1);
      expect(again).toMatchObject({ output: 2, default: false, latencyMs: 2 });
      expect(replica.batches.map((x) => x.inputs)).toEqual([[100], [1]]);
      // 'b' finished late (at 12 ms) and was cached then, as in Clipper: a repeat is a hit.
      expect(await clipper.predict('app', 100)).toMatchObject({ output: 200, cached: 'hit' });
    });
  });
  it('a query that joined an execution which expired retries alone while it still has time', async () => {
    const { clock, clipper, run } = virtualClipper();
    const replica = doubler(clock, 12, 0);
    await run(async () => {
      clipper.registerApplication({ name: 'app', inputType: 'json', latencySloMs: 50, defaultOutput: -1 });
      await clipper.deployModel('m', '1', [replica], { batching: { mode: 'static', batchSize: 1 } });
      clipper.linkModel('app', 'm');
      const busy = clipper.predict('app', 100); // holds the replica from 0 to 12 ms
      await clock.sleep(0.5);
      const impatient = clipper.predict('app', 1, { timeoutMs: 10 }); // queued, expires at 10.5 ms
      await clock.sleep(0.5);
      const patient = clipper.predict<number>('app', 1); // joins the impatient one's execution
      expect(await impatient).toMatchObject({ default: true, latencyMs: 10 });
      // At 12 ms the shared execution is dropped as expired; the patient query runs on its own, 12 to 24 ms.
      expect(await patient).toMatchObject({ output: 2, default: false, latencyMs: 23 });
      expect((await busy).output).toBe(200);
      expect(replica.batches.map((b) => b.inputs)).toEqual([[100], [1]]);
      expect(clipper.cacheStats()).toMatchObject({ misses: 3, coalesced: 1 });
    });
  });
});

describe('Clipper: replica failures', () => {
  it('retries a crashed batch once on another replica', async () => {
    const { clock, clipper, run } = virtualClipper();
    const healthy = doubler(clock, 2, 0.5);
    const crashing = new CrashingReplica(doubler(clock, 2, 0.5), new Set([0]));
    await run(async () => {
      clipper.registerApplication({ name: 'app', inputType: 'json', latencySloMs: 50 });
      await clipper.deployModel('m', '1', [crashing, healthy], {
        batching: { mode: 'static', batchSize: 4 },
      });
      clipper.linkModel('app', 'm');
      const results = await Promise.all([1, 2, 3, 4].map((x) => clipper.predict<number>('app', x)));
      expect(results.map((r) => r.output)).toEqual([2, 4, 6, 8]);
      expect(results.every((r) => !r.default)).toBe(true);
      expect(crashing.calls).toBe(1);
      expect(healthy.batches.map((b) => b.inputs)).toEqual([[1, 2, 3, 4]]);
      // The crashed replica (its worker respawned) serves again afterwards.
      const [x, y, z, w] = await Promise.all([5, 6, 7, 8].map((v) => clipper.predict<number>('app', v)));
      expect([x?.output, y?.output, z?.output, w?.output]).toEqual([10, 12, 14, 16]);
      expect(crashing.calls).toBe(2);
    });
  });

  it('answers the default, with the crash explained, when no retry is possible', async () => {
    const { clock, clipper, run } = virtualClipper();
    await run(async () => {
      clipper.registerApplication({
        name: 'one',
        inputType: 'json',
        latencySloMs: 50,
        defaultOutput: 'sorry',
      });
      await clipper.deployModel('solo', '1', [new CrashingReplica(doubler(clock), new Set([0]))]);
      clipper.linkModel('one', 'solo');
      const alone = await clipper.predict('one', 1);
      expect(alone).toMatchObject({ output: 'sorry', default: true, defaultReason: 'crashed', latencyMs: 0 });
      expect(alone.defaultExplanation).toMatch(
        /^replica 0 of model solo:1 crashed: worker exited.*no other replica/,
      );

      clipper.registerApplication({ name: 'two', inputType: 'json', latencySloMs: 50 });
      await clipper.deployModel('pair', '1', [
        new CrashingReplica(doubler(clock), new Set([0])),
        new CrashingReplica(doubler(clock), new Set([0])),
      ]);
      clipper.linkModel('two', 'pair');
      const twice = await clipper.predict('two', 1);
      expect(twice).toMatchObject({ default: true, defaultReason: 'crashed' });
      expect(twice.defaultExplanation).toMatch(/^replica 1 of model pair:1 crashed: .*\(on its one retry\)$/);
    });
  });

  it('isolates a bad input: its batch-mates still get answers', async () => {
    const { clock, clipper, run } = virtualClipper();
    const inner = doubler(clock, 2, 0.5);
    const strict: Predictor<number, number> = {
      predict: async (inputs) => {
        const bad = inputs.findIndex((x) => x < 0);
        if (bad >= 0)
          throw new ContainerError('BAD_INPUT', `input 'x' of query ${bad} is negative`, { input: 'x' });
        return inner.predict(inputs);
      },
    };
    await run(async () => {
      clipper.registerApplication({ name: 'app', inputType: 'json', latencySloMs: 50 });
      await clipper.deployModel('m', '1', [strict], { batching: { mode: 'static', batchSize: 8 } });
      clipper.linkModel('app', 'm');
      const results = await Promise.all([1, -1, 2].map((x) => clipper.predict('app', x)));
      expect(results.map((r) => r.output)).toEqual([2, null, 4]);
      expect(results[1]).toMatchObject({ default: true, defaultReason: 'bad-input' });
      expect(results[1]!.defaultExplanation).toContain('is negative');
    });
  });

  it('answers with the default when a model returns the wrong number of outputs', async () => {
    const { clipper, run } = virtualClipper();
    await run(async () => {
      clipper.registerApplication({ name: 'app', inputType: 'json', latencySloMs: 50 });
      await clipper.deployModel('m', '1', [{ predict: async () => [1] }], {
        batching: { mode: 'static', batchSize: 4 },
      });
      clipper.linkModel('app', 'm');
      const [r] = await Promise.all([clipper.predict('app', 1), clipper.predict('app', 2)]);
      expect(r).toMatchObject({ default: true, defaultReason: 'model-error' });
      expect(r!.defaultExplanation).toMatch(/returned 1 outputs for a batch of 2/);
    });
  });
});

describe('Clipper: versions, feedback and shutdown', () => {
  it('rolls back to an earlier version, whose cached outputs stay its own', async () => {
    const { clock, clipper, run } = virtualClipper();
    await run(async () => {
      clipper.registerApplication({ name: 'app', inputType: 'json', latencySloMs: 50 });
      await clipper.deployModel('m', '1', [doubler(clock, 1, 0, 10)]);
      clipper.linkModel('app', 'm');
      expect(await clipper.predict('app', 3)).toMatchObject({ output: 30, version: '1' });
      await clipper.deployModel('m', '2', [doubler(clock, 1, 0, 100)]);
      expect(await clipper.predict('app', 3)).toMatchObject({ output: 300, version: '2' });
      // Deployed dark: serving stays on 2.
      await clipper.deployModel('m', '3', [doubler(clock, 1, 0, 1000)], { activate: false });
      expect(await clipper.predict('app', 3)).toMatchObject({ output: 300, version: '2' });
      const info = clipper.setServingVersion('m', '1');
      expect(info.servingVersion).toBe('1');
      expect(info.versions.map((v) => [v.version, v.serving])).toEqual([
        ['1', true],
        ['2', false],
        ['3', false],
      ]);
      expect(await clipper.predict('app', 3)).toMatchObject({ output: 30, version: '1', cached: 'hit' });
      expect(await clipper.predict('app', 4)).toMatchObject({ output: 40, version: '1' });
      // The serving version cannot be undeployed by accident; another can.
      await expect(clipper.undeployModel('m', '1')).rejects.toMatchObject({ code: 'IN_USE' });
      await clipper.undeployModel('m', '2');
      expect(clipper.getModel('m').versions.map((v) => v.version)).toEqual(['1', '3']);
      expect(clipper.isReady('m')).toBe(true);
      expect(clipper.isReady('m', '2')).toBe(false);
    });
  });

  it('deploys replicas from a factory, all or none, with metadata shown per version', async () => {
    const { clock, clipper, run } = virtualClipper();
    await run(async () => {
      const made: SyntheticReplica<number, number>[] = [];
      const info = await clipper.deployModel(
        'm',
        '1',
        (i) => {
          const r = doubler(clock, 1, 0, 10 + i);
          made.push(r);
          return r;
        },
        { replicas: 3, metadata: { inputs: [{ name: 'x', datatype: 'FP32', shape: [-1] }] } },
      );
      expect(made).toHaveLength(3);
      expect(info).toMatchObject({ name: 'm', version: '1', serving: true, ready: true, cache: true });
      expect(info.replicas.map((r) => r.index)).toEqual([0, 1, 2]);
      expect(clipper.getModel('m').versions[0]!.metadata).toEqual({
        inputs: [{ name: 'x', datatype: 'FP32', shape: [-1] }],
      });
      // One replica failing to load fails the deploy and disposes the others; nothing is registered.
      const loaded: SyntheticReplica<number, number>[] = [];
      const failed = await clipper
        .deployModel(
          'm',
          '2',
          async (i) => {
            if (i === 1) throw new Error('model bytes corrupt');
            const r = doubler(clock);
            loaded.push(r);
            return r;
          },
          { replicas: 3 },
        )
        .catch((e: Error) => e);
      expect((failed as Error).message).toBe('model bytes corrupt');
      expect(loaded.every((r) => r.disposed)).toBe(true);
      expect(clipper.getModel('m').versions.map((v) => v.version)).toEqual(['1']);
    });
  });

  it('scales the replicas of a version up and down while serving', async () => {
    const { clock, clipper, run } = virtualClipper();
    const made: SyntheticReplica<number, number>[] = [];
    const factory = () => {
      const r = doubler(clock, 10, 0);
      made.push(r);
      return r;
    };
    await run(async () => {
      clipper.registerApplication({ name: 'app', inputType: 'json', latencySloMs: 100 });
      await clipper.deployModel('m', '1', factory, {
        batching: { mode: 'static', batchSize: 1 },
        cache: false,
      });
      clipper.linkModel('app', 'm');
      const up = await clipper.scaleModel('m', '1', 3);
      expect(up.replicas.map((r) => r.index)).toEqual([0, 1, 2]);
      // Three replicas pulling one at a time: six 10 ms queries take 20 ms, not 60.
      const t0 = clock.now();
      const results = await Promise.all([1, 2, 3, 4, 5, 6].map((x) => clipper.predict('app', x)));
      expect(results.every((r) => !r.default)).toBe(true);
      expect(clock.now() - t0).toBe(20);
      expect(made.map((r) => r.batches.length)).toEqual([2, 2, 2]);
      // Down to one while queries are queued: none is lost, the removed replicas are disposed.
      const queued = [7, 8, 9, 10].map((x) => clipper.predict<number>('app', x));
      await clock.sleep(1);
      const down = await clipper.scaleModel('m', '1', 1);
      expect(down.replicas).toHaveLength(1);
      expect((await Promise.all(queued)).map((r) => r.output)).toEqual([14, 16, 18, 20]);
      expect(made.filter((r) => r.disposed)).toHaveLength(2);
      await expect(clipper.scaleModel('m', '1', 0)).rejects.toMatchObject({ fields: ['replicas'] });
      // A version deployed with fixed predictors needs a factory to grow.
      await clipper.deployModel('fixed', '1', [doubler(clock)]);
      await expect(clipper.scaleModel('fixed', '1', 2)).rejects.toMatchObject({ fields: ['factory'] });
      expect((await clipper.scaleModel('fixed', '1', 2, () => doubler(clock))).replicas).toHaveLength(2);
    });
  });

  it('undeploying a version answers its queued queries with the default', async () => {
    const { clock, clipper, run } = virtualClipper();
    const old = doubler(clock, 10, 0);
    await run(async () => {
      clipper.registerApplication({
        name: 'app',
        inputType: 'json',
        latencySloMs: 100,
        defaultOutput: 'gone',
      });
      await clipper.deployModel('m', '1', [old], {
        batching: { mode: 'static', batchSize: 1 },
        cache: false,
      });
      clipper.linkModel('app', 'm');
      const queued = [1, 2, 3].map((x) => clipper.predict('app', x));
      await clock.sleep(1);
      await clipper.deployModel('m', '2', [doubler(clock, 1, 0)]);
      await clipper.undeployModel('m', '1');
      const results = await Promise.all(queued);
      expect(results[0]).toMatchObject({ output: 2, default: false, version: '1' });
      expect(results.slice(1)).toMatchObject([
        { output: 'gone', defaultReason: 'closed', defaultExplanation: 'model m:1 was undeployed' },
        { output: 'gone', defaultReason: 'closed' },
      ]);
      expect(old.disposed).toBe(true);
      expect(await clipper.predict('app', 5)).toMatchObject({ output: 10, version: '2' });
    });
  });

  it('serves a model version directly for the Open Inference Protocol', async () => {
    const { clock, clipper, run } = virtualClipper({ modelTimeoutMs: 30 });
    await run(async () => {
      await clipper.deployModel('m', '1', [doubler(clock, 1, 0, 10)]);
      await clipper.deployModel('m', '2', [doubler(clock, 1, 0, 100)]);
      expect(await clipper.predictModel('m', 2)).toMatchObject({ output: 200, version: '2', default: false });
      expect(await clipper.predictModel('m', 2, { version: '1' })).toMatchObject({
        output: 20,
        version: '1',
      });
      await expect(clipper.predictModel('m', 2, { version: '7' })).rejects.toMatchObject({
        code: 'UNKNOWN_VERSION',
      });
      await expect(clipper.predictModel('x', 2)).rejects.toMatchObject({ code: 'UNKNOWN_MODEL' });
      await clipper.deployModel('slow', '1', [doubler(clock, 100, 0)]);
      expect(await clipper.predictModel('slow', 1)).toMatchObject({
        output: null,
        default: true,
        latencyMs: 30,
      });
    });
  });

  it('stores feedback per application, bounded', async () => {
    const { clipper } = virtualClipper({ feedbackLimit: 2 });
    clipper.registerApplication({ name: 'app', inputType: 'json', latencySloMs: 50 });
    clipper.update('app', { uid: 1, input: [1], label: 0 });
    clipper.update('app', { uid: 2, input: [2], label: 1 });
    clipper.update('app', { uid: 3, input: [3], label: 1 });
    expect(clipper.feedback('app').map((f) => (f.feedback as { uid: number }).uid)).toEqual([2, 3]);
    expect(() => clipper.update('ghost', {})).toThrow(
      expect.objectContaining({ code: 'UNKNOWN_APPLICATION' }),
    );
  });

  it('close answers queued queries with the default, disposes replicas, and refuses new calls', async () => {
    const { clock, clipper, run } = virtualClipper();
    const replica = doubler(clock, 10, 0);
    await run(async () => {
      clipper.registerApplication({ name: 'app', inputType: 'json', latencySloMs: 100 });
      await clipper.deployModel('m', '1', [replica], {
        batching: { mode: 'static', batchSize: 1 },
        cache: false,
      });
      clipper.linkModel('app', 'm');
      const pending = [1, 2, 3].map((x) => clipper.predict('app', x));
      await clock.sleep(1);
      await clipper.close();
      const results = await Promise.all(pending);
      expect(results[0]).toMatchObject({ output: 2, default: false });
      expect(results.slice(1).map((r) => r.defaultReason)).toEqual(['closed', 'closed']);
      expect(replica.disposed).toBe(true);
      await expect(clipper.predict('app', 1)).rejects.toMatchObject({ code: 'CLOSED' });
      expect(clipper.isReady('m')).toBe(false);
    });
  });
});
