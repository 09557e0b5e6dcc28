import { VirtualClock } from '@geoml/core';
import { describe, expect, it } from 'vitest';
import { Clipper } from '../src/clipper.js';
import { DeadlineWatch } from '../src/deadline-watch.js';
import { SLO_EXPLANATION } from '../src/query.js';
import { SyntheticReplica } from './synthetic-replica.js';

/** An entry that records when it expired. */
function entry(clock: VirtualClock, deadline: number, log: [number, number][]) {
  const e = {
    deadline,
    settled: false,
    expire() {
      e.settled = true;
      log.push([deadline, clock.now()]);
    },
  };
  return e;
}

describe('DeadlineWatch', () => {
  it('expires each unsettled entry at its deadline, with one timer re-armed for the earliest', async () => {
    const clock = new VirtualClock();
    const watch = new DeadlineWatch(clock);
    const log: [number, number][] = [];
    await clock.run(async () => {
      const late = entry(clock, 30, log);
      const answered = entry(clock, 10, log);
      watch.add(late);
      watch.add(answered);
      // An earlier deadline added after a later one re-arms the timer for it.
      watch.add(entry(clock, 20, log));
      watch.add(entry(clock, 5, log));
      expect(clock.pendingTimers).toBe(1);
      answered.settled = true;
      await clock.sleep(40);
    });
    expect(log).toEqual([
      [5, 5],
      [20, 20],
      [30, 30],
    ]);
  });

  it('bounds a wait: the value if it comes first, undefined at the bound, a rejection passed on', async () => {
    const clock = new VirtualClock();
    const watch = new DeadlineWatch(clock);
    await clock.run(async () => {
      const fast = watch.within(
        clock.sleep(5).then(() => 'read'),
        10,
      );
      const slow = watch.within(
        clock.sleep(50).then(() => 'too late'),
        10,
      );
      const failed = expect(watch.within(Promise.reject(new Error('kv down')), 10)).rejects.toThrow(
        'kv down',
      );
      expect(await fast).toBe('read');
      expect(await slow).toBeUndefined();
      expect(clock.now()).toBe(10);
      await failed;
      // close answers what is still watched at once: a wait never outlives the watch.
      const pending = watch.within(new Promise<string>(() => undefined), 1000);
      watch.close();
      expect(await pending).toBeUndefined();
      expect(clock.now()).toBe(10);
    });
  });

  it('leaves no timer behind once every entry is past, and none after close, which expires the rest', async () => {
    const clock = new VirtualClock();
    const watch = new DeadlineWatch(clock);
    const log: [number, number][] = [];
    await clock.run(async () => {
      const a = entry(clock, 10, log);
      watch.add(a);
      a.settled = true;
      // The answered entry's timer fires once, finds nothing due, and stops.
      await clock.sleep(15);
      expect(clock.pendingTimers).toBe(0);
      watch.add(entry(clock, 50, log));
      expect(clock.pendingTimers).toBe(1);
      watch.close();
      expect(clock.pendingTimers).toBe(0);
      await clock.sleep(100);
    });
    // close expired the entry still watched, at once (time 15), not at its deadline.
    expect(log).toEqual([[50, 15]]);
  });

  it('drops answered entries as they accumulate, keeping the live ones', async () => {
    const clock = new VirtualClock();
    const watch = new DeadlineWatch(clock);
    const log: [number, number][] = [];
    await clock.run(async () => {
      for (let i = 0; i < 20_000; i++) {
        const e = entry(clock, 1000 + i, log);
        watch.add(e);
        if (i % 1000 !== 7) e.settled = true;
      }
      expect((watch as unknown as { heap: { size: number } }).heap.size).toBeLessThan(10_000);
      await clock.sleep(30_000);
    });
    expect(log.map(([d]) => d)).toEqual(Array.from({ length: 20 }, (_, k) => 1007 + 1000 * k));
  });
});

describe('Clipper deadlines through the watch', () => {
  it('answers each query at its own deadline, shorter deadlines after longer ones included', async () => {
    const clock = new VirtualClock();
    const clipper = new Clipper({ clock });
    // A model far slower than any deadline below.
    const slow = new SyntheticReplica<number, number>(clock, { a: 500, b: 0, answer: (x) => x });
    await clock.run(async () => {
      await clipper.deployModel('slow', 1, [slow], {
        cache: false,
        batching: { mode: 'static', batchSize: 8 },
      });
      clipper.registerApplication({
        name: 'app',
        inputType: 'json',
        latencySloMs: 100,
        defaultOutput: 'late',
        linkedModels: ['slow'],
      });
      const timeouts = [80, 40, 60, 10];
      const results = await Promise.all(
        timeouts.map((timeoutMs, i) => clipper.predict('app', i, { timeoutMs })),
      );
      expect(results.map((r) => [r.latencyMs, r.output, r.defaultExplanation])).toEqual(
        timeouts.map((t) => [t, 'late', SLO_EXPLANATION]),
      );
      await clipper.close();
    });
  });
});
